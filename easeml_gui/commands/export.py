"""`easeml-gui export TENANT --out DIR`: the tenant's best model (TorchScript, or skops for a classical learner) plus
a model card (lab.export does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..lab.export import export_best
from ..lab.stores import open_reader


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a tenant's best model (TorchScript + model card JSON)")
    p.add_argument("tenant")
    p.add_argument("--out", type=Path, required=True, help="folder to write model.pt and model_card.json into")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        exported = export_best(store, args.tenant, args.out)
    test = exported.test_accuracy
    honest = f", test accuracy {test:.4f}" if test is not None else " (no test split: register with one)"
    print(f"exported {args.tenant}'s best model, {exported.model} (validation accuracy {exported.accuracy:.4f}"
          f"{honest}), to {exported.model_file} with {exported.card_file}")
    return 0
