"""Layering, checked at run time too: what a headless command or the engine really loads."""

import subprocess
import sys

HEAVY = ("torch", "PySide6", "pyqtgraph", "paramiko", "sqlite3")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


def test_engine_loads_no_qt_torch_paramiko_or_sqlite():
    modules = "acquisition gp matrix metrics policies ports prior scheduler selection simulate types"
    assert loaded_after("\n".join(f"import easeml_gui.engine.{m}" for m in modules.split())) == set()


def test_a_headless_simulation_never_loads_qt_or_torch(tmp_path):
    code = (
        "from easeml_gui.cli import main\n"
        f"main(['simulate', '--matrix', 'synthetic:rows=8,arms=4', '--tenants', '3', '--seeds', '1', '--plot', r'{tmp_path / 'p.png'}'])"
    )
    assert loaded_after(code) & {"torch", "PySide6", "pyqtgraph"} == set()
