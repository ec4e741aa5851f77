"""Fixtures for tests that run real PortAudio streams on the virtual sound device.

``tests/audio/vaudio.sh`` starts one PulseAudio daemon (the clock) and writes an ALSA
configuration whose only device, ``default``, reads the microphone from a raw file and
records the speaker into another (the ALSA ``file`` plugin), so the callbacks run on
PortAudio's real threads at real-time pace while the samples stay exact.

The :func:`virtual_audio` fixture gives each test its own copy of that ALSA configuration,
with its own ``mic.raw`` and ``speaker.raw`` in the test's ``tmp_path``, and points
``ALSA_CONFIG_PATH`` at it. Rules that come from ALSA and PortAudio:

* ``ALSA_CONFIG_PATH`` must be set before a ``pyaudio.PyAudio()`` is created; every new
  ``PyAudio()`` reads it again. This module sets a default at import time, and the fixture
  switches to the test's own copy.
* The microphone file is read from its first byte each time an input stream is **opened**
  (``Microphone(...)``), in the stream's own format (mono s16le at the stream's device rate),
  so call :meth:`VirtualAudio.set_mic` before creating the Microphone. After its end the
  input is silence.
* The speaker file is truncated whenever the output device is opened, and ``PyAudio()``
  itself opens it while it enumerates devices (``list_devices()``, every ``Microphone`` or
  ``Speaker``). Read it with :meth:`VirtualAudio.speaker_samples` right after the Speaker was
  closed, before anything creates another ``PyAudio()``.

Without PulseAudio or PyAudio the tests are skipped with the reason, except when the ``CI``
environment variable is set: then they fail, so CI never skips the audio tests silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audio.vaudio import VAUDIO_DIR, DeviceFiles, ensure_daemon

# Before any PyAudio() exists in this process (pytest imports conftest files first).
os.environ.setdefault("ALSA_CONFIG_PATH", str(VAUDIO_DIR / "asound.conf"))

#: One test's view of the virtual device (see :class:`tests.audio.vaudio.DeviceFiles`).
VirtualAudio = DeviceFiles


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"virtual audio device unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"virtual audio device unavailable: {reason}")


@pytest.fixture(scope="session")
def _vaudio_daemon() -> Path:
    """Make sure PyAudio imports and the PulseAudio daemon runs (starting it if needed)."""
    try:
        import pyaudio  # noqa: F401
    except ImportError as exc:
        _unavailable(f"PyAudio cannot be imported ({exc}); pip install 'rtsync[audio]'")
    reason = ensure_daemon()
    if reason:
        _unavailable(reason)
    return VAUDIO_DIR


@pytest.fixture
def virtual_audio(_vaudio_daemon: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualAudio]:
    """The virtual sound device with per-test microphone and speaker files.

    Sets ``ALSA_CONFIG_PATH`` to this test's configuration for the duration of the test, so
    every ``PyAudio()`` created in the test uses it.
    """
    va = VirtualAudio(tmp_path, _vaudio_daemon)
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(va.config_path))
    yield va
