"""The desktop menu entry: the .desktop launcher and the icon from the package easeml_gui.resources (the top-level
resources/), installed into the user's XDG data folders (freedesktop.org: applications/ and
icons/hicolor/scalable/apps/)."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from platformdirs.unix import Unix

APP_ID = "easeml-gui"


@dataclass(frozen=True)
class Installed:
    launcher: Path
    icon: Path


def data_home() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share: the XDG folder whatever the OS, as desktop menus read only that one."""
    return Path(Unix().user_data_dir)


def launch_command() -> str:
    """The installed `easeml-gui` script when it is on PATH, else this interpreter running the package (a
    checkout or a virtual environment that is not activated)."""
    script = shutil.which(APP_ID)
    words = [script] if script else [sys.executable, "-m", "easeml_gui"]
    return " ".join(map(_exec_quoted, words))


def _exec_quoted(word: str) -> str:
    """A word of a desktop entry's Exec line: double-quoted, with \\ " ` $ escaped, where the spec asks for it."""
    if not re.search(r"[\s\"'\\><~|&;$*?#()`%]", word):
        return word
    return '"' + re.sub(r'(["`$\\])', r"\\\1", word.replace("%", "%%")) + '"'


def install(home: Path | None = None) -> Installed:
    """Write the launcher (its Exec line pointing at this installation) and the icon; replaces earlier ones."""
    home = home or data_home()
    package = resources.files("easeml_gui.resources")
    launcher = home / "applications" / f"{APP_ID}.desktop"
    icon = home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    lines = [f"Exec={launch_command()}" if line.startswith("Exec=") else line
             for line in (package / f"{APP_ID}.desktop").read_text(encoding="utf-8").splitlines()]
    for path in (launcher, icon):
        path.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text("\n".join(lines) + "\n", encoding="utf-8")
    icon.write_bytes((package / f"{APP_ID}.svg").read_bytes())
    return Installed(launcher, icon)
