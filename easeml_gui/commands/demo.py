"""`easeml-gui demo`: a small lab from scikit-learn's bundled digits that trains to a useful result on a CPU."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..training.digits import export_digits
from . import CommandError
from .datasets import add_job_for, register_in_store
from .tenants import writer

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
DEMO_AUGMENT = ["crop"]  # no flips: a mirrored digit is not the same digit


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="register a small demo lab (digits datasets) so a first run has something to show")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    with writer(args.db) as store:
        taken = {t.name for t in store.tenants(include_archived=True)} | {d.name for d in store.datasets(include_archived=True)}
        clash = sorted(taken & set(DEMO_TENANTS))
        if clash:
            raise CommandError(f"this store already has {', '.join(clash)}; use another --db for the demo")
        with tempfile.TemporaryDirectory() as scratch:
            for name, classes in DEMO_TENANTS.items():
                source = export_digits(Path(scratch) / name, classes)
                info = register_in_store(store, name, source, args.data_dir)
                store.add_tenant(name, DEMO_WEIGHTS.get(name, 1.0))
                add_job_for(store, name, name, info.schema(DEMO_IMAGE_SIZE), list(DEMO_MODELS), epochs=DEMO_EPOCHS,
                            augment=DEMO_AUGMENT)
                print(f"tenant {name}: {info.summary()}")
    print(f"\ndemo lab ready in {args.db}: {len(DEMO_TENANTS)} tenants x {len(DEMO_MODELS)} models "
          f"({', '.join(DEMO_MODELS)}), {DEMO_EPOCHS} epochs each.\nNext: `easeml-gui --db {args.db} run` "
          f"to train, `easeml-gui --db {args.db}` to watch it.")
    return 0
