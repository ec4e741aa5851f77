# rtsync — every target installs what it needs (virtual environment, pip packages, and the
# Debian packages it is missing, with apt-get when run as root).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Two install stamps: the package with its install_requires (demo, chat), then the development
# extras on top (test, lint, ...). `make demo` then `make test` adds the extras; `make test` then
# `make demo` installs nothing more.
BASE_STAMP := $(VENV)/.installed-base
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
	@echo "make test-floors - the fast tests with the lowest version of every declared dependency"
	@echo "make test-py313  - the fast tests under Debian 13's Python 3.13 (a debootstrap chroot)"

# Debian packages: installed only where missing. The demo needs only python3-venv (SYSDEPS=base);
# the tests add tmux, Xvfb and Tk.
SYSDEPS ?= all
sysdeps:
	@missing=""; \
	if ! $(PYTHON) -c "import venv, ensurepip" >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ "$(SYSDEPS)" != base ]; then \
	  if ! command -v tmux >/dev/null 2>&1; then missing="$$missing tmux"; fi; \
	  if ! command -v Xvfb >/dev/null 2>&1; then missing="$$missing xvfb"; fi; \
	  if ! $(PYTHON) -c "import tkinter" >/dev/null 2>&1; then missing="$$missing python3-tk"; fi; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "please install:$$missing" >&2; exit 1; fi; \
	fi

$(BASE_STAMP): pyproject.toml setup.cfg setup.py
	@$(MAKE) --no-print-directory sysdeps SYSDEPS=base
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	@touch $(BASE_STAMP)

$(STAMP): $(BASE_STAMP)
	@$(MAKE) --no-print-directory sysdeps
	$(SUDO) sh tests/audio/vaudio.sh packages
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,audio,aec]' || \
	  $(PY) -m pip install -q --disable-pip-version-check -e '.[dev,audio]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(BASE_STAMP)
	$(PY) examples/demo.py

chat: $(BASE_STAMP)
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

# The floors job: a separate virtual environment with exactly the lowest version of every
# install_requires entry and of the [audio] extra (PyAudio is built from its sdist, hence the
# packages step), and the floors of what the fast tests import besides rtsync: the test runners
# (pytest, pytest-timeout, hypothesis) and the openai SDK, whose types judge our frames. The
# other [dev] tools are not pinned: ruff and mypy judge the code (their findings differ between
# versions, and `make lint` uses the newest), pdoc and build make artifacts; neither rtsync nor
# the fast tests import them. rtsync goes in with --no-deps, so
# nothing newer slips in; `pip check` then confirms the pins satisfy what setup.cfg declares.
# The [aec] extra is not pinned here: its floor, livekit 1.2.0, requires numpy>=1.26, above our
# numpy floor, so the two floors cannot be installed together; whoever installs [aec] gets
# numpy>=1.26 through livekit, and `make test` runs the echo canceller with the newest livekit.
# The floors hold for the Python this runs on (python3, 3.11 on Debian 12): numpy 1.24 has no
# wheel for 3.12 and later.
VENV_FLOORS  ?= .venv-floors
FLOORS_STAMP := $(VENV_FLOORS)/.installed-floors
FLOORS_DEV   := pytest pytest-timeout hypothesis openai

$(FLOORS_STAMP): pyproject.toml setup.cfg setup.py .ci/floors.py
	@$(MAKE) --no-print-directory sysdeps SYSDEPS=base
	$(SUDO) sh tests/audio/vaudio.sh packages
	rm -rf $(VENV_FLOORS)
	$(PYTHON) -m venv $(VENV_FLOORS)
	$(PYTHON) .ci/floors.py audio --also $(FLOORS_DEV) > $(VENV_FLOORS)/floors.txt
	$(VENV_FLOORS)/bin/python -m pip install -q --disable-pip-version-check -r $(VENV_FLOORS)/floors.txt
	$(VENV_FLOORS)/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
	$(VENV_FLOORS)/bin/python -m pip check
	@touch $(FLOORS_STAMP)

.PHONY: test-floors test-py313
test-floors: $(FLOORS_STAMP)
	@echo "floors:" $$(cat $(VENV_FLOORS)/floors.txt)
	$(VENV_FLOORS)/bin/python -m pytest -m "$(FAST_MARKERS)"

# Python 3.13 beside 3.11: the fast tests (FAST_MARKERS) under Debian 13's python3.13, in a
# debootstrap chroot (built on first use, reused after; root only), with the [dev] and [audio]
# extras from PyPI in a venv inside it. Not in .ci/run: building the chroot takes minutes. ruff
# and mypy keep targeting 3.10 (`make lint`), so the syntax stays valid on the oldest Python
# python_requires allows.
PY313_CHROOT ?= $(abspath ../chroots/trixie)

test-py313:
	sh .ci/py313.sh $(PY313_CHROOT) -m "$(FAST_MARKERS)"

clean:
	rm -rf $(VENV) $(VENV_FLOORS) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
