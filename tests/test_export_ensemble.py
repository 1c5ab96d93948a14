"""`export` of what a tenant receives when it is an ensemble (issue 25): one folder, members exported as single models
are, and predict.py, loaded with the card's one line in a fresh interpreter without easeml-gui, giving the members'
weighted class probabilities as the lab computes them; a changed member file is refused; a single model's delivery
exports as before. A real lab: digits, the real worker (an SVC, a logistic regression, a small network), the live
loop's writes to a real store."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from easeml_gui.engine.ensemble import combine
from easeml_gui.engine.types import Observation, Task, TaskResult, TaskState
from easeml_gui.execution.local import LocalExecutor
from easeml_gui.store import LabStore
from easeml_gui.store.records import Member, TenantDelivery
from easeml_gui.training.arms import arm_spec
from easeml_gui.training.catalogue import CATALOGUE, Schema
from easeml_gui.training.classical import load_classical
from easeml_gui.training.datasets import load_dataset
from easeml_gui.training.decoded import decoded_images, split_rows
from easeml_gui.training.digits import export_digits
from easeml_gui.training.model_loader import class_probabilities
from easeml_gui.training.models import build_model
from easeml_gui.training.predictions import PREDICTIONS_FILE, Predictions

REPO = Path(__file__).resolve().parents[1]
SINGLE = {"model.skops", "model_card.json", "load_model.py"}
COUNTS = {"svc": 2, "logistic_regression": 1, "mobilenet_v3_small": 1}


def cli(db: Path, *args: str | Path) -> None:
    done = subprocess.run([sys.executable, "-m", "easeml_gui", "--db", str(db), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr


def train(store: LabStore, executor: LocalExecutor, job_id: int, arm_name: str, members: tuple[str, ...] = ()
          ) -> TaskResult:
    """One task through the live loop's writes (running, then its result and observation), by the real worker;
    `members`: the arms of the delivery recorded with it, by COUNTS (none: no delivery recorded)."""
    job = store.job(job_id)
    (arm,) = [a for a in job.arms if a.name == arm_name]
    config = {**job.to_job().config, "dataset": store.dataset(job.dataset).path}
    task = Task(f"t-{arm_name}", job.tenant, arm, "cpu", seed=job.seed, config=config)
    store.task_state(task, TaskState.RUNNING)
    executor.submit(task)
    results: list[TaskResult] = []
    while not results:
        results = executor.wait(timeout=5)
    (result,) = results
    assert result.state is TaskState.DONE, result.error
    delivery = TenantDelivery(job.tenant, tuple(Member(f"t-{a}", a, COUNTS[a]) for a in members), 0.9, 0.85, 60)
    store.record_result(result, Observation(job.tenant, arm, result.quality, result.cost, 1.0),
                        delivery=delivery if members else None)
    return result


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice's SVC (delivered alone, then in the ensemble), logistic regression and a small network at its own size;
    single.txt names the single model's export folder, made while the SVC alone was delivered."""
    folder = tmp_path_factory.mktemp("lab")
    db = folder / "lab.sqlite"
    cli(db, "tenant", "add", "alice")
    cli(db, "dataset", "add", export_digits(folder / "source", per_class=30), "--name", "digits")
    cli(db, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "svc,logistic_regression")
    cli(db, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "mobilenet_v3_small",
        "--epochs", "1", "--image-size", "16")
    executor = LocalExecutor(folder / "tasks", devices=["cpu"])
    with LabStore(db) as store:
        svc = train(store, executor, 1, "svc", members=("svc",))
        single = folder / "single"
        cli(db, "export", "alice", "--out", single)
        train(store, executor, 1, "logistic_regression")
        train(store, executor, 2, "mobilenet_v3_small", members=tuple(COUNTS))
    assert svc.details["folder"]
    return db


def test_a_single_models_delivery_exports_as_before(lab: Path) -> None:
    single = lab.parent / "single"
    assert set(os.listdir(single)) == SINGLE
    card = json.loads((single / "model_card.json").read_text())
    assert card["architecture"] == "svc" and card["task_id"] == "t-svc" and "kind" not in card


@pytest.fixture(scope="module")
def ensemble(lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "ensemble"
    cli(lab, "export", "alice", "--out", out)
    return out


def test_the_folder_holds_each_member_as_a_single_export_and_a_card_of_the_ensemble(ensemble: Path) -> None:
    card = json.loads((ensemble / "model_card.json").read_text())
    assert card["kind"] == "ensemble" and card["classes"] == [str(i) for i in range(10)]
    assert [(m["arm"], m["task_id"], m["count"]) for m in card["members"]] == [(a, f"t-{a}", c)
                                                                               for a, c in COUNTS.items()]
    assert [m["weight"] for m in card["members"]] == [0.5, 0.25, 0.25]
    assert (card["accuracy"], card["test_accuracy"], card["validation_images"]) == (0.9, 0.85, 60)
    assert set(os.listdir(ensemble)) == {"model_card.json", "predict.py", "images.py", "members"}
    assert sorted(os.listdir(ensemble / "members")) == ["1-svc", "2-logistic_regression", "3-mobilenet_v3_small"]
    assert set(os.listdir(ensemble / "members" / "1-svc")) == SINGLE
    assert set(os.listdir(ensemble / "members" / "3-mobilenet_v3_small")) == {"model.pt", "model_card.json"}
    assert (ensemble / "images.py").read_bytes() == (REPO / "easeml_gui" / "training" / "images.py").read_bytes()
    assert card["requires"] == ["numpy", "Pillow", "torch", "scikit-learn", "skops"]
    assert [(m["image_size"], m["channels"]) for m in card["members"]] == [(32, 1), (32, 1), (16, 1)]
    cost = card["inference"]
    assert cost["images"] == 16 and cost["ms_per_image"] > 0 and all(m["ms_per_image"] > 0 for m in card["members"])
    print(f"ms per image: ensemble {cost['ms_per_image']}, "
          + ", ".join(f"{m['arm']} {m['ms_per_image']}" for m in card["members"]))


def lab_probabilities(task_folder: Path, arm: str, images: np.ndarray) -> np.ndarray:
    """A member's class probabilities as the lab computes them: a classical learner through model_loader with its
    fitted temperature, a network on uint8 / 255 normalised by its training statistics (training/trainer.py)."""
    if not arm_spec(arm).network:
        loaded = load_classical(task_folder / "model.skops")
        return class_probabilities(loaded.model, images, loaded.temperature)
    checkpoint = torch.load(task_folder / "best.pt", map_location="cpu", weights_only=True)
    schema = Schema(checkpoint["channels"], checkpoint["image_size"], len(checkpoint["classes"]))
    network = build_model(CATALOGUE[arm_spec(arm).model], schema, small_stem=checkpoint.get("small_stem"))
    network.load_state_dict(checkpoint["state_dict"])
    mean, std = (torch.tensor(checkpoint[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    with torch.no_grad():
        logits = network.eval()((torch.from_numpy(images).float() / 255.0 - mean) / std)
    return torch.softmax(logits, dim=1).double().numpy()


def run_usage(folder: Path, files: list[Path]) -> subprocess.CompletedProcess:
    """The card's usage line as written, in a fresh interpreter in the export folder (-I: no easeml-gui on its path),
    then predict_proba; the labels and probabilities come back in result.npz."""
    card = json.loads((folder / "model_card.json").read_text())
    script = (f"import numpy as np; {card['usage'].replace(repr(['a.png', 'b.png']), repr(list(map(str, files))))}; "
              f"proba = runpy.run_path('predict.py')['predict_proba']({list(map(str, files))!r}); "
              "np.savez('result.npz', labels=np.asarray(labels), proba=proba)")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


def held_out_files(lab: Path) -> list[Path]:
    info = load_dataset(lab.parent / "datasets" / "digits")
    return [Path(info.root) / name for name in info.test]


def test_the_cards_one_line_gives_the_members_weighted_probabilities_as_the_lab_computes_them(
        lab: Path, ensemble: Path) -> None:
    info = load_dataset(lab.parent / "datasets" / "digits")
    card = json.loads((ensemble / "model_card.json").read_text())
    counts = [m["count"] for m in card["members"]]
    expected, recorded = [], []
    for member in card["members"]:
        folder = lab.parent / "tasks" / f"{member['task_id']}-1"
        images, labels = split_rows(info, decoded_images(info, member["image_size"]), info.test)
        expected.append(lab_probabilities(folder, member["arm"], images))
        if (folder / PREDICTIONS_FILE).is_file():  # the worker records them (issue 25): the export reproduces them
            recorded.append(Predictions.load(folder / PREDICTIONS_FILE).test_probabilities)
    done = run_usage(ensemble, held_out_files(lab))
    assert done.returncode == 0, done.stderr
    result = np.load(ensemble / "result.npz")
    combined = combine(np.stack(expected), counts)
    np.testing.assert_allclose(result["proba"], combined, atol=1e-5)
    assert list(result["labels"]) == [card["classes"][i] for i in np.argmax(combined, axis=1)]
    if recorded:
        assert len(recorded) == len(expected)
        np.testing.assert_allclose(result["proba"], combine(np.stack(recorded), counts), atol=1e-5)


def test_a_changed_member_file_is_refused_with_a_clear_error(lab: Path, ensemble: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ensemble, copy)
    files = held_out_files(lab)[:2]
    for tampered in ("members/1-svc/model.skops", "members/3-mobilenet_v3_small/model.pt", "images.py"):
        path = copy / tampered
        original = path.read_bytes()
        path.write_bytes(original + b"\0")
        refused = run_usage(copy, files)
        assert refused.returncode == 1, refused.stderr
        assert f"{tampered} has changed since the export" in refused.stderr, refused.stderr
        assert "export the ensemble again" in refused.stderr
        path.write_bytes(original)
    assert run_usage(copy, files).returncode == 0
    # a changed file whose new hash is put in the card still meets the member's own loader, which refuses it
    garbage = b"not a model"
    (copy / "members/1-svc/model.skops").write_bytes(garbage)
    card = json.loads((copy / "model_card.json").read_text())
    card["files"]["members/1-svc/model.skops"] = hashlib.sha256(garbage).hexdigest()
    (copy / "model_card.json").write_text(json.dumps(card))
    refused = run_usage(copy, files)
    assert refused.returncode == 1 and "is not a readable easeml-gui model file" in refused.stderr, refused.stderr


def test_force_replaces_a_single_export_with_the_ensemble_and_back(lab: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(lab.parent / "single", out)
    (out / "notes.txt").write_text("mine")
    cli(lab, "export", "alice", "--out", out, "--force")
    assert set(os.listdir(out)) == {"model_card.json", "predict.py", "images.py", "members", "notes.txt"}
    done = subprocess.run([sys.executable, "-m", "easeml_gui.training.export",
                           lab.parent / "tasks" / "t-svc-1" / "model.skops", out], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    assert set(os.listdir(out)) == SINGLE | {"notes.txt"}  # no members/, predict.py or images.py left behind


def test_the_shipped_files_import_only_the_standard_library_numpy_and_pillow() -> None:
    """predict.py and images.py are copied as they are: an import of easeml-gui (or torch, scikit-learn) at their
    top would fail, or weigh, where a user runs them."""
    for module in ("ensemble_predict.py", "images.py"):
        tree = ast.parse((REPO / "easeml_gui" / "training" / module).read_text())
        imported = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] or "." for node in tree.body
                     if isinstance(node, ast.ImportFrom) and node.module != "__future__"}
        assert imported <= set(sys.stdlib_module_names) | {"numpy", "PIL"}, (module, imported)
