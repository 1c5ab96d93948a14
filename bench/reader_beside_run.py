"""Does a reader beside `easeml-gui run` slow it or see "database is locked"? Measured with real training.

The same small lab (scikit-learn's digits, real worker subprocesses) runs to the end several times, alternately
alone and with a reader process polling the store as the GUI does (status with the GP upper bounds, every
observation and the recent decisions) at --hz. Prints each run's wall time, the median ratio with/without the
reader (1.00 = no slow-down), the reader's latencies and how many of its reads failed.

    python bench/reader_beside_run.py [--rounds 2] [--hz 20] [--models mobilenet_v3_small,resnet18]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from easeml_gui.training.digits import export_digits

# The GUI poller's reads, from another process, until the file STOP appears; prints its figures as JSON.
READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from easeml_gui.live_lab import lab_upper_bounds
    from easeml_gui.store import LabStore, StoreError

    db, stop, period = sys.argv[1], Path(sys.argv[2]), 1.0 / float(sys.argv[3])
    latencies, errors = [], []
    with LabStore.open_readonly(db) as reader:
        while not stop.exists():
            start = time.perf_counter()
            try:
                reader.status(lab_upper_bounds(reader))
                reader.observations()
                reader.decisions(limit=20)
            except StoreError as error:
                errors.append(str(error))
            latencies.append(time.perf_counter() - start)
            time.sleep(max(0.0, period - (time.perf_counter() - start)))
    print(json.dumps({"latencies": latencies, "errors": errors}))
""")


def easeml(db: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "easeml_gui", "--db", str(db), *args], check=True, capture_output=True)


def make_lab(folder: Path, source: Path, models: str) -> Path:
    db = folder / "lab.sqlite"
    easeml(db, "dataset", "add", str(source), "--name", "digits")
    for tenant in ("ana", "ben"):
        easeml(db, "tenant", "add", tenant)
        easeml(db, "job", "add", "--tenant", tenant, "--dataset", "digits", "--models", models, "--epochs", "2",
               "--image-size", "16")
    return db


def timed_run(db: Path, hz: float | None) -> tuple[float, dict | None]:
    reader = None
    stop = db.with_name("STOP")
    if hz:
        reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(stop), str(hz)], stdout=subprocess.PIPE,
                                  text=True)
    start = time.perf_counter()
    easeml(db, "run")
    seconds = time.perf_counter() - start
    if reader is None:
        return seconds, None
    stop.touch()
    return seconds, json.loads(reader.communicate()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hz", type=float, default=20.0)
    parser.add_argument("--models", default="mobilenet_v3_small,resnet18")
    args = parser.parse_args()
    alone, beside, latencies, errors = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        source = export_digits(Path(tmp) / "source", per_class=40)
        for round_ in range(args.rounds):
            for hz in (None, args.hz) if round_ % 2 == 0 else (args.hz, None):
                folder = Path(tmp) / f"run{round_}-{hz or 0}"
                folder.mkdir()
                seconds, reads = timed_run(make_lab(folder, source, args.models), hz)
                (beside if hz else alone).append(seconds)
                if reads:
                    latencies += reads["latencies"]
                    errors += reads["errors"]
                print(f"  round {round_ + 1}: run {'with a reader' if hz else 'alone':13} {seconds:6.1f} s", flush=True)
    ratio = statistics.median(beside) / statistics.median(alone)
    latencies.sort()
    print(f"reader beside run ({args.hz:g} Hz, {len(latencies)} reads): run time with / without = {ratio:.2f} "
          f"(median of {args.rounds}); reader p50 {latencies[len(latencies) // 2] * 1e3:.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.1f} ms; failed reads: {len(errors)}"
          + (f" (first: {errors[0]})" if errors else ""))


if __name__ == "__main__":
    main()
