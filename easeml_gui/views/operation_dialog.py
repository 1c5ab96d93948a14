"""A dialog whose main button starts a controller Operation: the form stays, a progress bar shows long work, the
operation's refusal is shown in the dialog (in the user's words) so the form can be corrected and tried again.
Cancel stops running work; the dialog closes itself when the operation finished."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from ..controllers.operations import Operation

Qt = QtCore.Qt


class OperationDialog(QtWidgets.QDialog):
    succeeded = QtCore.Signal(object)  # the operation's result, just before the dialog closes

    def __init__(self, title: str, action: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.operation: Operation | None = None
        self.form = QtWidgets.QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setVerticalSpacing(8)
        self.problem = QtWidgets.QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.setVisible(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setVisible(False)
        self.buttons = QtWidgets.QDialogButtonBox()
        self.go = self.buttons.addButton(action, QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.go.setObjectName("primary")
        self.stop = self.buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        # Enter in a field is the main action, always: a Cancel that had focus once must not become the default.
        self.stop.setAutoDefault(False)
        self.go.clicked.connect(self.start)
        self.stop.clicked.connect(self.reject)
        self.body = QtWidgets.QVBoxLayout(self)
        self.body.setSpacing(10)
        self.body.addLayout(self.form)
        self.body.addWidget(self.problem)
        self.body.addWidget(self.progress)
        self.body.addWidget(self.buttons)
        # Only now, inside the dialog, is it the dialog's main default, the one Enter falls back to.
        self.go.setDefault(True)
        self.setMinimumWidth(460)

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        fields = self.fields()
        # The buttons are made before the subclass's fields: put them last in the Tab order, and start in a field
        # (a shortcut that opened the dialog is followed by typing).
        for before, after in zip([*fields[-1:], self.go], [self.go, self.stop]):
            QtWidgets.QWidget.setTabOrder(before, after)
        if fields:
            fields[0].setFocus(Qt.FocusReason.TabFocusReason)

    def fields(self) -> list[QtWidgets.QWidget]:
        """The form's widgets that take typing or clicks, in Tab order (a read-only line is only shown)."""
        inside = [self.form.itemAt(i).widget() for i in range(self.form.count())]
        inside = [w for w in inside if w is not None]
        chain = [w for w in inside for w in (w, *w.findChildren(QtWidgets.QWidget))]
        return [w for w in chain if w.window() is self and w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.isEnabled()
                and not (isinstance(w, QtWidgets.QLineEdit) and w.isReadOnly())]

    # ---- what a dialog does ---------------------------------------------------------------------------------
    def begin(self) -> Operation | None:
        """Start the operation from the form (None when the form itself is not ready: say why in show_problem)."""
        raise NotImplementedError

    # ---- the flow -------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.operation is not None and self.operation.running

    def start(self) -> None:
        if self.busy:
            return
        self.show_problem("")
        operation = self.begin()
        if operation is None:
            return
        self.operation = operation
        operation.progress.connect(self.show_progress)
        operation.finished.connect(self.on_finished)
        operation.failed.connect(self.on_failed)
        operation.cancelled.connect(self.on_cancelled)
        self._set_busy(True)

    def show_progress(self, done: int, total: int, stage: str) -> None:
        self.progress.setRange(0, max(total, 0))  # total 0: busy, size unknown
        self.progress.setValue(done)
        self.progress.setFormat(f"{stage} {done:,} of {total:,}" if total else stage or "working…")

    def on_finished(self, result: object) -> None:
        self._set_busy(False)
        self.succeeded.emit(result)
        self.accept()

    def on_failed(self, message: str) -> None:
        self._set_busy(False)
        self.show_problem(message)

    def on_cancelled(self) -> None:
        self._set_busy(False)
        self.show_problem("Cancelled: nothing was changed.")

    def show_problem(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.setVisible(bool(message))
        self.fit_height()

    def fit_height(self) -> None:
        """Grow to what the contents need at this width. A word-wrapped line's height depends on the width, which
        the minimum size Qt gives a window does not count: without this the fields are squashed to make room."""
        layout = self.layout()
        layout.activate()
        needed = (layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth()
                  else layout.totalSizeHint().height())
        if needed > self.height():
            self.resize(self.width(), needed)

    def reject(self) -> None:
        """Cancel (or Esc) stops running work first; a second Cancel closes."""
        if self.busy:
            self.operation.cancel()
            return
        super().reject()

    def _set_busy(self, busy: bool) -> None:
        self.go.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat("working…")
        for index in range(self.form.count()):
            widget = self.form.itemAt(index).widget()
            if widget is not None:
                widget.setEnabled(not busy)
