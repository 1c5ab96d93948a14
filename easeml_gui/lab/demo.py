"""The demo lab: tenants and datasets made from scikit-learn's bundled digits, with jobs that train to a useful
result on a CPU, so a first run has something to show."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from ..store import LabStore
from ..training.datasets import DatasetInfo
from ..training.digits import export_digits
from . import datasets, jobs, tenants
from .errors import LabError

# Tenants whose data differ (all ten digits, two halves, a hard pair), so their best models differ too.
DEMO_TENANTS = {
    "digit-lab": tuple(range(10)),
    "low-digits": (0, 1, 2, 3, 4),
    "high-digits": (5, 6, 7, 8, 9),
    "three-or-eight": (3, 8),
}
DEMO_WEIGHTS = {"digit-lab": 2.0}
# Models of different cost that take 16 px images (the 8 px digits, upsampled) and learn them in a few epochs on
# a CPU: measured on the 2-core test machine, 4 epochs on all ten digits give resnet18 0.94 in 50 s,
# mobilenet_v3_small 0.67 in 32 s, shufflenet_v2_x1_0 0.58 in 22 s.
# The two cheapest classical learners join them: they train in about a second and set the bar the networks must
# clear (a lab whose best model loses to a scikit-learn one-liner serves nobody).
DEMO_MODELS = ("svc", "logistic_regression", "resnet18", "mobilenet_v3_small", "shufflenet_v2_x1_0",
               "regnet_y_400mf")
DEMO_EPOCHS = 4
DEMO_IMAGE_SIZE = 16
DEMO_AUGMENT = ("crop",)  # no flips: a mirrored digit is not the same digit


def create(store: LabStore, data_dir: Path,
           on_tenant: Callable[[str, DatasetInfo], None] = lambda name, info: None) -> None:
    """Register the demo's datasets, tenants and jobs; refused (nothing changed) where a name is taken."""
    taken = {t.name for t in store.tenants(include_archived=True)} | {
        d.name for d in store.datasets(include_archived=True)}
    clash = sorted(taken & set(DEMO_TENANTS))
    if clash:
        raise LabError(f"this store already has {', '.join(clash)}; use another store for the demo")
    with tempfile.TemporaryDirectory() as scratch:
        for name, classes in DEMO_TENANTS.items():
            info = datasets.register(store, name, export_digits(Path(scratch) / name, classes), data_dir)
            tenants.add(store, name, DEMO_WEIGHTS.get(name, 1.0))
            jobs.add(store, name, name, models=DEMO_MODELS, epochs=DEMO_EPOCHS, image_size=DEMO_IMAGE_SIZE,
                     augment=DEMO_AUGMENT)
            on_tenant(name, info)
