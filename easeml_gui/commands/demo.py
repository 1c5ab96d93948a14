"""`easeml-gui demo`: a small lab from scikit-learn's bundled digits that trains to a useful result on a CPU."""

from __future__ import annotations

import argparse

from ..lab import demo
from ..lab.stores import open_writer


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="register a small demo lab (digits datasets) so a first run has something to show")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        demo.create(store, args.data_dir, on_tenant=lambda name, info: print(f"tenant {name}: {info.summary()}"))
    print(f"\ndemo lab ready in {args.db}: {len(demo.DEMO_TENANTS)} tenants x {len(demo.DEMO_MODELS)} models "
          f"({', '.join(demo.DEMO_MODELS)}), {demo.DEMO_EPOCHS} epochs each.\nNext: `easeml-gui --db {args.db} run` "
          f"to train, `easeml-gui --db {args.db}` to watch it.")
    return 0
