"""bench/optuna_tpe.py on a tiny synthetic matrix, 2 seeds: the table prints, the JSON holds every figure, and the
TPE baseline replays the engine's tenants deterministically."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "optuna_tpe.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("optuna_tpe_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_tpe_replay_is_deterministic_and_ends_at_zero_regret(bench):
    from easeml_gui.engine.matrix import synthetic

    quality, cost = synthetic(rows=14, arms=6, seed=3)
    quality.values[0, 1] = np.nan  # a failed run somewhere in the matrix
    one, stats = bench.tpe_once(quality, cost, 4, 0, 1)
    two, _ = bench.tpe_once(quality, cost, 4, 0, 1)
    assert one.regret.times == two.regret.times and one.regret.values == two.regret.values
    assert one.regret.current == 0.0  # every tenant eventually runs its best arm
    assert stats.tasks <= 4 * 6 and stats.asks >= stats.tasks - stats.fallbacks


def test_bench_prints_the_table_and_writes_json(bench, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert bench.main(["--matrices", "synthetic:rows=14,arms=6,seed=3,spread=10", "--seeds", "2", "--tenants", "4",
                       "--workers", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "optuna-tpe-rr" in printed and "speed-up of default against optuna-tpe-rr" in printed
    data = json.loads(out.read_text())
    (entry,) = data["matrices"]
    policies = {r["policy"] for r in entry["results"]}
    assert policies == {"round-robin", "random", "optuna-tpe-rr", "default"}
    assert len(entry["speedup_default_vs_tpe"]) == 5
