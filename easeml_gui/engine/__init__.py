"""The decision engine: pure Python (numpy/scipy/scikit-learn). No Qt, torch, paramiko or sqlite here."""
