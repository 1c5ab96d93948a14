"""Does Qt's xcb platform plugin find every shared library it links? `make run` asks before it opens the window.

On a fresh desktop PySide6's wheel lacks nothing of its own, but its xcb plugin links system libraries a minimal
install leaves out (Debian 12: libxcb-icccm4 and libxcb-keysyms1), and Qt then names only the plugin it could not
load, not the library. `python -m easeml_gui.qt_libraries` asks the dynamic linker (`ldd` of the plugin) what it
cannot find and prints the one apt-get line that installs it, exiting 1; it is silent, exit 0, when all is there or
the xcb plugin is not what Qt will use (another QT_QPA_PLATFORM, no DISPLAY, not Linux). Standard library only:
it runs before Qt is imported.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

# What libqxcb.so links (ldd, PySide6 6.x) -> the Debian / Ubuntu package that ships it.
PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-util.so.1": "libxcb-util1", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1", "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6", "libXau.so.6": "libxau6", "libXdmcp.so.6": "libxdmcp6",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libGLX.so.0": "libglx0", "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6", "libpng16.so.16": "libpng16-16",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0", "libdbus-1.so.3": "libdbus-1-3",
    "libz.so.1": "zlib1g", "libzstd.so.1": "libzstd1", "libexpat.so.1": "libexpat1",
    "libbrotlidec.so.1": "libbrotli1", "libpcre2-8.so.0": "libpcre2-8-0",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)


def uses_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will open its windows through the xcb plugin: Linux with an X display and no other platform asked
    for (QT_QPA_PLATFORM=offscreen for screenshots and tests, wayland, ...)."""
    asked = env.get("QT_QPA_PLATFORM", "")
    return platform.startswith("linux") and bool(env.get("DISPLAY")) and (not asked or asked.startswith("xcb"))


def missing_libraries(ldd_output: str) -> list[str]:
    """The libraries `ldd` reports "not found", each once, in its order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def advice(missing: list[str]) -> str:
    """What to tell the user: the libraries, then one install line (sonames without a known package named as such)."""
    packages = list(dict.fromkeys(PACKAGES[name] for name in missing if name in PACKAGES))
    unknown = [name for name in missing if name not in PACKAGES]
    lines = [f"Qt cannot open a window here: its xcb platform plugin needs libraries this machine lacks "
             f"({', '.join(missing)}).",
             "Install them with:", f"  sudo apt-get install -y {' '.join(packages)}" if packages else ""]
    if unknown:
        lines.append(f"  and the packages that provide {', '.join(unknown)} (apt-file search NAME finds them)")
    return "\n".join(line for line in lines if line)


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so, found without importing Qt; None when PySide6 or its xcb plugin is not there."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def main() -> int:
    plugin = xcb_plugin()
    ldd = shutil.which("ldd")
    if not uses_xcb(os.environ) or plugin is None or ldd is None:
        return 0  # nothing to check, or nothing to check it with: Qt speaks for itself
    output = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, check=False).stdout
    missing = missing_libraries(output)
    if not missing:
        return 0
    print(advice(missing), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
