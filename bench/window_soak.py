"""Does the window show the store's lab, whatever writes it? A model-based soak of the real window.

The real main window (offscreen) on a real store, a real `easeml-gui run` training small classical arms, and a
random sequence of steps: the window's own actions (tenant add through its dialog, pause/resume, change, archive,
host add, job add, stop and start the run) interleaved with CLI writes from other processes (tenants, hosts, jobs).
After each step every table the window shows (tenants with weight/quota/paused/tasks done, hosts, datasets, task
counts) is compared with a fresh read of the store until they agree; a step that does not agree within
--lag-limit seconds is a disagreement. Prints disagreements per 1,000 steps (goal 0) and the lag distribution.

    PYTHONPATH=. .venv/bin/python bench/window_soak.py --steps 1000 --tenants 50
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore  # noqa: E402  (PySide6 before pyqtgraph)

from easeml_gui import app as gui  # noqa: E402
from easeml_gui.lab import datasets, jobs, tenants  # noqa: E402
from easeml_gui.lab.errors import LabError  # noqa: E402
from easeml_gui.lab.read_model import dataset_listings, tenant_infos  # noqa: E402
from easeml_gui.lab.stores import open_reader, open_writer  # noqa: E402
from easeml_gui.training.digits import export_digits  # noqa: E402

EXE = Path(sys.executable).parent / "easeml-gui"
MODELS = ("svc", "logistic_regression")


def window_tables(window) -> dict[str, Any]:
    """Every table the window shows, as comparable plain data."""
    return {
        "tenants": sorted((r.name, r.weight, r.paused, r.quota_seconds, r.tasks_done)
                          for r in window.lab.tenants.source_model.rows()) if window.lab.snapshot else [],
        "hosts": sorted(r.name for r in window.hosts.rows),
        "datasets": sorted(window.datasets.names()),
        "done": window.lab.snapshot.counts.get("done", 0) if window.lab.snapshot else 0,
    }


def store_tables(db: Path) -> dict[str, Any]:
    """The same tables from a fresh read of the store (a new connection, as a CLI command makes; one snapshot)."""
    with open_reader(db) as reader, reader.snapshot():
        tenants_now, hosts_now, datasets_now = tenant_infos(reader), reader.hosts(), dataset_listings(reader)
        done = reader.status()["tasks"]["done"]
    return {
        "tenants": sorted((t.name, t.weight, t.paused, None if t.quota_hours is None else t.quota_hours * 3600.0,
                           t.tasks_done) for t in tenants_now),
        "hosts": sorted(h.name for h in hosts_now),
        "datasets": sorted(d.name for d in datasets_now),
        "done": done,
    }


@dataclass
class SoakReport:
    steps: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)
    # (lag, step, action, the machine's 1-minute load average then): is a long lag the window's or a busy machine's?
    slowest: list[tuple[float, int, str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lags = sorted(self.lags) or [0.0]
        late = {d["step"] for d in self.disagreements}
        agreed = [lag for step, lag in enumerate(self.lags, start=1) if step not in late] or [0.0]
        return {"steps": self.steps, "disagreements": len(self.disagreements),
                "disagreements_per_1000_steps": 1000.0 * len(self.disagreements) / max(self.steps, 1),
                "lag_median_s": statistics.median(lags), "lag_p99_s": lags[int(0.99 * (len(lags) - 1))],
                "lag_max_s": lags[-1], "lag_max_agreeing_s": max(agreed), "actions": self.actions,
                "slowest_steps": [{"lag_s": lag, "step": step, "after": what, "load_average": load}
                                  for lag, step, what, load in sorted(self.slowest, reverse=True)[:10]],
                "cpu_cores": os.cpu_count()}


class WindowSoak:
    """Drives a real window on `db` beside CLI writers and a real run; compare() after each step."""

    def __init__(self, db: Path, rng: random.Random, tenants_n: int, lag_limit: float, refresh_ms: int = 500):
        self.db, self.rng, self.lag_limit = db, rng, lag_limit
        self.names = [f"group-{i:02d}" for i in range(tenants_n)]
        self.app = gui.application()
        self.window = gui.build_window(db, refresh_ms=refresh_ms)
        self.window.confirm = lambda *_: True  # the admin says yes to "archive?"
        self.window.close_question = lambda: "stop"
        self.window.show()
        self.report = SoakReport()
        self.run_started = False

    # ---- the steps --------------------------------------------------------------------------------------------
    def cli(self, *args: str) -> None:
        subprocess.run([str(EXE), "--db", str(self.db), *args], capture_output=True, text=True, timeout=120)

    def known_tenants(self) -> list[str]:
        return [row[0] for row in store_tables(self.db)["tenants"]]

    def step(self) -> str:
        rng, window = self.rng, self.window
        present = self.known_tenants()
        name = rng.choice(self.names)
        target = rng.choice(present) if present else name
        actions: list[tuple[str, Callable[[], object]]] = [
            ("window: add tenant", lambda: self.add_tenant_in_dialog(name)),
            ("window: pause/resume", lambda: window.set_paused(target, rng.random() < 0.5)),
            ("window: change weight", lambda: window.registry.change_tenant(target, rng.choice((0.5, 1.0, 2.0)),
                                                                            rng.choice((None, 1.0, 5.0)))),
            ("window: archive tenant", lambda: window.archive_tenant(target)),
            ("window: add host", lambda: window.hosts.hosts.add(f"box{rng.randrange(6)}", "127.0.0.1:1")),
            ("window: add job", lambda: window.registry.add_job(target, "digits", list(MODELS), epochs=None,
                                                                image_size=None, augment=None)),
            ("window: stop/start run", self.toggle_run),
            ("cli: tenant add", lambda: self.cli("tenant", "add", name)),
            ("cli: pause/resume", lambda: self.cli("tenant", rng.choice(("pause", "resume")), target)),
            ("cli: tenant set", lambda: self.cli("tenant", "set", target, "--weight", rng.choice(("1", "3")))),
            ("cli: host add", lambda: self.cli("host", "add", f"box{rng.randrange(6)}", "--address", "127.0.0.1:1")),
            ("cli: host remove", lambda: self.cli("host", "remove", f"box{rng.randrange(6)}")),
            ("cli: job add", lambda: self.cli("job", "add", "--tenant", target, "--dataset", "digits",
                                              "--models", ",".join(MODELS))),
        ]
        what, act = rng.choice(actions)
        operation = act()
        if isinstance(operation, QtCore.QObject) and hasattr(operation, "ended"):
            self.wait_for(lambda: not operation.running, 60.0)  # the window's write finished (or failed)
        self.report.actions[what] = self.report.actions.get(what, 0) + 1
        return what

    def add_tenant_in_dialog(self, name: str) -> None:
        self.window.add_tenant()
        dialog = self.window.dialog
        dialog.name.setText(name)
        dialog.go.click()
        self.wait_for(lambda: not dialog.isVisible(), 30.0)
        if dialog.isVisible():  # refused (the name exists): the admin cancels
            dialog.reject()

    def toggle_run(self) -> None:
        run = self.window.run
        if run.running:
            operation = run.stop()
            self.wait_for(lambda: not run.running, 120.0)
        else:
            operation = run.start()
            self.wait_for(lambda: run.running or not operation.running, 60.0)

    # ---- comparing ----------------------------------------------------------------------------------------------
    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)

    def wait_for(self, condition: Callable[[], bool], seconds: float) -> None:
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            self.pump(0.02)

    def compare(self, what: str) -> None:
        """Wait until the window shows the store's lab; a lag past lag_limit is a disagreement."""
        start = time.monotonic()
        shown = truth = None
        while time.monotonic() - start < self.lag_limit:
            try:
                truth = store_tables(self.db)
            except LabError:
                truth = None
            shown = window_tables(self.window)
            if shown == truth:
                break
            self.pump(0.05)
        lag = time.monotonic() - start
        self.report.steps += 1
        self.report.lags.append(lag)
        self.report.slowest = sorted([*self.report.slowest, (lag, self.report.steps, what, os.getloadavg()[0])],
                                     reverse=True)[:10]
        if shown != truth:
            self.report.disagreements.append({"step": self.report.steps, "after": what, "window": shown,
                                              "store": truth, "status_bar": self.window.source.text()})

    def close(self) -> None:
        self.window.close()
        self.window.shutdown()


def build_lab(db: Path, data_dir: Path, tenants_n: int, jobs_n: int) -> None:
    """`tenants_n` tenants, the digits registered, the first `jobs_n` tenants with a job of small classical arms."""
    source = export_digits(data_dir / "digits-source", per_class=30)
    with open_writer(db) as store:
        datasets.register(store, "digits", source, data_dir)
        for i in range(tenants_n):
            tenants.add(store, f"group-{i:02d}")
        for i in range(jobs_n):
            jobs.add(store, f"group-{i:02d}", "digits", models=list(MODELS))


def soak(db: Path, steps: int, tenants_n: int, seed: int, lag_limit: float,
         on_step: Callable[[int, str], None] | None = None, max_seconds: float = float("inf")) -> SoakReport:
    """`steps` steps, or as many as `max_seconds` allow (the report counts the steps done)."""
    rng = random.Random(seed)
    driver = WindowSoak(db, rng, tenants_n, lag_limit)
    run = subprocess.Popen([str(EXE), "--db", str(db), "run"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        driver.wait_for(lambda: driver.window.lab.loaded, 30.0)
        deadline = time.monotonic() + max_seconds
        for number in range(steps):
            if time.monotonic() > deadline:
                break
            what = driver.step()
            driver.compare(what)
            if on_step is not None:
                on_step(number, what)
    finally:
        driver.close()
        run.terminate()
        run.wait(timeout=120)
    return driver.report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=10, help="tenants with a job when the soak starts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lag-limit", type=float, default=10.0, help="seconds after which a step disagrees")
    parser.add_argument("--max-minutes", type=float, default=float("inf"), help="stop stepping after this long")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "lab.sqlite"
        build_lab(db, Path(folder), args.tenants, args.jobs)
        started = time.monotonic()
        report = soak(db, args.steps, args.tenants, args.seed, args.lag_limit,
                      on_step=lambda n, what: n % 50 == 0 and print(f"step {n}: {what}", flush=True),
                      max_seconds=args.max_minutes * 60)
        summary = {**report.summary(), "tenants": args.tenants, "seconds": time.monotonic() - started}
    print(json.dumps(summary, indent=2))
    for disagreement in report.disagreements[:5]:
        print("disagreement:", json.dumps(disagreement, default=str))
    if args.json is not None:
        args.json.write_text(json.dumps({**summary, "disagreement_samples": report.disagreements[:20]}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
