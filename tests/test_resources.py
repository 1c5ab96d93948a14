"""The top-level resources/ ships as the package easeml_gui.resources: the installed package finds each file, a
built wheel holds them, and pyproject's explicit package list misses no package on disk."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ("easeml-gui.desktop", "easeml-gui.svg", "style.qss")


def test_installed_package_finds_each_resource(tmp_path):
    # -I and another folder: the installation answers, not the checkout on sys.path.
    code = ("from importlib import resources; import sys\n"
            "for name in sys.argv[1:]: print(len((resources.files('easeml_gui.resources') / name).read_bytes()))")
    out = subprocess.run([sys.executable, "-I", "-c", code, *RESOURCES], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert all(int(size) > 0 for size in out.stdout.split()) and len(out.stdout.split()) == len(RESOURCES)


def test_built_wheel_holds_the_resources(tmp_path):
    # Built from a copy so that setuptools' build/ folder never lands in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for name in ("easeml_gui", "resources"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    [wheel] = (tmp_path / "dist").glob("easeml_gui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"easeml_gui/resources/{name}" for name in RESOURCES} <= names


def test_every_package_on_disk_is_listed():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "easeml_gui").rglob("__init__.py")}
    assert on_disk | {"easeml_gui.resources"} == listed
