"""The Simulate tab: replay scheduling policies on a quality matrix (a CSV or a synthetic spec) in a worker
thread, plot global regret over time per policy as runs finish, and tabulate time-to-target per policy."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..engine.metrics import speedup
from ..engine.policies import BASELINES, DEFAULT_POLICY, get_policy, policy_names
from ..engine.simulate import RunTrace
from .series_plot import SeriesPlot
from .simulate_series import last_time, regret_curve, summarize
from .simulate_worker import CANCELLED, COMPLETED, SimulationRequest, SimulationWorker
from .theme import ColourMap, heading, hint, scheme, swatch

Qt = QtCore.Qt
DEFAULT_MATRIX = "synthetic:rows=40,arms=20,seed=0,spread=100"
DEFAULT_POLICIES = ("round-robin", "random", DEFAULT_POLICY)
TARGETS = (0.05, 0.02, 0.01)
BASELINE = "round-robin"


class SimulatePanel(QtWidgets.QWidget):
    simulationFinished = QtCore.Signal(str)  # COMPLETED | CANCELLED | FAILED, once the worker thread ended

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.colours = ColourMap()
        for name in (*BASELINES, DEFAULT_POLICY):  # stable colours: baselines first, then the lab's policy
            self.colours.colour(name)
        self._thread: QtCore.QThread | None = None
        self._worker: SimulationWorker | None = None
        self._outcome = ""
        self._traces: dict[str, list[RunTrace]] = {}
        self._request: SimulationRequest | None = None

        # ---- the form -----------------------------------------------------------------------------------
        self.matrix = QtWidgets.QLineEdit(DEFAULT_MATRIX)
        self.matrix.setCursorPosition(0)
        self.matrix.setToolTip("a quality CSV (dataset,model1,model2,...; accuracies in [0, 1]) or "
                               "synthetic:rows=R,arms=K,seed=S,spread=X")
        self.cost = QtWidgets.QLineEdit()
        self.cost.setPlaceholderText("optional: seconds per run (CSV)")
        self.cost.setToolTip("a cost CSV of the same shape; without it every run takes 1 s (a synthetic matrix "
                             "brings its own costs)")
        self.tenants = self._spin(8, 1, 100000, "tenants drawn from the matrix's rows per seed; the rest is history")
        self.devices = self._spin(2, 1, 4096, "simulated devices (GPUs)")
        self.seeds = self._spin(5, 1, 1000, "seeded splits per policy; curves show the median over seeds")
        self.policies = QtWidgets.QListWidget()
        self.policies.setToolTip("the policies to compare")
        for name in (n for n in policy_names() if n != "default"):
            label = f"{name}  (the lab's default)" if name == DEFAULT_POLICY else name
            item = QtWidgets.QListWidgetItem(swatch(self.colours.colour(name), 11), label)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(get_policy(name).description)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in DEFAULT_POLICIES else Qt.CheckState.Unchecked)
            self.policies.addItem(item)
        self.policies.setMinimumHeight(self.policies.sizeHintForRow(0) * min(self.policies.count(), 8) + 8)
        self.run_button = QtWidgets.QPushButton("Run simulation")
        self.run_button.setObjectName("primary")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("no run yet")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message = hint("")
        self.message.setVisible(False)

        form = QtWidgets.QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(8)
        form.addRow("Matrix", self._with_browse(self.matrix, "Quality matrix"))
        form.addRow("Cost", self._with_browse(self.cost, "Cost matrix"))
        form.addRow("Tenants", self.tenants)
        form.addRow("Devices", self.devices)
        form.addRow("Seeds", self.seeds)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        left = QtWidgets.QVBoxLayout()
        left.setSpacing(10)
        left.addWidget(heading("Replay a lab"))
        left.addWidget(hint("Each seed draws the tenants from the matrix's rows; the other rows are the history "
                            "the prior learns from. Time is simulated device time."))
        left.addLayout(form)
        left.addWidget(QtWidgets.QLabel("Policies"))
        left.addWidget(self.policies, 1)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.message)
        left_box = QtWidgets.QWidget()
        left_box.setLayout(left)
        left_box.setFixedWidth(340)

        # ---- the results --------------------------------------------------------------------------------
        self.plot = SeriesPlot("time (s)", "global regret", self.colours, legend="top-right",
                               placeholder="Run a simulation to compare policies")
        self.plot.setMinimumHeight(260)
        self.table = QtWidgets.QTableWidget(0, 3 + len(TARGETS))
        headers = ["policy", "runs", *(f"time to ≤ {t:g} (s)" for t in TARGETS), "cumulative regret"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.horizontalHeaderItem(0).setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column in range(1, len(headers)):
            self.table.horizontalHeaderItem(column).setTextAlignment(
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.horizontalHeaderItem(len(headers) - 1).setToolTip("area under the median seed's regret curve")
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setHighlightSections(False)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setFixedHeight(26 * 5 + 32)
        right = QtWidgets.QVBoxLayout()
        right.setSpacing(8)
        title = QtWidgets.QHBoxLayout()
        title.addWidget(heading("Global regret over time"))
        note = hint("median over seeds; band: 25–75 % of seeds")
        note.setWordWrap(False)
        title.addWidget(note)
        title.addStretch(1)
        right.addLayout(title)
        right.addWidget(self.plot, 1)
        right.addWidget(self.table)
        self.table_note = hint(f"Times are medians over seeds (— = not reached); speed-ups are against {BASELINE}.")
        right.addWidget(self.table_note)

        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(20)
        layout.addWidget(left_box)
        layout.addLayout(right, 1)

    # ---- helpers --------------------------------------------------------------------------------------------
    @staticmethod
    def _spin(value: int, low: int, high: int, tip: str) -> QtWidgets.QSpinBox:
        spin = QtWidgets.QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        spin.setMaximumWidth(110)
        return spin

    def _with_browse(self, edit: QtWidgets.QLineEdit, title: str) -> QtWidgets.QWidget:
        button = QtWidgets.QToolButton()
        button.setText("…")
        button.setToolTip("choose a CSV file")
        button.clicked.connect(lambda: self._browse(edit, title))
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(edit, 1)
        row.addWidget(button)
        box = QtWidgets.QWidget()
        box.setLayout(row)
        return box

    def _browse(self, edit: QtWidgets.QLineEdit, title: str) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, title, "", "CSV files (*.csv);;All files (*)")
        if path:
            edit.setText(path)

    # ---- the run --------------------------------------------------------------------------------------------
    def configure(self, matrix: str | None = None, *, cost: str | None = None, tenants: int | None = None,
                  devices: int | None = None, seeds: int | None = None,
                  policies: tuple[str, ...] | None = None) -> None:
        for edit, text in ((self.matrix, matrix), (self.cost, cost)):
            if text is not None:
                edit.setText(text)
                edit.setCursorPosition(0)
        for spin, value in ((self.tenants, tenants), (self.devices, devices), (self.seeds, seeds)):
            if value is not None:
                spin.setValue(value)
        if policies is not None:
            for row in range(self.policies.count()):
                item = self.policies.item(row)
                checked = item.data(Qt.ItemDataRole.UserRole) in policies
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def request(self) -> SimulationRequest:
        chosen = tuple(self.policies.item(r).data(Qt.ItemDataRole.UserRole) for r in range(self.policies.count())
                       if self.policies.item(r).checkState() == Qt.CheckState.Checked)
        return SimulationRequest(self.matrix.text().strip(), self.cost.text().strip() or None, self.tenants.value(),
                                 self.devices.value(), self.seeds.value(), chosen)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self.running:
            return
        self._request = request = self.request()
        self._traces = {p: [] for p in request.policies}
        self._outcome = ""
        self.plot.set_series({})
        self.table.setRowCount(0)
        self._say("")
        self.progress.setFormat("%v / %m runs")
        self.progress.setRange(0, max(1, request.seeds * len(request.policies)))
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

        thread = QtCore.QThread()
        thread.setObjectName("simulation")
        worker = SimulationWorker(request)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.traceReady.connect(self._on_trace)
        worker.failed.connect(self._on_failed)
        worker.done.connect(self._on_done)
        thread.finished.connect(worker.deleteLater)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self._say("Cancelling after the current run…")

    def shutdown(self) -> None:
        """Cancel and wait for the worker thread (the window is closing)."""
        if self._thread is not None:
            self._worker.cancel()
            self._thread.quit()
            self._thread.wait()
            self._on_thread_finished()

    # ---- worker signals (GUI thread) ------------------------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_trace(self, policy: str, trace: RunTrace) -> None:
        self._traces.setdefault(policy, []).append(trace)
        self._redraw()

    def _on_failed(self, message: str) -> None:
        self._say(message, error=True)

    def _on_done(self, outcome: str) -> None:
        self._outcome = outcome
        if outcome == CANCELLED:
            self._say("Cancelled: the curves show the runs that finished.")
        if self._thread is not None:
            self._thread.quit()

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread.wait()
        self._thread, self._worker = None, None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        outcome = self._outcome or CANCELLED
        if outcome == COMPLETED:
            runs = sum(len(t) for t in self._traces.values())
            self._say(f"Done: {runs} runs.")
        self.simulationFinished.emit(outcome)

    # ---- drawing --------------------------------------------------------------------------------------------
    def _redraw(self) -> None:
        traces = {p: t for p, t in self._traces.items() if t}
        end = max((last_time(t) for t in traces.values()), default=0.0)
        series, bands = {}, {}
        for policy, runs in traces.items():
            curve = regret_curve(runs, end)
            series[policy] = (curve.x, curve.median)
            if len(runs) > 1:
                bands[policy] = (curve.x, curve.low, curve.high)
        self.plot.set_series(series, bands)
        self._fill_table(traces)

    def _fill_table(self, traces: dict[str, list[RunTrace]]) -> None:
        summaries = [summarize(p, runs, TARGETS) for p, runs in traces.items()]
        baseline = next((s for s in summaries if s.policy == BASELINE), None)
        self.table.setRowCount(len(summaries))
        for row, s in enumerate(summaries):
            cells = [s.policy, str(s.runs)]
            for k, t in enumerate(s.median_times):
                text = "—" if t is None else f"{t:,.0f}"
                factor = speedup(baseline.median_times[k], t) if baseline is not None and s is not baseline else None
                if factor is not None:
                    text += f"  ({factor:.1f}×)"
                cells.append(text)
            cells.append(f"{s.cumulative_regret:,.1f}")
            for column, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                align = Qt.AlignmentFlag.AlignLeft if column == 0 else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                if column == 0:
                    item.setIcon(swatch(self.colours.colour(s.policy), 11))
                    if s.policy == DEFAULT_POLICY:
                        font = item.font()
                        font.setBold(True)
                        item.setFont(font)
                self.table.setItem(row, column, item)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {scheme().problem_text if error else scheme().muted}")
        self.message.setVisible(bool(text))

    # ---- for tests ------------------------------------------------------------------------------------------
    def traces(self) -> dict[str, list[RunTrace]]:
        return {p: list(t) for p, t in self._traces.items()}
