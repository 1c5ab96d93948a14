"""`easeml-gui simulate` and `synth` end to end, in real subprocesses, including every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from easeml_gui.engine.matrix import synthetic, write_matrix


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "easeml_gui", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def matrices(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("matrices")
    quality, cost = synthetic(rows=16, arms=8, seed=2)
    write_matrix(quality, folder / "q.csv")
    write_matrix(cost, folder / "c.csv")
    return folder / "q.csv", folder / "c.csv"


def test_simulate_prints_a_table_and_writes_json_and_plot(matrices, tmp_path):
    q, c = matrices
    out = cli("simulate", "--matrix", str(q), "--cost", str(c), "--tenants", "6", "--seeds", "3",
              "--policies", "round-robin,random,fifo,default", "--json", str(tmp_path / "r.json"),
              "--plot", str(tmp_path / "r.png"))
    assert out.returncode == 0, out.stderr
    assert "median time (seconds)" in out.stdout and "speed-up against round-robin" in out.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data) == {"matrix", "tenants", "devices", "seeds", "results", "cumulative_regret"}
    assert data["tenants"] == 6 and data["devices"] == 1 and data["seeds"] == 3
    assert {r["policy"] for r in data["results"]} == {"round-robin", "random", "fifo", "default"}
    assert len(data["results"]) == 4 * 5
    for r in data["results"]:
        assert set(r) == {"policy", "target", "median_time", "reached", "device_seconds"}
        assert r["device_seconds"] == r["median_time"]  # one device, always busy
        assert 0 <= r["reached"] <= 3
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_json_in_fresh_processes(matrices, tmp_path):
    q, _ = matrices
    runs = []
    for name in ("a.json", "b.json"):
        out = cli("simulate", "--matrix", str(q), "--tenants", "5", "--seeds", "2", "--devices", "2",
                  "--policies", "random,default", "--json", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        runs.append((tmp_path / name).read_text())
    assert runs[0] == runs[1]


def test_synthetic_spec_and_synth_command(tmp_path):
    out = cli("simulate", "--matrix", "synthetic:rows=12,arms=6,seed=4", "--tenants", "4", "--seeds", "2", "--policies", "default")
    assert out.returncode == 0, out.stderr
    assert "synthetic:rows=12,arms=6,seed=4" in out.stdout
    out = cli("synth", "--rows", "5", "--arms", "3", "--out", str(tmp_path / "q.csv"), "--cost-out", str(tmp_path / "c.csv"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "q.csv").read_text().startswith("dataset,arm000,arm001,arm002\n")


BAD_MATRICES = {
    "ragged": ("dataset,a,b\nd1,0.5,0.6\nd2,0.5\nd3,0.1,0.2\n", "line 3: 2 cells but the header has 3"),
    "non-numeric": ("dataset,a,b\nd1,0.5,high\nd2,0.5,0.4\n", "'high' is not a number"),
    "one row": ("dataset,a,b\nd1,0.5,0.6\n", "a matrix needs at least 2 datasets"),
    "out of range": ("dataset,a,b\nd1,0.5,87\nd2,0.5,0.4\n", "quality 87.0 is outside [0, 1]"),
    "empty": ("", "the file is empty"),
    "all failed": ("dataset,a,b\nd1,,\nd2,0.5,0.4\n", "every run of dataset 'd1' failed"),
}


@pytest.mark.parametrize("case", sorted(BAD_MATRICES))
def test_bad_matrix_gives_a_clear_message_and_exit_1(case, tmp_path):
    text, message = BAD_MATRICES[case]
    path = tmp_path / "m.csv"
    path.write_text(text)
    out = cli("simulate", "--matrix", str(path), "--tenants", "1", "--seeds", "1")
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_cost_matrix_of_another_shape_is_refused(matrices, tmp_path):
    q, _ = matrices
    other = tmp_path / "c.csv"
    other.write_text("dataset,a\nd1,3\nd2,4\n")
    out = cli("simulate", "--matrix", str(q), "--cost", str(other), "--seeds", "1")
    assert out.returncode == 1 and "must cover the same datasets and arms" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--policies", "round-robin,telepathy"], "unknown policy 'telepathy'; known policies: round-robin"),
        (["--targets", "0.05,abc"], "expected numbers separated by commas"),
        (["--tenants", "0"], "must be at least 1"),
        (["--tenants", "16"], "tenants must be between 1 and 15"),
    ],
)
def test_bad_options_are_explained(matrices, args, message):
    q, _ = matrices
    out = cli("simulate", "--matrix", str(q), "--seeds", "1", *args)
    assert out.returncode in (1, 2)
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_file_is_explained(tmp_path):
    out = cli("simulate", "--matrix", str(tmp_path / "nope.csv"))
    assert out.returncode == 1 and "no such file" in out.stderr
