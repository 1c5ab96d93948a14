"""Test accuracy of the model the lab delivers against what a user would pick instead, on data no model saw.

Datasets: scikit-learn's digits (real 8 px scans) at several sizes and class subsets, grey, colourised (a random
foreground and background colour per image) and shifted (the digit at 2x in a random place of a 28 px canvas);
200 to 1,797 images, each registered with the lab's default split (60 % train, 20 % validation, 20 % test).

The lab: one store, one tenant per dataset, each with a job over every arm that fits (`job add` defaults:
catalogue networks and the classical learners; `--weights both` where the lab has ImageNet weights), run with
`easeml-gui run` on this machine until every job is done or the budget is spent (then Ctrl-C: running tasks
finish). What it delivers per tenant is what `status` names: the single model the one-standard-error rule picks, or
an ensemble of the tenant's models where that is better beyond noise (engine/ensemble.py); its test accuracy comes
from the test split, which selection never saw. The bench also reports the single model the tenant would get
without ensembles ("single") and the gain over it, exports the delivery (`easeml-gui export`) and checks that the
export's predict_proba on the test images equals the lab's own recorded test probabilities, with its latency per
image against its best single member's.

The peers, each trained on train + validation (everything but the test split: more data than the lab's models
got), scored on the same test images:
  SVC                  sklearn.svm.SVC() on the raw pixels scaled to [0, 1] (the one-liner)
  LogisticRegression   sklearn.linear_model.LogisticRegression(max_iter=2000) on the same pixels
  plain torchvision    torchvision.models.resnet18(num_classes=K) at 32 px (grey replicated to RGB), Adam 1e-3,
                       batch 64, ImageNet-style normalisation, as a tutorial writes it, trained for the same device
                       seconds the lab spent on that tenant
Ratios are lab / peer test accuracy (goal: >= 1.0 everywhere); device seconds are reported for each.

    python bench/accuracy_vs_peers.py [--budget-minutes 30] [--datasets digits-200,...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from easeml_gui.store import LabStore
from easeml_gui.engine.ensemble import combine
from easeml_gui.engine.types import TaskState
from easeml_gui.training.datasets import DatasetInfo, load_dataset
from easeml_gui.training.decoded import decoded_images
from easeml_gui.training.digits import export_digits
from easeml_gui.training.predictions import Predictions

ROOT = Path(__file__).resolve().parent.parent


def colourise(source: Path, target: Path, seed: int = 0) -> Path:
    """Each grey digit as RGB: ink and paper each a random colour (ink kept darker or lighter than paper)."""
    rng = np.random.default_rng(seed)
    for path in sorted(source.rglob("*.png")):
        grey = np.asarray(Image.open(path), dtype=np.float64)[..., None] / 255.0
        paper, ink = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        rgb = (paper * (1 - grey) + ink * grey).round().astype(np.uint8)
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb, "RGB").save(out)
    return target


def shift(source: Path, target: Path, seed: int = 0, canvas: int = 28) -> Path:
    """Each digit scaled 2x (16 px) at a random place of a black 28 px canvas: position varies, as in scans."""
    rng = np.random.default_rng(seed)
    for path in sorted(source.rglob("*.png")):
        digit = np.asarray(Image.open(path).resize((16, 16), Image.BILINEAR))
        image = np.zeros((canvas, canvas), np.uint8)
        top, left = rng.integers(0, canvas - 16 + 1, 2)
        image[top:top + 16, left:left + 16] = digit
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "L").save(out)
    return target


@dataclass(frozen=True)
class Recipe:
    classes: tuple[int, ...]
    per_class: int | None  # None: every image of the class
    variant: Callable[[Path, Path], Path] | None = None


DATASETS: dict[str, Recipe] = {
    "digits-200": Recipe(tuple(range(10)), 20),
    "digits-500-low": Recipe((0, 1, 2, 3, 4), 100),
    "digits-1000": Recipe(tuple(range(10)), 100),
    "digits-all": Recipe(tuple(range(10)), None),
    "digits-colour-1000": Recipe(tuple(range(10)), 100, colourise),
    "digits-shifted-1000": Recipe(tuple(range(10)), 100, shift),
    "digits-shifted-2000": Recipe(tuple(range(10)), None, shift),
}


def build_source(name: str, scratch: Path) -> Path:
    recipe = DATASETS[name]
    grey = export_digits(scratch / f"{name}-grey", recipe.classes, recipe.per_class)
    return recipe.variant(grey, scratch / name) if recipe.variant else grey


def easeml(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "easeml_gui", "--db", str(db), *args], capture_output=True,
                         text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"easeml-gui {' '.join(args)} failed: {out.stderr.strip()}")
    return out


def run_lab(db: Path, budget_seconds: float) -> float:
    """`easeml-gui run` until every job is done or the budget is spent (then Ctrl-C, as a user would); seconds."""
    start = time.monotonic()
    with open(db.with_name("run.log"), "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "easeml_gui", "--db", str(db), "run"], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            process.wait(timeout=budget_seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)  # stop deciding; running tasks finish and are recorded
            process.wait()
    if process.returncode not in (0, 130):
        print(f"easeml-gui run exited with {process.returncode}; see {db.with_name('run.log')}", file=sys.stderr)
    return time.monotonic() - start


@dataclass(frozen=True)
class LabOutcome:
    model: str
    val_accuracy: float
    test_accuracy: float
    device_seconds: float  # every task of the tenant, chosen or not
    tasks: int
    single_model: str  # what the tenant would get without ensembles (the one-standard-error rule)
    single_test_accuracy: float | None


def lab_outcome(db: Path, tenant: str) -> LabOutcome:
    status = json.loads(easeml(db, "status", "--json").stdout)
    row = next(t for t in status["tenants"] if t["name"] == tenant)
    with LabStore.open_readonly(db) as store:
        tasks = [t for t in store.tasks(tenant=tenant) if t.state in (TaskState.DONE, TaskState.FAILED)]
        single = store.delivered_models(ensembles=False).get(tenant)
    return LabOutcome(row["best_model"], row["best_accuracy"], row["best_test_accuracy"],
                      sum(t.cost for t in tasks), len(tasks), single.arm if single else "-",
                      single.test_accuracy if single else None)


def exported_check(db: Path, tenant: str, info: DatasetInfo, out: Path) -> dict[str, object]:
    """Export what the tenant receives; for an ensemble, its predict_proba on the test files against the lab's
    recorded probabilities (max abs difference) and the card's latency per image against its best single member."""
    easeml(db, "export", tenant, "--out", str(out))
    card = json.loads((out / "model_card.json").read_text())
    if card.get("kind") != "ensemble":
        return {"export": "single model"}
    predict_proba = runpy.run_path(str(out / "predict.py"))["predict_proba"]
    files = [str(Path(info.root) / path) for path in info.test]
    exported = np.asarray(predict_proba(files))
    with LabStore.open_readonly(db) as store:
        delivery = store.deliveries()[tenant]
        recorded = [Predictions.from_bytes(store._row("SELECT data FROM task_predictions WHERE task_id = ?",
                                                      (m.task_id,))["data"]) for m in delivery.members]
    lab = combine(np.stack([p.test_probabilities for p in recorded]), [m.count for m in delivery.members])
    members = card["members"]
    best_member = max(members, key=lambda m: m.get("test_accuracy") or 0.0)
    return {"export": "ensemble", "export_max_abs_diff": float(np.abs(exported - lab).max()),
            "export_labels_equal": bool((exported.argmax(1) == lab.argmax(1)).all()),
            "ms_per_image": card["inference"]["ms_per_image"], "best_member_ms_per_image": best_member["ms_per_image"]}


def pixel_splits(info: DatasetInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw pixels in [0, 1] at the images' own size: train + validation, and test."""
    size = int(min(info.stats.median_width, info.stats.median_height))
    images = decoded_images(info, size).reshape(info.num_images, -1).astype(np.float64) / 255.0
    row = {entry.path: i for i, entry in enumerate(info.manifest)}
    fit = [*info.train, *info.val]
    return (images[[row[p] for p in fit]], np.asarray(info.labels(fit)),
            images[[row[p] for p in info.test]], np.asarray(info.labels(info.test)))


def sklearn_peer(make: Callable[[], object], info: DatasetInfo) -> tuple[float, float]:
    x_fit, y_fit, x_test, y_test = pixel_splits(info)
    start = time.perf_counter()
    model = make().fit(x_fit, y_fit)
    seconds = time.perf_counter() - start
    return float(np.mean(model.predict(x_test) == y_test)), seconds


def torchvision_peer(info: DatasetInfo, seconds: float, size: int = 32) -> tuple[float, float]:
    """A tutorial's resnet18 loop on the same images for `seconds` of training; (test accuracy, seconds)."""
    import torch
    import torch.nn.functional as F
    import torchvision

    torch.manual_seed(0)
    images = torch.from_numpy(decoded_images(info, size)).float() / 255.0
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    images = (images - mean) / std
    row = {entry.path: i for i, entry in enumerate(info.manifest)}
    fit = [*info.train, *info.val]
    x_fit, y_fit = images[[row[p] for p in fit]], torch.tensor(info.labels(fit))
    x_test, y_test = images[[row[p] for p in info.test]], torch.tensor(info.labels(info.test))
    model = torchvision.models.resnet18(num_classes=len(info.classes))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.train()
        for batch in torch.randperm(len(x_fit)).split(64):
            if len(batch) < 2:
                continue  # batch norm needs two images
            optimiser.zero_grad()
            F.cross_entropy(model(x_fit[batch]), y_fit[batch]).backward()
            optimiser.step()
            if time.perf_counter() - start >= seconds:
                break
    trained = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(x).argmax(1) for x in x_test.split(256)])
    return float((predicted == y_test).float().mean()), trained


def score(db: Path, name: str, torchvision: bool = True) -> dict[str, object]:
    """The lab's delivered model and the three peers on one dataset's test split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    info = load_dataset(db.parent / "datasets" / name)
    lab = lab_outcome(db, name)
    if lab.test_accuracy is None:
        return {"dataset": name, "lab_test": None}
    export = exported_check(db, name, info, db.parent / "exports" / name)
    svc = sklearn_peer(SVC, info)
    logistic = sklearn_peer(lambda: LogisticRegression(max_iter=2000), info)
    plain = torchvision_peer(info, lab.device_seconds) if torchvision else (float("nan"), 0.0)
    return {"dataset": name, "images": info.num_images, "test_images": len(info.test), "lab_model": lab.model,
            "lab_tasks": lab.tasks, "lab_val": lab.val_accuracy, "lab_test": lab.test_accuracy,
            "lab_seconds": lab.device_seconds, "svc": svc[0], "svc_seconds": svc[1], "logistic": logistic[0],
            "logistic_seconds": logistic[1], "torchvision": plain[0], "torchvision_seconds": plain[1],
            "single_model": lab.single_model, "single_test": lab.single_test_accuracy, **export}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="wall time of the lab run, all tenants")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated from {', '.join(DATASETS)}")
    parser.add_argument("--models", help="job add --models (default: every arm that fits)")
    parser.add_argument("--no-torchvision", action="store_true",
                        help="leave out the plain torchvision peer (it trains as long as the lab did, per dataset)")
    parser.add_argument("--weights", default="scratch", choices=("scratch", "imagenet", "both"),
                        help="job add --weights (imagenet/both need `easeml-gui weights fetch` or import first)")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    parser.add_argument("--work-dir", type=Path, help="keep the lab here (default: a temporary folder)")
    parser.add_argument("--report-only", action="store_true", help="with --work-dir: score the lab already there")
    args = parser.parse_args()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    with tempfile.TemporaryDirectory() as scratch_dir:
        work = args.work_dir or Path(scratch_dir)
        db = work / "lab" / "lab.sqlite"
        if not args.report_only:
            db.parent.mkdir(parents=True)
            for name in names:
                easeml(db, "tenant", "add", name)
                easeml(db, "dataset", "add", str(build_source(name, work)), "--name", name)
                models = ["--models", args.models] if args.models else []
                easeml(db, "job", "add", "--tenant", name, "--dataset", name, "--weights", args.weights, *models)
            wall = run_lab(db, args.budget_minutes * 60)
            print(f"lab: {len(names)} tenants on {os.cpu_count()} CPU cores, {wall:.0f} s wall\n")
        rows = [score(db, name, not args.no_torchvision) for name in names]
    print(f"{'dataset':20} {'imgs':>5} {'lab delivers':44} {'val':>6} {'test':>6} {'s':>6} | {'single':18} "
          f"{'test':>6} | {'SVC':>6} {'s':>5} | {'LogReg':>6} {'s':>5} | {'resnet18':>8} {'s':>6} | "
          "ratios lab/single, /SVC, /LogReg, /torchvision")
    for r in [r for r in rows if r["lab_test"] is None]:
        print(f"{r['dataset']}: the lab delivered no model within the budget")
    rows = [r for r in rows if r["lab_test"] is not None]
    for r in rows:
        single = r["single_test"] or float("nan")
        print(f"{r['dataset']:20} {r['images']:5d} {r['lab_model'][:44]:44} {r['lab_val']:6.3f} {r['lab_test']:6.3f} "
              f"{r['lab_seconds']:6.0f} | {r['single_model'][:18]:18} {single:6.3f} | {r['svc']:6.3f} "
              f"{r['svc_seconds']:5.1f} | {r['logistic']:6.3f} {r['logistic_seconds']:5.1f} | {r['torchvision']:8.3f} "
              f"{r['torchvision_seconds']:6.0f} | {r['lab_test'] / single:.3f}  {r['lab_test'] / r['svc']:.3f}  "
              f"{r['lab_test'] / r['logistic']:.3f}  {r['lab_test'] / r['torchvision']:.3f}")
    for r in [r for r in rows if r["export"] == "ensemble"]:
        print(f"{r['dataset']}: exported ensemble vs the lab's recorded test probabilities: max |diff| "
              f"{r['export_max_abs_diff']:.2e}, labels equal: {r['export_labels_equal']}; {r['ms_per_image']:.2f} "
              f"ms per image against {r['best_member_ms_per_image']:.2f} for its best single member")
    peers = ("single_test", "svc", "logistic", "torchvision")
    worst = min(min(r["lab_test"] / r[peer] for peer in peers if r[peer] and r[peer] == r[peer]) for r in rows)
    gain = [r["lab_test"] - r["single_test"] for r in rows if r["single_test"] is not None]
    print(f"\nworst ratio over every dataset and peer (the single model included): {worst:.3f} (goal >= 1.0); "
          f"test accuracy gained over the single model: mean {np.mean(gain):+.3f}, min {min(gain):+.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
