# Two commands on a fresh machine: `make run` (the app) and `make test` (the whole suite).
# Both create or reuse .venv; the install is redone only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(STAMP)
	@$(BIN)/python -m easeml_gui.qt_libraries  # the system libraries Qt's window needs: one install line if any lack
	$(BIN)/easeml-gui

lint: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP)
	./tests/setup_system.sh
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/engine_speed.py
	$(BIN)/python bench/policy_quality.py
	$(BIN)/python bench/optuna_tpe.py
	$(BIN)/python bench/store_scale.py
	$(BIN)/python bench/training_speed.py
	$(BIN)/python bench/reader_beside_run.py
	$(BIN)/python bench/small_data_training.py
	$(BIN)/python bench/cost_prediction.py
	$(BIN)/python bench/accuracy_vs_peers.py
	$(BIN)/python bench/dataset_sync.py
	$(BIN)/python bench/gui_responsiveness.py

clean:
	rm -rf $(VENV) build *.egg-info
