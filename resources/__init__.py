"""The app's icon, desktop launcher and style sheet, installed as the package easeml_gui.resources (pyproject.toml
maps it here) and read with importlib.resources. A regular package, not a namespace: setuptools' editable install
finds a mapped folder only by its __init__.py."""
