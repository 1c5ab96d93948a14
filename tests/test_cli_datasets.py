"""`dataset add|list` and `job add` against a real store and real PNG class folders (scikit-learn's digits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)

from easeml_gui.store import LabStore
from easeml_gui.training.arms import CLASSICAL
from easeml_gui.training.digits import export_digits


@pytest.fixture(scope="module")
def digits_pngs(tmp_path_factory) -> Path:
    return export_digits(tmp_path_factory.mktemp("digits-pngs") / "digits", per_class=40)


@pytest.fixture
def cli(run_cli):
    return lambda db, *args: run_cli("--db", db, *args)


def test_register_a_dataset_and_give_a_tenant_a_job(tmp_path, digits_pngs, cli):
    db = tmp_path / "lab.sqlite"
    assert cli(db, "tenant", "add", "alice").returncode == 0
    out = cli(db, "dataset", "add", str(digits_pngs), "--name", "digits")
    assert out.returncode == 0, out.stderr
    assert "10 classes, 400 images" in out.stdout and "catalogue networks fit it" in out.stdout
    assert (tmp_path / "datasets" / "digits" / "manifest.json").is_file()
    assert "digits" in cli(db, "dataset", "list").stdout
    listed = json.loads(cli(db, "dataset", "list", "--json").stdout)
    with LabStore.open_readonly(db) as store:
        content_hash = store.dataset("digits").content_hash
    assert [{k: d[k] for k in ("name", "classes", "images", "hash")} for d in listed] == [
        {"name": "digits", "classes": 10, "images": 400, "hash": content_hash}]
    out = cli(db, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "resnet18,mobilenet_v3_small",
              "--epochs", "2", "--augment", "crop")
    assert out.returncode == 0, out.stderr
    assert "2 models: resnet18, mobilenet_v3_small" in out.stdout
    with LabStore.open_readonly(db) as store:
        job = store.jobs()[0]
    assert (job.epochs, job.config["augment"]) == (2, ["crop"])  # what the worker reads from TASK.json


def test_a_job_without_models_gets_every_fitting_network_and_the_classical_learners(tmp_path, digits_pngs, cli):
    db = tmp_path / "lab.sqlite"
    cli(db, "tenant", "add", "alice")
    assert cli(db, "dataset", "add", str(digits_pngs), "--name", "digits").returncode == 0
    out = cli(db, "job", "add", "--tenant", "alice", "--dataset", "digits")
    assert out.returncode == 0, out.stderr
    with LabStore.open_readonly(db) as store:
        arms = [arm.name for arm in store.jobs()[0].arms]
    assert set(CLASSICAL) <= set(arms) and "resnet18" in arms and "alexnet" not in arms  # alexnet needs 63 px
    assert not any("@" in name for name in arms)  # --weights scratch is the default


@pytest.mark.parametrize(
    "args,message",
    [
        (("dataset", "add", "{missing}", "--name", "d2"), "does not exist"),
        (("dataset", "add", "{digits}", "--name", "bad/name"), "invalid dataset name"),
        (("dataset", "add", "{digits}", "--name", "digits"), "already exists"),
        (("job", "add", "--tenant", "bob", "--dataset", "digits"), "unknown tenant 'bob'"),
        (("job", "add", "--tenant", "alice", "--dataset", "nope"), "unknown dataset 'nope'"),
        (("job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "alexnet"), "alexnet cannot take 32 px"),
        (("job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "gpt5"), "unknown model 'gpt5'"),
        (("job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "resnet18@imagenet"),
         "the lab has no ImageNet weights for resnet18; get them with `easeml-gui weights fetch resnet18`"),
        (("job", "add", "--tenant", "alice", "--dataset", "digits", "--weights", "imagenet"),
         "the lab has no ImageNet weights yet"),
        (("job", "add", "--tenant", "alice", "--dataset", "digits", "--augment", "crop,rotate"),
         "unknown augmentation rotate; use any of crop, flip, or none"),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(tmp_path, digits_pngs, args, message, cli):
    db = tmp_path / "lab.sqlite"
    cli(db, "tenant", "add", "alice")
    assert cli(db, "dataset", "add", str(digits_pngs), "--name", "digits").returncode == 0
    before = json.loads(cli(db, "status", "--json").stdout)
    datasets_before = sorted(p.name for p in (tmp_path / "datasets").iterdir())
    args = [a.format(missing=tmp_path / "missing", digits=digits_pngs) for a in args]
    out = cli(db, *args)
    assert out.returncode in (1, 2) and message in out.stderr and "Traceback" not in out.stderr
    assert json.loads(cli(db, "status", "--json").stdout) == before
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == datasets_before  # no stray copy


def test_demo_registers_a_lab_of_digit_subsets_once(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    out = cli(db, "demo")
    assert out.returncode == 0, out.stderr
    status = json.loads(cli(db, "status", "--json").stdout)
    assert [t["name"] for t in status["tenants"]] == ["digit-lab", "high-digits", "low-digits", "three-or-eight"]
    listing = cli(db, "dataset", "list").stdout
    assert "three-or-eight" in listing and "    2 " in listing  # the hard pair has two classes
    with LabStore.open_readonly(db) as store:
        jobs = store.jobs()
    assert {(j.image_size, j.epochs, tuple(j.config["augment"])) for j in jobs} == {(16, 4, ("crop",))}
    assert all({"svc", "resnet18"} <= {arm.name for arm in j.arms} for j in jobs)
    again = cli(db, "demo")
    assert again.returncode == 1 and "already has" in again.stderr
