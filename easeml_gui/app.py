"""The desktop app's composition root: the QApplication, the lab source (store file or demo), the poller thread
and the main window. `easeml-gui` without a sub-command calls run_app().

The poller thread reads the store (read-only); every write goes through a controller on the window's thread
pool; a lab run is a process of its own (`easeml-gui run`), which the run controller starts, watches and stops.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets  # PySide6 before pyqtgraph (imported by the views)

from .controllers.hosts import HostsController
from .controllers.lab_run import RunController
from .controllers.operations import Runner
from .controllers.registry import RegistryController
from .views.demo_lab import DemoSource
from .views.lab_poller import LabPollerThread
from .views.lab_source import StoreSource
from .views.main_window import MainWindow
from .views.paced_collector import PacedCollector
from .views.theme import apply_style

REFRESH_MS = 500  # a change is on screen within about a second; an unchanged store costs one PRAGMA per poll
SETTLE_TIMEOUT_S = 30.0
DEMO_SIMULATION = dict(matrix="synthetic:rows=40,arms=20,seed=0,spread=100", tenants=8, devices=2, seeds=5,
                       policies=("round-robin", "random", "fifo", "ease-ei-fair"))


_log = logging.getLogger(__name__)
_qt_log = logging.getLogger(f"{__name__}.qt")
_QT_LEVELS = {QtCore.QtMsgType.QtDebugMsg: logging.DEBUG, QtCore.QtMsgType.QtInfoMsg: logging.INFO,
              QtCore.QtMsgType.QtWarningMsg: logging.WARNING, QtCore.QtMsgType.QtCriticalMsg: logging.ERROR,
              QtCore.QtMsgType.QtFatalMsg: logging.CRITICAL}


def _quiet_offscreen(mode: QtCore.QtMsgType, context: QtCore.QMessageLogContext, message: str) -> None:
    """Qt's messages to the log at their level, without the offscreen platform's harmless 'propagateSizeHints'
    notice."""
    if "propagateSizeHints" not in message:
        _qt_log.log(_QT_LEVELS.get(mode, logging.WARNING), message)


def application() -> QtWidgets.QApplication:
    """The process's QApplication (created once), styled."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtWidgets.QApplication.setApplicationName("easeml-gui")
        QtWidgets.QApplication.setDesktopFileName("easeml-gui")
        app = QtWidgets.QApplication([sys.argv[0] if sys.argv else "easeml-gui"])
    apply_style(app)
    return app


def build_window(db_path: Path, demo: bool = False, refresh_ms: int = REFRESH_MS,
                 data_dir: Path | None = None) -> MainWindow:
    """The main window on the store at `db_path` (or on a simulated demo lab when `demo` and there is no store),
    with its poller thread and controllers started. Managed datasets go to `data_dir` (default: beside the store,
    as the command line does). In demo mode the Simulate tab also starts a short comparison."""
    db_path = Path(db_path).absolute()  # the run process and the store's records must not depend on the cwd
    data_dir = Path(data_dir).absolute() if data_dir is not None else db_path.parent
    use_demo = demo and not db_path.exists()
    source = DemoSource() if use_demo else StoreSource(db_path)
    title = f"easeml-gui — {db_path.name}" + (" (demo lab)" if use_demo else "")
    runner = Runner()
    registry = RegistryController(runner, db_path, data_dir)
    run = RunController(runner, db_path, data_dir, watch_ms=refresh_ms)
    hosts = HostsController(runner, db_path)
    window = MainWindow(title, str(db_path), registry, run, hosts)
    runner.setParent(window)
    poller = LabPollerThread(source, refresh_ms)
    poller.poller.snapshotReady.connect(window.show_snapshot)
    poller.poller.unavailable.connect(window.show_unavailable)
    poller.poller.read.connect(window.show_read)
    poller.poller.stale.connect(window.show_stale)
    window.refreshRequested.connect(poller.refresh_now)
    # Shut down in reverse: the run watch first, then the poller, then the pool (it waits for running work).
    window.on_shutdown(runner.shutdown)
    window.on_shutdown(poller.stop)
    window.on_shutdown(run.shutdown)
    window.on_shutdown(hosts.passphrases.close)  # first: a login waiting for a passphrase lets go of its thread
    collector = PacedCollector(parent=window)
    window.on_shutdown(collector.stop)
    window.poller = poller
    window.runner = runner
    poller.start()
    if demo:
        window.simulate.configure(**DEMO_SIMULATION)
        window.simulate.start()
    # What the window is built of lives as long as it: out of the collector's sight, a full collection (set off by
    # the poller's reads) walks only what came after, ~30 ms instead of ~200 ms on the GUI thread (the GUI bench).
    gc.freeze()
    collector.start()
    return window


def settled(window: MainWindow) -> bool:
    return window.lab.loaded and not window.simulate.running


def settle(window: MainWindow, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    """Process events until the lab was read and any simulation finished (at most `timeout_s`); then draw."""
    app = QtWidgets.QApplication.instance()
    deadline = time.monotonic() + timeout_s
    loop = QtCore.QEventLoop()
    while not settled(window) and time.monotonic() < deadline:
        QtCore.QTimer.singleShot(20, loop.quit)
        loop.exec()
    window.lab.flush()
    window.simulate.plot.flush()
    app.processEvents()
    return settled(window)


def save_screenshot(window: MainWindow, out: Path) -> bool:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return window.grab().save(str(out), "PNG")


def _no_display() -> bool:
    """On Linux without X11/Wayland, Qt would abort with a cryptic plugin error; say what to do instead."""
    return (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and os.environ.get("QT_QPA_PLATFORM", "") in ("", "xcb", "wayland")
    )


def run_app(db_path: Path, screenshot: Path | None = None, demo: bool = False, data_dir: Path | None = None) -> int:
    """Open the desktop app on the store at `db_path`; with `screenshot`, build the window offscreen, let it
    settle, save a PNG of it and return 0 (1 when the PNG cannot be written)."""
    if screenshot is None and _no_display():
        print("easeml-gui: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it on a desktop, over "
              "`ssh -X`, or render the window with `easeml-gui --screenshot out.png`; every sub-command "
              "(`easeml-gui --help`) works without a display.", file=sys.stderr)
        return 1
    if screenshot is not None and QtWidgets.QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        QtCore.qInstallMessageHandler(_quiet_offscreen)
    app = application()
    window = build_window(Path(db_path), demo, data_dir=data_dir)
    if screenshot is None:
        screen = app.primaryScreen()
        if screen is not None:  # fit small screens; 1440 x 900 where there is room
            room = screen.availableGeometry()
            window.resize(min(window.width(), int(room.width() * 0.92)), min(window.height(), int(room.height() * 0.92)))
        app.aboutToQuit.connect(window.shutdown)
        # Ctrl+C in the terminal that started the app quits it (Qt's event loop would otherwise swallow SIGINT).
        signal.signal(signal.SIGINT, lambda *_: app.quit())
        wake = QtCore.QTimer(window)
        wake.timeout.connect(lambda: None)  # lets Python run its signal handlers between Qt events
        wake.start(250)
        window.show()
        return app.exec()
    try:
        window.show()
        if not settle(window):
            _log.warning("easeml-gui: the window did not settle within %g s; saving it as it is", SETTLE_TIMEOUT_S)
        if not save_screenshot(window, Path(screenshot)):
            print(f"easeml-gui: cannot write the screenshot {screenshot}; check the folder and the file name "
                  "(a .png)", file=sys.stderr)
            return 1
        return 0
    finally:
        window.close()
        window.shutdown()
