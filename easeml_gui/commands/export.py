"""`easeml-gui export TENANT --out DIR`: what the tenant receives: its best model (TorchScript, or skops for a
classical learner) plus a model card, or its ensemble: the members so exported, predict.py and the ensemble's card
(lab.export and lab.ensemble_export do the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..lab.export import export_best
from ..lab.stores import open_reader


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export what a tenant receives: its best model (TorchScript or skops + model "
                                      "card JSON), or its ensemble (the members, predict.py and the ensemble's card)")
    p.add_argument("tenant")
    p.add_argument("--out", type=folder, required=True,
                   help="folder to write the model (or ensemble) and model_card.json into: new or empty, unless "
                        "--force")
    p.add_argument("--force", action="store_true",
                   help="replace the export in a folder that holds files (its model, card and loader, or an "
                        "ensemble's members, predict.py and images.py; others stay)")
    p.set_defaults(handler=run_export)


def folder(text: str) -> Path:
    """--out's type: an empty string would be the current folder, which nobody means."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a folder to export into (an empty --out would write into the "
                                         "current folder; say --out . for that)")
    return Path(text)


def run_export(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        exported = export_best(store, args.tenant, args.out, replace=args.force)
    test = exported.test_accuracy
    honest = f", test accuracy {test:.4f}" if test is not None else " (no test split: register with one)"
    print(f"exported {args.tenant}'s best model, {exported.model} (validation accuracy {exported.accuracy:.4f}"
          f"{honest}), to {exported.model_file} with {exported.card_file}")
    return 0
