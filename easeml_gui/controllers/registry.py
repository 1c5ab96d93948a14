"""The lab's registry from the window: tenants, datasets, jobs, the demo lab, exports. Each call starts an
Operation on the runner's pool, which opens the store there (one connection per operation, on its thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6 import QtCore, QtGui

from ..lab import datasets, demo, export, history, jobs, tenants, weights
from ..lab.errors import as_lab_error
from ..lab.stores import open_reader, open_writer
from ..lab.usage import Period, usage as read_usage
from .operations import Operation, Runner


class RegistryController(QtCore.QObject):
    """changed() after every write that finished, so the window can re-read the store at once."""

    changed = QtCore.Signal()

    def __init__(self, runner: Runner, db: Path, data_dir: Path, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.db = Path(db)
        self.data_dir = Path(data_dir)

    def _write(self, what: str, work) -> Operation:
        def run(operation: Operation):
            with open_writer(self.db) as store:
                return work(store, operation)

        operation = self.runner.submit(what, run)
        operation.finished.connect(lambda _result: self.changed.emit())
        return operation

    def _read(self, what: str, work) -> Operation:
        def run(operation: Operation):
            with open_reader(self.db) as store:
                return work(store, operation)

        return self.runner.submit(what, run)

    # ---- tenants --------------------------------------------------------------------------------------------
    def add_tenant(self, name: str, weight: float, quota_hours: float | None) -> Operation:
        return self._write(f"adding tenant {name}", lambda store, _: tenants.add(store, name, weight, quota_hours))

    def change_tenant(self, name: str, weight: float, quota_hours: float | None) -> Operation:
        return self._write(f"changing tenant {name}", lambda store, _: tenants.change(
            store, name, weight=weight, quota_hours=quota_hours, no_quota=quota_hours is None))

    def set_paused(self, name: str, paused: bool) -> Operation:
        return self._write(f"{'pausing' if paused else 'resuming'} tenant {name}",
                           lambda store, _: tenants.set_paused(store, name, paused))

    def archive_tenant(self, name: str) -> Operation:
        return self._write(f"archiving tenant {name}", lambda store, _: tenants.archive(store, name))

    def export_best(self, tenant: str, out: Path, *, replace: bool = False) -> Operation:
        """replace: even into a folder that holds files (the previous export's are replaced)."""
        return self._read(f"exporting {tenant}'s best model",
                          lambda store, _: export.export_best(store, tenant, out, replace=replace))

    # ---- datasets -------------------------------------------------------------------------------------------
    def register_dataset(self, name: str, source: Path, *, skip_bad: bool = False) -> Operation:
        """progress(done, total, stage) per file; cancel() stops it with nothing registered."""
        return self._write(f"registering dataset {name}", lambda store, operation: datasets.register(
            store, name, Path(source), self.data_dir, skip_bad=skip_bad, progress=operation.report,
            cancel=operation.cancel_requested))

    def dataset_preview(self, name: str, per_class: int = 6) -> Operation:
        """finished({class: [QImage, ...]}): a few decoded images per class (QImage, not QPixmap: it may be
        made off the GUI thread)."""
        def load(store, operation: Operation) -> dict[str, list[QtGui.QImage]]:
            with as_lab_error():
                picked = datasets.samples(store.dataset(name), per_class)
            return {label: [QtGui.QImage(str(path)) for path in paths] for label, paths in picked.items()}

        return self._read(f"reading images of {name}", load)

    def remove_dataset(self, name: str) -> Operation:
        """finished({table: rows}): the history that kept it archived; {} when it was deleted with its images.
        Refused (failed) while an active job trains on it."""
        return self._write(f"removing dataset {name}", lambda store, _: datasets.remove(store, name, self.data_dir))

    def cancel_job(self, job_id: int) -> Operation:
        """Its running tasks cancelled (by the run), queued ones dropped, its history kept."""
        return self._write(f"cancelling job {job_id}", lambda store, _: jobs.cancel(store, job_id))

    # ---- history ------------------------------------------------------------------------------------------
    def task_detail(self, task_id: str) -> Operation:
        """finished(lab.history.TaskDetail): a finished task's epochs, last progress line, error and log tail."""
        def read(store, _operation: Operation) -> history.TaskDetail:
            with as_lab_error():
                return history.task_detail(store, task_id)

        return self._read(f"reading task {task_id}", read)

    # ---- jobs -----------------------------------------------------------------------------------------------
    def fitting_arms(self, dataset: str, image_size: int | None, weights: str) -> Operation:
        """finished(lab.jobs.Fitting): the arms that fit, with their predicted cost."""
        return self._read(f"matching models to {dataset}", lambda store, _: jobs.fitting(
            store, dataset, image_size=image_size, weights=weights))

    def latest_dataset(self, tenant: str) -> Operation:
        """finished(str | None): the dataset of the tenant's latest job (None before its first job)."""
        return self._read(f"reading {tenant}'s jobs", lambda store, _: next(
            (job.dataset for job in reversed(store.jobs(tenant=tenant))), None))

    def add_job(self, tenant: str, dataset: str, models: Sequence[str], *, epochs: int | None,
                image_size: int | None, augment: Sequence[str] | None) -> Operation:
        return self._write(f"adding a job for {tenant}", lambda store, _: jobs.add(
            store, tenant, dataset, models=list(models), epochs=epochs, image_size=image_size, augment=augment))

    # ---- pretrained weights (the torch hub cache, not the store) --------------------------------------------
    def weights(self) -> Operation:
        """finished({architecture: WeightsEntry}): the ImageNet weights the lab has."""
        return self.runner.submit("reading the lab's ImageNet weights", lambda _: weights.available())

    def fetch_weights(self, architectures: Sequence[str]) -> Operation:
        """progress(n, total, "fetching ARCH") per architecture; cancel() stops the download running."""
        return self.runner.submit("fetching ImageNet weights", lambda operation: weights.fetch(
            list(architectures), operation.report, operation.cancel_requested))

    def import_weights(self, file: Path, architecture: str) -> Operation:
        """finished(WeightsEntry) once `file` loaded into `architecture`; cancel() stops the check."""
        return self.runner.submit(f"importing {file.name}", lambda operation: weights.import_file(
            Path(file), architecture, operation.cancel_requested))

    # ---- accounting -----------------------------------------------------------------------------------------
    def usage(self, by: Period, since: float | None, until: float | None) -> Operation:
        """finished(lab.usage.UsageTable): device hours per tenant per day or week within [since, until)."""
        return self._read(f"reading the lab's usage by {by}", lambda store, _: read_usage(
            store, by=by, since=since, until=until))

    # ---- the demo lab ---------------------------------------------------------------------------------------
    def create_demo(self) -> Operation:
        """progress(n, 4, tenant) as each demo tenant is registered."""
        def create(store, operation: Operation) -> None:
            made: list[str] = []

            def on_tenant(name: str, _info) -> None:
                made.append(name)
                operation.report(len(made), len(demo.DEMO_TENANTS), name)

            operation.report(0, len(demo.DEMO_TENANTS), "")
            demo.create(store, self.data_dir, on_tenant)

        return self._write("creating the demo lab", create)
