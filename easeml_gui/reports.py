"""Headless figures (matplotlib, Agg backend) for the command line; the GUI draws with pyqtgraph instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .engine.simulate import SimulationReport


def median_curve(report: SimulationReport, policy: str, grid: np.ndarray) -> np.ndarray:
    """Median over seeds of the global-regret step functions, sampled on `grid`."""
    curves = []
    for trace in report.traces[policy]:
        times = np.asarray(trace.regret.times)
        values = np.asarray(trace.regret.values)
        index = np.searchsorted(times, grid, side="right") - 1
        curves.append(values[np.clip(index, 0, len(values) - 1)])
    return np.median(np.array(curves), axis=0)


def plot_regret(report: SimulationReport, out: Path, time_unit: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = max(trace.regret.times[-1] for traces in report.traces.values() for trace in traces)
    grid = np.linspace(0.0, end, 600)
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    for policy in report.traces:
        curve = median_curve(report, policy, grid)
        ax.step(grid, np.maximum(curve, 1e-4), where="post", label=policy, linewidth=1.6)
    for target in report.targets:
        ax.axhline(target, color="0.85", linewidth=0.8, zorder=0)
    ax.set_yscale("log")
    ax.set_xscale("symlog", linthresh=max(1.0, end / 1000))
    ax.set_xlim(0.0, end * 1.05)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("global regret (median over seeds; 0 drawn at 1e-4)")
    ax.set_title(f"{Path(report.matrix).name}: {report.tenants} tenants, {report.devices} device(s), {report.seeds} seeds", fontsize=10)
    ax.legend(fontsize=8, frameon=False, ncol=2)
    ax.grid(alpha=0.25, which="both")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
