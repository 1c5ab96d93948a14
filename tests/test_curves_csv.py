"""`simulate --curves`: the long CSV read with clear refusals, the matrices it yields, the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_runner import run_cli  # noqa: F401  (a fixture)
from easeml_gui.engine.curves import MAX_BYTES, CurvesError, read_curves

TINY = """dataset,arm,budget,quality,seconds
d1,cnn,1,0.50,2
d1,cnn,2,0.70,2
d1,cnn,3,0.90,2
d1,svc,1,0.60,0.5
d2,svc,1,0.80,0.5
d2,cnn,1,0.40,3
d2,cnn,2,0.60,3
d2,cnn,3,0.70,3
d3,cnn,1,0.55,2
d3,cnn,2,0.75,2
d3,cnn,3,0.95,2
"""


def write(tmp_path, text: str, name: str = "curves.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_curves_give_the_full_budget_matrices(tmp_path):
    curves = read_curves(write(tmp_path, TINY))
    assert curves.datasets == ("d1", "d2", "d3") and curves.arms == ("cnn", "svc")
    quality, cost = curves.matrices()
    np.testing.assert_allclose(quality.values, [[0.90, 0.60], [0.70, 0.80], [0.95, np.nan]])
    np.testing.assert_allclose(cost.values, [[6.0, 0.5], [9.0, 0.5], [6.0, 0.0]])  # d3 has no svc: failed, free
    assert curves.curve(0, 0).fraction(1) == pytest.approx(1 / 3)


def test_columns_in_another_order_and_extra_columns_are_read(tmp_path):
    text = "seconds,quality,note,budget,arm,dataset\n1,0.5,x,1,a,d1\n2,0.7,y,2,a,d1\n1,0.6,,1,a,d2\n"
    curves = read_curves(write(tmp_path, text))
    assert curves.curve(0, 0).quality.tolist() == [0.5, 0.7] and curves.curve(0, 0).seconds.tolist() == [1, 2]


BAD = {
    "missing column": ("dataset,arm,budget,quality\nd1,a,1,0.5\n", "lacks column(s) seconds"),
    "budget down": ("dataset,arm,budget,quality,seconds\nd1,a,2,0.5,1\nd1,a,1,0.6,1\nd2,a,1,0.5,1\n",
                    "line 3: budget 1 of arm 'a' on dataset 'd1' does not increase"),
    "budget repeated": ("dataset,arm,budget,quality,seconds\nd1,a,1,0.5,1\nd1,a,1,0.6,1\nd2,a,1,0.5,1\n",
                        "does not increase"),
    "budget fraction": ("dataset,arm,budget,quality,seconds\nd1,a,1.5,0.5,1\nd2,a,1,0.5,1\n",
                        "budget '1.5' must be a whole number"),
    "negative seconds": ("dataset,arm,budget,quality,seconds\nd1,a,1,0.5,-3\nd2,a,1,0.5,1\n",
                         "line 2: seconds -3 is negative"),
    "quality as percent": ("dataset,arm,budget,quality,seconds\nd1,a,1,87,1\nd2,a,1,0.5,1\n",
                           "quality 87 is outside [0, 1]"),
    "not a number": ("dataset,arm,budget,quality,seconds\nd1,a,1,high,1\nd2,a,1,0.5,1\n",
                     "quality 'high' is not a number"),
    "nan": ("dataset,arm,budget,quality,seconds\nd1,a,1,nan,1\nd2,a,1,0.5,1\n", "not a finite number"),
    "empty cell": ("dataset,arm,budget,quality,seconds\nd1,a,1,,1\nd2,a,1,0.5,1\n", "no value for quality"),
    "one dataset": ("dataset,arm,budget,quality,seconds\nd1,a,1,0.5,1\n", "needs at least 2"),
    "empty": ("", "the file is empty"),
    "free run": ("dataset,arm,budget,quality,seconds\nd1,a,1,0.5,0\nd2,a,1,0.5,1\n", "costs 0 seconds in all"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_curves_are_refused_in_words(tmp_path, case):
    text, message = BAD[case]
    with pytest.raises(CurvesError) as error:
        read_curves(write(tmp_path, text))
    assert message in str(error.value)


def test_a_file_over_the_bound_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: nothing to write
    with pytest.raises(CurvesError, match="more than the 64 MiB"):
        read_curves(path)


def test_a_fifo_is_not_waited_on(tmp_path):
    import os

    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    with pytest.raises(CurvesError, match="no such file"):
        read_curves(path)


def test_simulate_curves_prints_and_writes_device_seconds(run_cli, tmp_path):
    path = write(tmp_path, TINY)
    out = run_cli("simulate", "--curves", path, "--tenants", "2", "--seeds", "2", "--devices", "2",
                  "--policies", "default-full-budget,early-stopping,asha-pooled", "--json", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    assert "median time (seconds)" in out.stdout and "median device seconds" in out.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert {r["policy"] for r in data["results"]} == {"default-full-budget", "early-stopping", "asha-pooled"}
    for r in data["results"]:
        if r["median_time"] is not None:
            assert r["device_seconds"] >= r["median_time"] - 1e-9  # two devices: never less busy time than time


@pytest.mark.parametrize("args,message", [
    (["--cost", "c.csv"], "--cost goes with --matrix"),
    (["--policies", "telepathy"], "unknown policy 'telepathy'"),
])
def test_simulate_curves_usage_errors(run_cli, tmp_path, args, message):
    out = run_cli("simulate", "--curves", write(tmp_path, TINY), "--seeds", "1", "--tenants", "1", *args)
    assert out.returncode == 2 and message in out.stderr


def test_simulate_curves_bad_file_exit_1_with_the_line(run_cli, tmp_path):
    path = write(tmp_path, BAD["negative seconds"][0])
    out = run_cli("simulate", "--curves", path, "--seeds", "1", "--tenants", "1")
    assert out.returncode == 1 and "line 2: seconds -3 is negative" in out.stderr


def test_matrix_and_curves_are_exclusive(run_cli, tmp_path):
    out = run_cli("simulate", "--curves", write(tmp_path, TINY), "--matrix", "synthetic", "--seeds", "1")
    assert out.returncode == 2 and "not allowed with argument" in out.stderr
