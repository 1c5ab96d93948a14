"""The desktop app's widgets (PySide6 + pyqtgraph). One module per widget, named by what it shows.

Pure-Python helpers that feed them (lab_snapshot, lab_source, demo_lab, simulate_series) import no Qt, so they
can be tested and reused headless. Nothing here imports torch.
"""

import os

# pyqtgraph picks a Qt binding at import; make it the one this app uses even where PyQt is also installed.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
