"""The main window: the toolbar (tenants, datasets, jobs, the run), the Lab, Datasets, Hosts and Simulate tabs,
the task counts in the status bar. A folder or archive dropped anywhere on it is offered as a new dataset.

It composes dialogs and forwards the admin's requests to the controllers; it never writes to the store itself.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..controllers.hosts import HostsController
from ..controllers.lab_run import RunController
from ..controllers.registry import RegistryController
from ..lab.export import holds_files
from ..lab.runs import RunState
from .dataset_dialog import DatasetDialog
from .folder_dialog import ask_folder
from .datasets_view import DatasetsView
from .history_view import HistoryView
from .hosts_view import HostsView
from .job_dialog import JobDialog
from .jobs_view import JobsView
from .lab_snapshot import LabSnapshot
from .lab_status import LabStatus, SourceLabel
from .lab_view import LabView
from .run_dialog import RunDialog
from .simulate_panel import SimulatePanel
from .tenant_dialog import TenantDialog
from .theme import STATE_COLOURS, resource_path
from .usage_view import UsageView

Qt = QtCore.Qt
KEEP, STOP, STAY = "keep", "stop", "stay"  # the answers to "the lab is running: close?"
STOPPING, CANCELLING = "Stopping: running tasks finish first.", "Cancelling the running tasks…"
ARCHIVES = "Dataset archives (*.zip *.tar *.tar.gz *.tgz)"
README = Path(__file__).resolve().parents[2] / "README.md"  # beside the package in a source or editable install
ABOUT = ("<b>easeml-gui {version}</b><p>Shares a lab's GPUs among research groups: each tenant's models are "
         "picked by the engine, trained on the lab's devices, and the best one delivered.</p><p>Store: {store}</p>")


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class MainWindow(QtWidgets.QMainWindow):
    refreshRequested = QtCore.Signal()

    def __init__(self, title: str, store: str, registry: RegistryController, run: RunController,
                 hosts: HostsController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowIcon(QtGui.QIcon(resource_path("easeml-gui.svg")))
        self.setAcceptDrops(True)
        self.store = store
        self.registry = registry
        self.run = run
        self._shutdown: list[Callable[[], None]] = []
        self._closed = False
        self._select_dataset = ""  # registered just now: selected once the store shows it
        self.dialog: QtWidgets.QDialog | None = None  # the dialog open now (tests drive it)
        self.last_error = ""

        self.lab = LabView()
        self.datasets = DatasetsView(registry)
        self.hosts = HostsView(hosts)
        self.simulate = SimulatePanel()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.lab, "Lab")
        self.tabs.addTab(self.datasets, "Datasets")
        self.tabs.addTab(self.hosts, "Hosts")
        self.jobs = JobsView(registry)
        self.tabs.addTab(self.jobs, "Jobs")
        self.history = HistoryView(registry)
        self.tabs.addTab(self.history, "History")
        self.usage = UsageView(registry)
        self.tabs.addTab(self.usage, "Usage")
        self.tabs.addTab(self.simulate, "Simulate")
        self.setCentralWidget(self.tabs)

        self.lab_status = LabStatus()
        self.notice = QtWidgets.QLabel()
        self.notice.setObjectName("notice")
        # It takes the room left over (its full text in the tooltip): the task counts never get squeezed.
        self.notice.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.source = SourceLabel()
        self.source.set_source(store, refreshed=False)
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        bar.addWidget(self.lab_status)
        bar.addWidget(self.notice, 1)
        bar.addPermanentWidget(self.source)

        self._build_toolbar()
        self._build_menus()
        self._connect()
        self.resize(1440, 900)
        self.show_run(run.state)

    # ---- construction ---------------------------------------------------------------------------------------
    def _action(self, text: str, shortcut: str | QtGui.QKeySequence.StandardKey, tip: str,
                slot: Callable[[], None]) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        action.setShortcut(QtGui.QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)})")
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_toolbar(self) -> None:
        self.add_tenant_action = self._action("Add tenant…", "Ctrl+T", "add a research group that shares the lab",
                                              self.add_tenant)
        self.add_dataset_action = self._action("Add dataset…", "Ctrl+O", "a folder of class sub-folders; or drop "
                                               "a folder or archive on the window", self.add_dataset)
        self.add_archive_action = self._action("Add dataset archive…", "Ctrl+Shift+O",
                                               "a .zip / .tar / .tar.gz of class sub-folders", self.add_archive)
        self.add_job_action = self._action("Add job…", "Ctrl+J", "let a tenant's models be trained on a dataset",
                                           lambda: self.add_job(self.lab.tenants.selected_tenant()))
        self.start_action = self._action("Start lab", "Ctrl+R", "train the models the engine picks, in a "
                                         "background process that goes on when the window closes", self.start_run)
        self.stop_action = self._action("Stop", "Ctrl+.", "hand out no new tasks; running ones finish",
                                        lambda: self.stop_run(cancel=False))
        self.cancel_action = self._action("Cancel tasks", "Ctrl+Shift+.", "stop the lab now, cancelling running "
                                          "tasks (their work is lost)", lambda: self.stop_run(cancel=True))
        self.export_action = self._action("Export best model…", "Ctrl+E", "the selected tenant's best model",
                                          lambda: self.export_tenant(self.lab.tenants.selected_tenant()))
        self.refresh_action = self._action("Refresh", QtGui.QKeySequence.StandardKey.Refresh, "read the store now",
                                           self.refreshRequested.emit)  # in the View menu, not on the toolbar
        self.quit_action = self._action("Quit", "Ctrl+Q", "close the window (a running "
                                        "lab may go on in the background)", self.close)
        self.quit_action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)

        toolbar = QtWidgets.QToolBar("Lab")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.add_tenant_action)
        dataset_button = QtWidgets.QToolButton()
        dataset_button.setDefaultAction(self.add_dataset_action)
        dataset_menu = QtWidgets.QMenu(dataset_button)
        dataset_menu.addAction(self.add_dataset_action)
        dataset_menu.addAction(self.add_archive_action)
        dataset_button.setMenu(dataset_menu)
        dataset_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        toolbar.addWidget(dataset_button)
        toolbar.addAction(self.add_job_action)
        toolbar.addSeparator()
        toolbar.addAction(self.start_action)
        toolbar.addAction(self.stop_action)
        toolbar.addAction(self.cancel_action)
        spacer = QtWidgets.QWidget()
        spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        self.run_label = QtWidgets.QLabel()
        self.run_label.setTextFormat(Qt.TextFormat.RichText)
        toolbar.addWidget(self.run_label)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    def _build_menus(self) -> None:
        """File, Lab, View, Help: the toolbar's actions (the same objects, so shortcuts and enabled states are
        shared) and the ones without a button."""
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.add_dataset_action, self.add_archive_action, self.export_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        lab_menu = bar.addMenu("&Lab")
        lab_menu.addActions([self.add_tenant_action, self.add_job_action])
        lab_menu.addSeparator()
        lab_menu.addActions([self.start_action, self.stop_action, self.cancel_action])
        self.view_menu = bar.addMenu("&View")
        self.view_menu.aboutToShow.connect(self._list_views)  # the tabs as they are when it opens
        self._list_views()
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("Read me (how to use the window)", self.open_readme).setEnabled(README.is_file())
        help_menu.addAction(f"About {QtWidgets.QApplication.applicationName() or 'easeml-gui'}",
                            self.about).setMenuRole(QtGui.QAction.MenuRole.AboutRole)

    def _list_views(self) -> None:
        self.view_menu.clear()
        self.view_menu.addAction(self.refresh_action)
        self.view_menu.addSeparator()
        for index in range(self.tabs.count()):
            action = self.view_menu.addAction(self.tabs.tabText(index).replace("&", ""))
            action.setCheckable(True)
            action.setChecked(index == self.tabs.currentIndex())
            action.triggered.connect(lambda _=False, index=index: self.tabs.setCurrentIndex(index))

    def open_readme(self) -> None:
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(README)))

    def about(self) -> None:
        QtWidgets.QMessageBox.about(self, "About easeml-gui",
                                    ABOUT.format(version=__version__, store=html.escape(str(self.store))))

    def _connect(self) -> None:
        self.registry.changed.connect(self.refreshRequested)
        self.run.stateChanged.connect(self.show_run)
        self.run.failed.connect(lambda message: self.show_error("The lab's run", message))
        empty = self.lab.empty
        empty.demoRequested.connect(self.create_demo)
        empty.tenantRequested.connect(self.add_tenant)
        empty.datasetRequested.connect(self.add_dataset)
        actions = self.lab.tenant_actions
        actions.addRequested.connect(self.add_tenant)
        actions.changeRequested.connect(self.change_tenant)
        actions.pauseRequested.connect(self.set_paused)
        actions.archiveRequested.connect(self.archive_tenant)
        actions.jobRequested.connect(self.add_job)
        actions.exportRequested.connect(self.export_tenant)
        self.datasets.addRequested.connect(self.add_dataset)
        self.datasets.told.connect(self.tell)
        self.datasets.problem.connect(self.show_error)
        self.hosts.hosts.changed.connect(self.refreshRequested)
        self.hosts.told.connect(self.tell)
        self.jobs.told.connect(self.tell)
        self.jobs.problem.connect(self.show_error)
        self.hosts.problem.connect(self.show_error)

    # ---- the lab's data (GUI thread, from the poller's signals) ---------------------------------------------
    def show_snapshot(self, snapshot: LabSnapshot) -> None:
        if self._closed:  # a snapshot queued before the poller stopped: its views would start work on a closed pool
            return
        self.lab.show_snapshot(snapshot)
        self.datasets.set_rows(snapshot.datasets)
        self.hosts.set_rows(snapshot.hosts)
        self.history.set_rows(snapshot.history)
        self.jobs.set_rows(snapshot.jobs)
        if self._select_dataset in self.datasets.names():
            self.datasets.select(self._select_dataset)
            self._select_dataset = ""
        self.lab_status.set_counts(snapshot.counts, snapshot.regret_estimate)
        self.source.set_source(snapshot.source)
        self.usage.lab_changed()

    def show_read(self, at: float) -> None:
        self.source.set_read(at)
        self.lab.setEnabled(True)

    def show_stale(self, message: str) -> None:
        """A read failed after a lab was shown: it stays, greyed and marked out of date, never as the current one."""
        self.source.set_stale(message)
        self.lab.setEnabled(False)
        self.tell(f"The store could not be read ({message}); the lab shown is as it was at the last read.")

    def show_unavailable(self, message: str, empty: bool) -> None:
        self.lab.setEnabled(True)
        self.lab.show_unavailable(message, empty, self.store)
        self.datasets.set_rows(())
        self.hosts.set_rows(())
        self.lab_status.set_counts({}, None)
        self.source.set_source(self.store)

    def show_run(self, state: RunState) -> None:
        self.start_action.setEnabled(not state.running)
        self.stop_action.setEnabled(state.running)
        self.cancel_action.setEnabled(state.running)
        if state.running:
            dot = STATE_COLOURS["done"]
            self.run_label.setText(f"<span style='color:{dot}'>●</span> lab running (process {state.pid})  ")
            self.run_label.setToolTip("a background process trains; closing the window does not stop it")
        else:
            said = last_line(state.log_tail)
            if self.notice.text() in (STOPPING, CANCELLING):
                self.tell("The lab stopped.")
            self.run_label.setText(f"<span style='color:{STATE_COLOURS['queued']}'>●</span> lab not running  ")
            self.run_label.setToolTip(f"the last run said: {said}" if said else "start it with Start lab (Ctrl+R)")

    def tell(self, message: str) -> None:
        self.notice.setText(message)
        self.notice.setToolTip(message)

    def show_error(self, title: str, message: str) -> None:
        """A refusal from the lab, in its own words (non-blocking: the window keeps updating behind it)."""
        self.last_error = message
        self.tell("")
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def confirm(self, title: str, question: str, yes: str) -> bool:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, title, question,
                                    QtWidgets.QMessageBox.StandardButton.Cancel, self)
        go = box.addButton(yes, QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is go

    # ---- tenants --------------------------------------------------------------------------------------------
    def _open(self, dialog: QtWidgets.QDialog, done: Callable[[object], None] | None = None) -> QtWidgets.QDialog:
        if done is not None:
            dialog.succeeded.connect(done)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.destroyed.connect(lambda: setattr(self, "dialog", None) if self.dialog is dialog else None)
        dialog.open()
        return dialog

    def _tenant_row(self, name: str):
        return next((row for row in self.lab.tenants.source_model.rows() if row.name == name), None)

    def add_tenant(self) -> None:
        self._open(TenantDialog(self.registry, parent=self),
                   lambda tenant: self.tell(f"Added tenant {tenant.name}. Give it a job next (Ctrl+J)."))

    def change_tenant(self, name: str) -> None:
        row = self._tenant_row(name)
        if row is not None:
            self._open(TenantDialog(self.registry, row, parent=self),
                       lambda tenant: self.tell(f"Tenant {tenant.name} changed; a running lab picks it up."))

    def set_paused(self, name: str, paused: bool) -> None:
        operation = self.registry.set_paused(name, paused)
        operation.finished.connect(lambda _: self.tell(
            f"Paused {name}: it gets no new tasks; running ones finish." if paused else f"Resumed {name}."))
        operation.failed.connect(lambda message: self.show_error("Tenant", message))

    def archive_tenant(self, name: str) -> None:
        if not self.confirm("Archive tenant", f"Archive {name}? It leaves the lab and gets no more tasks; its "
                            "history stays and still informs other tenants' predictions.", "Archive"):
            return
        operation = self.registry.archive_tenant(name)
        operation.finished.connect(lambda _: self.tell(f"Archived {name}."))
        operation.failed.connect(lambda message: self.show_error("Tenant", message))

    def export_tenant(self, name: str) -> None:
        if not name:
            self.tell("Select a tenant first, then export its best model.")
            return
        folder = ask_folder(self, f"Export {name}'s best model into", "Export here")
        if folder is not None:
            self.export_to(name, folder)  # a new folder is made by the export

    def export_to(self, name: str, folder: Path) -> None:
        """As `export --force` after asking, where the folder holds files: a previous export is replaced whole."""
        if holds_files(folder) and not self.confirm(
                "Export", f"{folder} is not empty. Replace the export in it? Its model, model card and loader are "
                "replaced; the folder's other files stay.", "Replace"):
            return
        self.tell(f"Exporting {name}'s best model…")
        operation = self.registry.export_best(name, folder, replace=True)
        operation.finished.connect(lambda exported: self.tell(
            f"Exported {exported.tenant}'s {exported.model} to {exported.model_file} with its model card."))
        operation.failed.connect(lambda message: self.show_error("Export", message))

    # ---- datasets -------------------------------------------------------------------------------------------
    def add_dataset(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "A dataset folder (one sub-folder per class)")
        if folder:
            self.register_dataset(Path(folder))

    def add_archive(self) -> None:
        name, _ = QtWidgets.QFileDialog.getOpenFileName(self, "A dataset archive", "", ARCHIVES)
        if name:
            self.register_dataset(Path(name))

    def register_dataset(self, source: Path) -> DatasetDialog:
        """The registration dialog for `source` (a drop or a pick); Register starts it."""
        taken = set(self.datasets.names())
        return self._open(DatasetDialog(self.registry, source, taken, parent=self), self._dataset_registered)

    def _dataset_registered(self, info) -> None:
        name = Path(info.root).name
        self._select_dataset = name
        self.tabs.setCurrentWidget(self.datasets)
        skipped = f"; {len(info.skipped)} unusable files left out" if info.skipped else ""
        self.tell(f"Registered {name}: {len(info.classes)} classes, {info.num_images:,} images{skipped}.")

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QtGui.QDragMoveEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        if len(paths) > 1:
            self.tell(f"Dropped {len(paths)} items: registering {paths[0].name}; drop the others one at a time.")
        self.register_dataset(paths[0])

    # ---- jobs and the demo lab ------------------------------------------------------------------------------
    def add_job(self, tenant: str = "") -> None:
        tenants = [row.name for row in self.lab.tenants.source_model.rows()]
        self._open(JobDialog(self.registry, tenants, self.datasets.names(), tenant, parent=self),
                   lambda new: self.tell(f"Job {new.job.id} added: {new.job.tenant} on {new.job.dataset}, "
                                         f"{len(new.arms)} models. Start the lab (Ctrl+R) to train them."))

    def create_demo(self) -> None:
        operation = self.registry.create_demo()
        operation.progress.connect(self.lab.empty.show_progress)
        operation.ended.connect(lambda: self.lab.empty.show_progress(0, -1, ""))
        operation.finished.connect(lambda _: self.tell("The demo lab is ready: Start lab (Ctrl+R) trains it."))
        operation.failed.connect(lambda message: self.show_error("Demo lab", message))

    # ---- the run --------------------------------------------------------------------------------------------
    def start_run(self) -> None:
        """Start lab: the dialog chooses the devices (this machine, ready hosts, all), the policy and a task limit."""
        self._open(RunDialog(self.run, self.hosts.rows, parent=self), lambda _: self.tell(
            "The lab runs in the background; Stop lets running tasks finish."))

    def stop_run(self, cancel: bool = False) -> None:
        self.run.stop(cancel).finished.connect(lambda _: self._stopping(cancel))

    def _stopping(self, cancel: bool) -> None:
        if self.run.running:  # a run that ended before the request was answered is not "stopping" any more
            self.tell(CANCELLING if cancel else STOPPING)

    # ---- lifetime -------------------------------------------------------------------------------------------
    def on_shutdown(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the window closes (stop threads, close the store)."""
        self._shutdown.append(callback)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.simulate.shutdown()
        for callback in reversed(self._shutdown):
            callback()

    def close_question(self) -> str:
        """The lab runs: keep it running (KEEP), stop it (STOP), or do not close (STAY)."""
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, "The lab is running",
                                    "The lab trains in a background process of its own. Keep it running after the "
                                    "window closes? (Reopen the window any time to watch it.)", parent=self)
        keep = box.addButton("Keep it running", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Stop the lab", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        return KEEP if box.clickedButton() is keep else STOP if box.clickedButton() is stop else STAY

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._closed and self.run.running:
            answer = self.close_question()
            if answer == STAY:
                event.ignore()
                return
            if answer == STOP:
                self.stop_run(cancel=False)  # a stop request on the pool: shutdown waits for it to be sent
        self.shutdown()
        super().closeEvent(event)
