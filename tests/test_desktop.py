"""`easeml-gui install-desktop` writes the launcher and the icon into the XDG data folder."""

from __future__ import annotations

import subprocess
import sys


def test_install_desktop_into_xdg_data_home(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "share"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": ":".join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-m", "easeml_gui", "install-desktop"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    launcher = tmp_path / "share" / "applications" / "easeml-gui.desktop"
    icon = tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "easeml-gui.svg"
    assert str(launcher) in out.stdout and icon.read_text().lstrip().startswith("<")
    entry = launcher.read_text()
    assert "[Desktop Entry]" in entry and "Icon=easeml-gui" in entry
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith("-m easeml_gui") and sys.executable in exec_line  # easeml-gui is not on that PATH
