"""A classical arm and a fine-tuned arm end to end: `job add`, `run` (real workers on real digits), the store,
`export`, and the exported model loaded the way its card says, reproducing the card's test accuracy on the test
split selection never saw. Fine-tuning starts from a weight file `weights import` took in (built here: no
download), and the frozen body of a linear probe proves the real loading path used exactly that file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import run_cli  # noqa: F401 (a fixture)
from torchvision.models import get_model

from easeml_gui.engine.types import TaskState
from easeml_gui.store import LabStore
from easeml_gui.training.datasets import load_dataset
from easeml_gui.training.decoded import decoded_images
from easeml_gui.training.digits import export_digits

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lab(tmp_path: Path, run_cli):
    db = tmp_path / "lab.sqlite"
    source = export_digits(tmp_path / "source", per_class=30)
    for args in (("tenant", "add", "alice"), ("dataset", "add", source, "--name", "digits")):
        out = run_cli("--db", db, *args)
        assert out.returncode == 0, out.stderr
    return db


def cli_ok(run_cli, db: Path, *args: str | Path):
    out = run_cli("--db", db, *args)
    assert out.returncode == 0, out.stderr
    return out


def run_lab(db: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "easeml_gui", "--db", str(db), "run"], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr


def held_out_images(db: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The registered dataset's test split, decoded as the worker decodes it."""
    info = load_dataset(db.parent / "datasets" / "digits")
    row = {entry.path: i for i, entry in enumerate(info.manifest)}
    images = decoded_images(info, size)[[row[p] for p in info.test]]
    return images, np.asarray(info.labels(info.test))


def only_task(db: Path):
    with LabStore.open_readonly(db) as store:
        (task,) = store.tasks(TaskState.DONE, tenant="alice")
        status = store.status()
    return task, status["tenants"][0]


def test_a_classical_arm_trains_exports_and_loads_with_the_cards_one_liner(lab, tmp_path, run_cli):
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "svc")
    run_lab(lab)
    task, status = only_task(lab)
    assert task.details["test_accuracy"] == status["best_test_accuracy"] and status["best_model"] == "svc"
    assert task.details["test_images"] == 60 and task.details["accuracy"] > 0.8
    out = cli_ok(run_cli, lab, "export", "alice", "--out", tmp_path / "model")
    assert "model.skops" in out.stdout and "test accuracy" in out.stdout
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert (card["architecture"], card["pretrained"], card["test_accuracy"]) == ("svc", False,
                                                                                   task.details["test_accuracy"])
    assert card["accuracy"] == task.details["accuracy"] and card["folds"] == task.details["folds"] == 4
    images, labels = held_out_images(lab, card["preprocessing"]["image_size"])
    np.save(tmp_path / "images.npy", images)
    # the card's usage line, verbatim, in a fresh interpreter: numpy, scikit-learn and skops are all it needs
    script = (f"import numpy as np; images = np.load({str(tmp_path / 'images.npy')!r}); {card['usage']}; "
              "np.save('labels.npy', labels)")
    subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path / "model", check=True, timeout=300)
    predicted = np.load(tmp_path / "model" / "labels.npy")
    assert float(np.mean(predicted == labels)) == pytest.approx(card["test_accuracy"])


def test_imported_weights_fine_tune_and_probe_from_that_file(lab, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # this test's weights stay its own
    torch.manual_seed(3)
    imported = get_model("mobilenet_v3_small", weights=None).state_dict()  # a lab's own "pretrained" file
    torch.save(imported, tmp_path / "lab-mobilenet.pth")
    cli_ok(run_cli, lab, "weights", "import", tmp_path / "lab-mobilenet.pth", "--model", "mobilenet_v3_small")
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--weights", "imagenet",
           "--models", "mobilenet_v3_small@imagenet-probe", "--epochs", "1", "--image-size", "16")
    run_lab(lab)
    task, status = only_task(lab)
    assert task.details["pretrained"] is True and task.details["probe"] is True
    assert task.details["weights_sha256"] and "imported from" in task.details["weights_source"]
    cli_ok(run_cli, lab, "export", "alice", "--out", tmp_path / "model")
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["pretrained"] is True and card["test_accuracy"] == status["best_test_accuracy"]
    info = load_dataset(lab.parent / "datasets" / "digits")  # the tenant's first model: refit on train + val
    assert card["fit_images"] == task.details["fit_images"] == len(info.train) + len(info.val)
    assert card["folds"] == task.details["folds"] == 4  # 60 validation images: "accuracy" pools four folds
    model = torch.jit.load(str(tmp_path / "model" / "model.pt"))
    # The probe trained only its head: every body tensor is the imported file's (the grey stem sums its RGB
    # kernels, the head is new), so the worker really loaded that file.
    exported = {name.removeprefix("network."): value for name, value in model.state_dict().items()}
    body = [name for name in imported if not name.startswith(("features.0.0.", "classifier.3."))]
    assert body and all(torch.equal(exported[name], imported[name]) for name in body if "num_batches" not in name)
    images, labels = held_out_images(lab, card["preprocessing"]["image_size"])
    with torch.no_grad():
        predicted = model(torch.from_numpy(images).float() / 255.0).argmax(1).numpy()
    assert float(np.mean(predicted == labels)) == pytest.approx(card["test_accuracy"], abs=1.01 / len(labels))
