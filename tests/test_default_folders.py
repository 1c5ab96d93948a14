"""The default store and the desktop menu's folder come from platformdirs; on Linux they stay where they always were,
so existing stores are still found."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from easeml_gui.cli import default_db
from easeml_gui.lab.desktop import data_home

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG layout is Linux's")


@pytest.mark.parametrize("xdg", [None, ""])
def test_default_db_without_xdg_is_under_local_share(tmp_path, monkeypatch, xdg):
    monkeypatch.delenv("EASEML_DB", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    assert default_db() == tmp_path / ".local" / "share" / "easeml-gui" / "easeml.sqlite"
    assert data_home() == tmp_path / ".local" / "share"


def test_default_db_follows_xdg_data_home_and_easeml_db_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("EASEML_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db() == tmp_path / "data" / "easeml-gui" / "easeml.sqlite"
    assert data_home() == tmp_path / "data"
    monkeypatch.setenv("EASEML_DB", str(tmp_path / "lab.sqlite"))
    assert default_db() == tmp_path / "lab.sqlite"


def test_the_command_line_writes_the_default_store_where_it_always_did(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("EASEML_DB", "XDG_DATA_HOME")}
    env["HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "easeml_gui", "tenant", "add", "alice"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / ".local" / "share" / "easeml-gui" / "easeml.sqlite").is_file()
