"""The `dataset add` properties of tests/test_dataset_fuzz.py (folder trees) and tests/test_archive_fuzz.py
(archives with hostile members) with a large budget, bombs up to 1 GiB of zeros included (streamed: this process
never holds them). Each example runs the command in this process, as the tests do.

    python bench/dataset_fuzz.py [--examples 2000] [--minutes 20] [--seed N] [--only folders|archives]

The minutes are split evenly between the two properties. Prints, per property, how many examples ran, how many
were registered and refused, the refusals counted by kind (the message with its names and numbers taken out), the
slowest example, the largest Python allocation peak of a traced run (those with bombs), and this process's peak
RSS at the end. Exits 1 on a property violation, with the falsifying example hypothesis shrank it to.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the properties and their inputs live with the tests

from dataset_fuzz_inputs import Outcome, archive_specs, trees  # noqa: E402
from test_archive_fuzz import check_archive  # noqa: E402
from test_dataset_fuzz import check_tree  # noqa: E402

BIG_MIB = (20, 70, 1024)


class BudgetSpent(BaseException):
    """The minutes are spent: no more examples."""


@dataclass
class Tally:
    runs: int = 0
    registered: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    slowest: tuple[float, str] = (0.0, "")
    traced_mib: float = 0.0

    def add(self, outcome: Outcome, example: str) -> None:
        self.runs += 1
        if outcome.code == 0:
            self.registered += 1
        else:
            self.refusals[kind_of(outcome.message)] += 1
        self.slowest = max(self.slowest, (outcome.seconds, example))
        self.traced_mib = max(self.traced_mib, outcome.traced_mib or 0.0)


def kind_of(message: str) -> str:
    """A refusal's kind: its first clause without names, paths and numbers."""
    text = message.splitlines()[0].removeprefix("easeml-gui dataset: ")
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "'…'", text)
    text = re.sub(r"(?<!\w)/\S+", "PATH", text)
    text = re.sub(r"\S*\.(?:tar\.gz|tar\.xz|tgz|tar|zip|ZIP)\b", "ARCHIVE", text)
    text = re.sub(r"(?<![\w-])(?:0x[0-9a-f]+|\d[\d,.]*)", "N", text)
    text = re.sub(r"(not usable images|N images):.*", r"\1", text)  # then the files or classes, one by one
    return text.split(";")[0][:150]


def run(name: str, strategies: dict[str, st.SearchStrategy[Any]], check: Callable[..., Outcome], examples: int,
        minutes: float, chosen: int, tally: Tally) -> bool:
    """Up to `examples` examples within `minutes`, drawn from seed `chosen`; False on a property violation (printed)."""
    stop = time.monotonic() + minutes * 60

    @seed(chosen)
    @settings(max_examples=examples, deadline=None, database=None, phases=(Phase.generate, Phase.shrink),
              suppress_health_check=list(HealthCheck))
    @given(**strategies)
    def prop(**drawn: Any) -> None:
        if time.monotonic() > stop:
            raise BudgetSpent  # a BaseException: hypothesis stops at once, as for Ctrl-C, without shrinking
        with tempfile.TemporaryDirectory() as tmp:
            outcome = check(**drawn, tmp=Path(tmp))
        tally.add(outcome, repr(drawn)[:300])

    try:
        prop()
    except BudgetSpent:
        pass
    except Exception as violation:  # noqa: BLE001 (any failure of the property is reported, then exit 1)
        print(f"\n{name}: PROPERTY VIOLATED\n" + "".join(traceback.format_exception(violation)), flush=True)
        return False
    return True


def report(name: str, tally: Tally, seconds: float) -> None:
    print(f"\n{name}: {tally.runs:,} examples in {seconds / 60:.1f} min ({tally.runs / max(seconds, 1e-9) * 60:.0f} "
          f"a minute): {tally.registered:,} registered, {tally.runs - tally.registered:,} refused, "
          f"{len(tally.refusals)} kinds of refusal")
    for kind, count in tally.refusals.most_common():
        print(f"  {count:6,}  {kind}")
    print(f"  slowest example {tally.slowest[0]:.2f} s: {tally.slowest[1]}")
    if tally.traced_mib:
        print(f"  largest Python allocation peak of a traced run (bombs up to {max(BIG_MIB):,} MiB): "
              f"{tally.traced_mib:.1f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per property at most")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget for both properties")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis's seed (printed when drawn)")
    parser.add_argument("--only", choices=["folders", "archives"], default=None)
    args = parser.parse_args()
    chosen = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {chosen}; floor (python + imports) {peak_rss_mib():.0f} MiB peak RSS", flush=True)
    properties = {
        "folders": ({"classes": trees, "skip_bad": st.booleans()}, check_tree),
        "archives": ({"spec": archive_specs(BIG_MIB), "skip_bad": st.booleans()}, check_archive),
    }
    names = [args.only] if args.only else list(properties)
    held = True
    for name in names:
        strategies, check = properties[name]
        tally, start = Tally(), time.monotonic()
        held = run(name, strategies, check, args.examples, args.minutes / len(names), chosen, tally) and held
        report(name, tally, time.monotonic() - start)
        print(f"  peak RSS of this process so far (every example runs in it): {peak_rss_mib():.0f} MiB", flush=True)
    print("every property held" if held else "A PROPERTY WAS VIOLATED (above)")
    return 0 if held else 1


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
