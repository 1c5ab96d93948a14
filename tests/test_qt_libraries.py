"""`make run`'s check of the system libraries Qt's xcb plugin links (easeml_gui/qt_libraries.py), on ldd's own
output: what Debian 12 without libxcb-icccm4 and libxcb-keysyms1 printed for PySide6's libqxcb.so."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from easeml_gui.qt_libraries import PACKAGES, advice, missing_libraries, uses_xcb, xcb_plugin

LDD_ON_A_FRESH_DESKTOP = """\
\tlinux-vdso.so.1 (0x00007f28570c4000)
\tlibQt6XcbQpa.so.6 => /v/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f2856ff6000)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f2856f13000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f2856f0c000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f28563f8000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-randr.so.0 => /lib/x86_64-linux-gnu/libxcb-randr.so.0 (0x00007f28563df000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f28570c6000)
"""


def test_the_libraries_ldd_cannot_find_are_named_once_with_one_install_line():
    assert missing_libraries(LDD_ON_A_FRESH_DESKTOP) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    said = advice(missing_libraries(LDD_ON_A_FRESH_DESKTOP))
    assert [line for line in said.splitlines() if "apt-get" in line] == [
        "  sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1"]
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in said


def test_a_library_without_a_known_package_is_named_as_such():
    said = advice(["libxcb-image.so.0", "libodd.so.3"])
    assert "sudo apt-get install -y libxcb-image0" in said and "provide libodd.so.3" in said
    assert "sudo apt-get" not in advice(["libodd.so.3"])  # no install line without a package to name


def test_nothing_missing_is_nothing_to_say():
    assert missing_libraries(LDD_ON_A_FRESH_DESKTOP.replace("not found", "/lib/x.so (0x1)")) == []


def test_only_a_window_on_an_x_display_is_checked():
    assert uses_xcb({"DISPLAY": ":0"}, "linux")
    assert uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")  # screenshots, tests
    assert not uses_xcb({}, "linux")  # no X display: Qt does not load xcb
    assert not uses_xcb({"DISPLAY": ":0"}, "darwin")


def test_every_x_and_gl_library_the_installed_plugin_links_has_its_package():
    plugin = xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    linked = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True).stdout
    windowing = {line.split()[0] for line in linked.splitlines()
                 if "=>" in line and re.match(r"\s*lib(xcb|X11|xkb|EGL|GL)", line)}
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"} <= windowing
    assert sorted(windowing - set(PACKAGES)) == []


def test_the_check_is_silent_where_qt_draws_offscreen():
    env = {**os.environ, "DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "easeml_gui.qt_libraries"], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
