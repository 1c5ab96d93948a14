"""Ensembles in a real lab (issue 25): `easeml-gui run` trains classical arms on real digits; every
done task records its class probabilities with its result, the tenant's delivery is recomputed with each, and
status, log and export show what the tenant receives."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from cli_runner import run_cli  # noqa: F401 (a fixture)

from easeml_gui.engine.ensemble import combine
from easeml_gui.store import LabStore
from easeml_gui.training.digits import export_digits
from easeml_gui.training.predictions import Predictions

MODELS = "svc,logistic_regression,random_forest"  # classical: seconds; the worker tests cover networks'


def test_every_result_records_probabilities_and_the_tenant_receives_what_they_choose(tmp_path, run_cli):
    db = tmp_path / "lab.sqlite"
    source = export_digits(tmp_path / "source", per_class=25)
    for args in (("tenant", "add", "alice"), ("dataset", "add", source, "--name", "digits"),
                 ("job", "add", "--tenant", "alice", "--dataset", "digits", "--models", MODELS)):
        out = run_cli("--db", db, *args)
        assert out.returncode == 0, out.stderr
    done = subprocess.run([sys.executable, "-m", "easeml_gui", "--db", str(db), "run"], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr

    with LabStore.open_readonly(db) as store:
        runs = store._rows("SELECT o.task_id, o.arm, p.data FROM observations o JOIN task_predictions p "
                           "USING (task_id) ORDER BY o.id")
        delivery = store.deliveries()["alice"]
        delivered = store.delivered_models()["alice"]
    assert sorted(r["arm"] for r in runs) == sorted(MODELS.split(","))  # every done task, its probabilities
    predictions = {r["task_id"]: Predictions.from_bytes(r["data"]) for r in runs}
    # each member's test probabilities, weighted: the delivery's test accuracy is theirs, whatever was chosen
    members = [predictions[m.task_id] for m in delivery.members]
    combined = combine(np.stack([p.test_probabilities for p in members]), [m.count for m in delivery.members])
    assert delivery.test_accuracy == np.mean(combined.argmax(1) == members[0].test_labels)
    assert delivered.label() == delivery.label() or not delivery.is_ensemble

    status = json.loads(run_cli("--db", db, "status", "--json").stdout)
    [alice] = status["tenants"]
    assert alice["best_model"] == delivered.label()
    assert sum(m["weight"] for m in alice["best_members"]) == 1.0
    assert {m["task_id"] for m in alice["best_members"]} == {m.task_id for m in delivery.members} \
        or not delivery.is_ensemble
    log = run_cli("--db", db, "log").stdout
    assert f"alice receives {delivered.label()}" in log
