# rtsync — every target installs what it needs (virtual environment, pip packages, and the
# Debian packages it is missing, with apt-get when run as root).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help demo chat test test-fast lint bench fuzz soak stress docs sysdeps venv clean

help:
	@echo "make demo      - a scripted conversation with the local Realtime server (no API key)"
	@echo "make test      - the whole test suite (what CI runs)"
	@echo "make test-fast - the suite without wheel builds, soak, Tk, real-time audio and slow tests (under a minute)"
	@echo "make lint      - ruff and mypy (settings in pyproject.toml)"
	@echo "make chat      - an interactive text chat with the local server"
	@echo "make fuzz      - property tests of the frame parser, codec, dispatcher and reader (10,000 examples each)"
	@echo "make soak      - 60 simulated minutes of audio both ways; memory and threads must stay flat"
	@echo "make stress    - the thread-safety tests with many more operations per thread"
	@echo "make docs      - the API reference from the docstrings (pdoc) into docs/api"

# Debian packages: installed only where missing.
sysdeps:
	@missing=""; \
	if ! $(PYTHON) -c "import venv, ensurepip" >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if ! command -v tmux >/dev/null 2>&1; then missing="$$missing tmux"; fi; \
	if ! command -v Xvfb >/dev/null 2>&1; then missing="$$missing xvfb"; fi; \
	if ! $(PYTHON) -c "import tkinter" >/dev/null 2>&1; then missing="$$missing python3-tk"; fi; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "please install:$$missing" >&2; exit 1; fi; \
	fi

$(STAMP): pyproject.toml setup.cfg setup.py
	@$(MAKE) --no-print-directory sysdeps
	$(SUDO) sh tests/audio/vaudio.sh packages
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,audio]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

chat: $(STAMP)
	$(PY) -m rtsync chat

# The virtual sound device (PulseAudio clock + ALSA file plugin) for the audio tests.
VAUDIO_DIR ?= /tmp/rtsync-vaudio

test: $(STAMP)
	-VAUDIO_DIR=$(VAUDIO_DIR) sh tests/audio/vaudio.sh
	-if command -v npm >/dev/null 2>&1; then cd tests/judges && npm ci --no-audit --no-fund --loglevel=error; fi
	ALSA_CONFIG_PATH=$${ALSA_CONFIG_PATH:-$(VAUDIO_DIR)/asound.conf} $(PY) -m pytest

# The markers are applied in tests/conftest.py and described in pyproject.toml.
FAST_MARKERS ?= not (slow or soak or wheel or tk or audio)

test-fast: $(STAMP)
	$(PY) -m pytest -m "$(FAST_MARKERS)"

lint: $(STAMP)
	$(PY) -m ruff check rtsync tests examples benchmarks
	$(PY) -m mypy rtsync

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

fuzz: $(STAMP)
	RTSYNC_FUZZ_EXAMPLES=$${RTSYNC_FUZZ_EXAMPLES:-10000} $(PY) -m pytest -q --timeout=3600 tests/test_fuzz.py tests/test_frames.py

soak: $(STAMP)
	RTSYNC_SOAK_MINUTES=$${RTSYNC_SOAK_MINUTES:-60} $(PY) -m pytest -q --timeout=3600 tests/test_soak.py

stress: $(STAMP)
	RTSYNC_STRESS_ITERATIONS=$${RTSYNC_STRESS_ITERATIONS:-3000} $(PY) -m pytest -q --timeout=3600 tests/test_thread_safety.py

# The API reference: every public module (no leading underscore), Google-style docstrings.
DOCS_DIR ?= docs/api

docs: $(STAMP)
	rm -rf $(DOCS_DIR)
	$(PY) -c 'import pathlib, pkgutil, pdoc, pdoc.render, rtsync; \
	import rtsync.events as ev; \
	[setattr(m, n, getattr(m, n)) for m in (rtsync, ev) for n in m.__all__]; \
	mods = ["rtsync"] + [m.name for m in pkgutil.walk_packages(rtsync.__path__, "rtsync.") if "._" not in m.name]; \
	pdoc.render.configure(docformat="google", footer_text="rtsync " + rtsync.__version__); \
	pdoc.pdoc(*mods, output_directory=pathlib.Path("$(DOCS_DIR)"))'
	@echo "API reference: $(DOCS_DIR)/index.html"

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
