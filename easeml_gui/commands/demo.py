"""`easeml-gui demo`: a small lab from scikit-learn's bundled digits that trains to a useful result on a CPU."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from ..engine.types import Arm
from ..training.datasets import register_dataset
from ..training.errors import DatasetError
from . import CommandError
from .datasets import CATALOGUE_INDEX
from .tenants import writer

# Tenants whose data differ (all ten digits, two halves, a hard pair), so their best models differ too.
DEMO_TENANTS = {
    "digit-lab": tuple(range(10)),
    "low-digits": (0, 1, 2, 3, 4),
    "high-digits": (5, 6, 7, 8, 9),
    "three-or-eight": (3, 8),
}
DEMO_WEIGHTS = {"digit-lab": 2.0}
# Cheap models that train in seconds at 32 px on a CPU.
DEMO_MODELS = ("mobilenet_v3_small", "shufflenet_v2_x1_0", "squeezenet1_1", "regnet_y_400mf", "resnet18")
DEMO_EPOCHS = 3


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="register a small demo lab (digits datasets) so a first run has something to show")
    p.set_defaults(handler=run_demo)


def export_digits(folder: Path, classes: tuple[int, ...]) -> None:
    """scikit-learn's 8x8 digits as PNG class folders (8-bit grey)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        if label in classes:
            target = folder / str(label)
            target.mkdir(parents=True, exist_ok=True)
            Image.fromarray((image * 16).clip(0, 255).astype(np.uint8)).save(target / f"{index:04d}.png")


def run_demo(args: argparse.Namespace) -> int:
    with writer(args.db) as store:
        taken = {t.name for t in store.tenants(include_archived=True)} | {d.name for d in store.datasets(include_archived=True)}
        clash = sorted(taken & set(DEMO_TENANTS))
        if clash:
            raise CommandError(f"this store already has {', '.join(clash)}; use another --db for the demo")
        arms = [Arm(name, CATALOGUE_INDEX[name]) for name in DEMO_MODELS]
        with tempfile.TemporaryDirectory() as scratch:
            for name, classes in DEMO_TENANTS.items():
                source = Path(scratch) / name
                export_digits(source, classes)
                try:
                    info = register_dataset(source, args.data_dir / "datasets" / name)
                except DatasetError as error:
                    raise CommandError(str(error)) from None
                record = info.to_dict()
                store.add_dataset(name, info.root, info.content_hash, manifest=record["manifest"],
                                  stats=record["stats"], split=record["split"])
                store.add_tenant(name, DEMO_WEIGHTS.get(name, 1.0))
                schema = info.schema()
                store.add_job(name, name, arms, epochs=DEMO_EPOCHS, image_size=schema.image_size,
                              schema={"channels": schema.channels, "image_size": schema.image_size,
                                      "num_classes": schema.num_classes})
                print(f"tenant {name}: {info.summary()}")
    print(f"\ndemo lab ready in {args.db}: {len(DEMO_TENANTS)} tenants x {len(DEMO_MODELS)} models "
          f"({', '.join(DEMO_MODELS)}), {DEMO_EPOCHS} epochs each.\nNext: `easeml-gui --db {args.db} run` "
          f"to train, `easeml-gui --db {args.db}` to watch it.")
    return 0
