# rtsync — every target installs what it needs (virtual environment, pip packages, and the
# Debian packages it is missing, with apt-get when run as root).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RUFF   := $(PY) -m ruff check --line-length 120 --target-version py310 \
          --select E,F,W,I,B,UP,RUF --ignore RUF001,RUF002,RUF003,B008,UP007,UP035,E731

.PHONY: help demo chat test lint bench sysdeps venv clean

help:
	@echo "make demo   - a scripted conversation with the local Realtime server (no API key)"
	@echo "make test   - the test suite"
	@echo "make lint   - ruff and mypy"
	@echo "make chat   - an interactive text chat with the local server"

# Debian packages: installed only where missing.
sysdeps:
	@missing=""; \
	if ! $(PYTHON) -c "import venv, ensurepip" >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "please install:$$missing" >&2; exit 1; fi; \
	fi

$(STAMP): setup.cfg setup.py
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
	ALSA_CONFIG_PATH=$${ALSA_CONFIG_PATH:-$(VAUDIO_DIR)/asound.conf} $(PY) -m pytest

lint: $(STAMP)
	$(RUFF) rtsync tests examples benchmarks
	$(PY) -m mypy rtsync

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
