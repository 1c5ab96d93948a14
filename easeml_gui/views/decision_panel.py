"""The "Why?" panel: which tenant the latest (or a chosen recent) decision served, and the per-tenant numbers
behind it (mean, sigma, the policy's score, predicted cost, weight, best so far)."""

from __future__ import annotations

import html
import math
from types import MappingProxyType
from typing import Mapping, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from ..engine.types import Decision, TenantScore
from .theme import ColourMap, heading, scheme, swatch

Qt = QtCore.Qt
COLUMNS = ("tenant", "next model", "mean", "σ", "score", "cost (s)", "weight", "best")
TOOLTIPS = (
    "", "the model this tenant would train next", "predicted accuracy of that model (GP posterior mean)",
    "uncertainty of that prediction (GP posterior standard deviation)",
    "the policy's score for this tenant: the highest score is served", "predicted training time",
    "the tenant's share of the lab",
    "the tenant's best validation accuracy so far, over all its jobs (the model it gets, as in the tenants table); "
    "a tenant no longer listed: its job's best when the decision was made",
)
NAMED_AT_MOST = 5  # tenants named in "could not be served"; the rest counted


def _number(value: float, spec: str) -> str:
    return "—" if value is None or not math.isfinite(value) else format(value, spec)


def _key(decision: Decision) -> tuple:
    return (decision.time, decision.device, decision.tenant, decision.arm.name)


def best_so_far(score: TenantScore, tenant_best: Mapping[str, float | None]) -> float:
    """The tenant's best as the tenants table shows it; else the job's best the decision recorded, where it had
    one: the engine's 0.0 before a job's first result is no accuracy (a new job of a tenant at 0.985 said 0.000)."""
    best = tenant_best.get(score.tenant)
    if best is not None:
        return best
    return score.best if score.best > 0 else math.nan


def names_text(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c, d, e and 3 more'."""
    shown = [html.escape(name) for name in names[:NAMED_AT_MOST]]
    if len(names) > NAMED_AT_MOST:
        shown.append(f"{len(names) - NAMED_AT_MOST} more")
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def explain(decision: Decision, tenant_best: Mapping[str, float | None] = MappingProxyType({})) -> str:
    """A plain-English reason, as rich text."""
    ranked = sorted((s for s in decision.scores if math.isfinite(s.acquisition)), key=lambda s: -s.acquisition)
    chosen = next((s for s in decision.scores if s.tenant == decision.tenant), None)
    if chosen is None:
        return ""
    runner = next((s for s in ranked if s.tenant != decision.tenant), None)
    waiting = [s.tenant for s in decision.scores if not math.isfinite(s.acquisition)]
    best = best_so_far(chosen, tenant_best)
    against = f"against a best so far of {_number(best, '.3f')}" if math.isfinite(best) else "with no result yet"
    parts = [f"Highest score <b>{_number(chosen.acquisition, '.4g')}</b> of {len(ranked)} tenants with work left"]
    if runner is not None:
        parts[0] += f" (next: {html.escape(runner.tenant)}, {_number(runner.acquisition, '.4g')})"
    parts[0] += "."
    parts.append(
        f"Expected accuracy <b>{_number(chosen.mean, '.3f')} ± {_number(chosen.sigma, '.3f')}</b> {against}, for "
        f"about {_number(chosen.predicted_cost, '.0f')} s of device time."
    )
    if waiting:
        verb = "was" if len(waiting) == 1 else "were"
        parts.append(f"{names_text(waiting)} {verb} not served: paused, over quota, no model left, or none that "
                     "fits the device's memory.")
    return "<br>".join(parts)


class DecisionPanel(QtWidgets.QWidget):
    def __init__(self, colours: ColourMap, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.colours = colours
        self._decisions: tuple[Decision, ...] = ()
        self._t0 = 0.0
        self._tenant_best: Mapping[str, float | None] = {}

        self.picker = QtWidgets.QComboBox()
        self.picker.setToolTip("the latest decisions, newest first")
        self.picker.setMinimumContentsLength(28)
        self.picker.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.currentIndexChanged.connect(self._show_current)
        self.headline = QtWidgets.QLabel()
        self.headline.setObjectName("headline")
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.reason = QtWidgets.QLabel()
        self.reason.setObjectName("reason")
        self.reason.setWordWrap(True)
        self.reason.setTextFormat(Qt.TextFormat.RichText)
        self.reason.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(TOOLTIPS):
            header_item = self.table.horizontalHeaderItem(column)
            header_item.setToolTip(tip)
            align = Qt.AlignmentFlag.AlignLeft if column < 2 else Qt.AlignmentFlag.AlignRight
            header_item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(64)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)  # the others: sized in _show

        top = QtWidgets.QHBoxLayout()
        top.addWidget(heading("Why?"))
        top.addSpacing(8)
        top.addWidget(self.picker)
        top.addStretch(1)
        text = QtWidgets.QVBoxLayout()
        text.setSpacing(8)
        text.addWidget(self.headline)
        text.addWidget(self.reason)
        text.addStretch(1)
        text_box = QtWidgets.QWidget()
        text_box.setLayout(text)
        text_box.setFixedWidth(400)
        body = QtWidgets.QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(text_box)
        body.addWidget(self.table, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        self._show(None)

    def set_decisions(self, decisions: Sequence[Decision], t0: float = 0.0,
                      tenant_best: Mapping[str, float | None] = MappingProxyType({})) -> None:
        """Recent decisions, newest first; keeps an older one the admin picked, else follows the newest.
        `tenant_best`: each tenant's best so far (the tenants table's), shown as its best."""
        decisions, tenant_best = tuple(decisions), dict(tenant_best)
        if ([_key(d) for d in decisions] == [_key(d) for d in self._decisions] and t0 == self._t0
                and tenant_best == self._tenant_best):
            return
        self._tenant_best = tenant_best
        picked = self._decisions[self.picker.currentIndex()] if self.picker.currentIndex() > 0 else None
        self._decisions, self._t0 = decisions, t0
        self.picker.blockSignals(True)
        self.picker.clear()
        for d in decisions:
            self.picker.addItem(swatch(self.colours.colour(d.tenant)),
                                f"t = {d.time - t0:,.0f} s · {d.device} → {d.tenant}")
        keys = [_key(d) for d in decisions]
        index = keys.index(_key(picked)) if picked is not None and _key(picked) in keys else 0
        self.picker.setCurrentIndex(index if decisions else -1)
        self.picker.setEnabled(bool(decisions))
        self.picker.blockSignals(False)
        self._show_current()

    def current(self) -> Decision | None:
        index = self.picker.currentIndex()
        return self._decisions[index] if 0 <= index < len(self._decisions) else None

    def _show_current(self, *_: object) -> None:
        self._show(self.current())

    def _show(self, decision: Decision | None) -> None:
        if decision is None:
            self.headline.setText("No decision yet")
            self.reason.setText(
                f"<span style='color:{scheme().muted}'>When the lab runs, each free device is given to one tenant. "
                "The numbers behind each choice appear here.</span>")
            self.table.setRowCount(0)
            return
        colour = self.colours.colour(decision.tenant).name()
        self.headline.setText(
            f"<b>{html.escape(decision.policy)}</b> gave <b>{html.escape(decision.device)}</b> to "
            f"<span style='color:{colour}'><b>{html.escape(decision.tenant)}</b></span> → "
            f"<b>{html.escape(decision.arm.name)}</b>"
            f"<span style='color:{scheme().muted}'> &nbsp;at t = {decision.time - self._t0:,.0f} s</span>")
        self.reason.setText(explain(decision, self._tenant_best))
        scores = sorted(decision.scores, key=lambda s: (-s.acquisition if math.isfinite(s.acquisition) else math.inf,
                                                        s.tenant))
        self.table.setRowCount(len(scores))
        for row, score in enumerate(scores):
            self._fill_row(row, score, score.tenant == decision.tenant)
        # Sized to the contents once all rows are in: a ResizeToContents header measures every row again at each
        # setItem, which with 50 tenants froze the window for 0.8 s at every refresh of a run.
        self.table.resizeColumnsToContents()

    def _fill_row(self, row: int, s: TenantScore, chosen: bool) -> None:
        served = math.isfinite(s.acquisition)
        cells = (s.tenant, s.arm or "—", _number(s.mean, ".3f"), _number(s.sigma, ".3f"),
                 _number(s.acquisition, ".4g"), _number(s.predicted_cost, ",.0f"), f"{s.weight:g}",
                 _number(best_so_far(s, self._tenant_best), ".3f"))
        bold = QtGui.QFont()
        bold.setBold(True)
        for column, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            align = Qt.AlignmentFlag.AlignLeft if column < 2 else Qt.AlignmentFlag.AlignRight
            item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
            if column == 0:
                item.setIcon(swatch(self.colours.colour(s.tenant), 11))
            if chosen:
                item.setFont(bold)
                item.setBackground(QtGui.QColor(scheme().marked))
            elif not served:
                item.setForeground(QtGui.QColor(scheme().muted))
            self.table.setItem(row, column, item)
