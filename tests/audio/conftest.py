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
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

VAUDIO_DIR = Path(os.environ.get("VAUDIO_DIR", "/tmp/rtsync-vaudio"))
SCRIPT = Path(__file__).with_name("vaudio.sh")

# Before any PyAudio() exists in this process (pytest imports conftest files first).
os.environ.setdefault("ALSA_CONFIG_PATH", str(VAUDIO_DIR / "asound.conf"))


def _daemon_running() -> bool:
    pid_file = VAUDIO_DIR / "pulse-runtime" / "pid"
    if not (VAUDIO_DIR / "pulse.sock").exists() or not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    try:  # a killed daemon that nobody reaped (PID 1 in a container) is a zombie
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


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
    if not _daemon_running():
        if shutil.which("pulseaudio") is None:
            _unavailable("pulseaudio is not installed (run: sh tests/audio/vaudio.sh as root, or apt-get install it)")
        env = dict(os.environ, VAUDIO_DIR=str(VAUDIO_DIR), VAUDIO_NO_INSTALL="1")
        proc = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 or not _daemon_running():
            _unavailable(f"{SCRIPT.name} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    if not (VAUDIO_DIR / "asound.conf").exists():
        _unavailable(f"{VAUDIO_DIR / 'asound.conf'} is missing")
    return VAUDIO_DIR


class VirtualAudio:
    """One test's view of the virtual device: its own microphone and speaker files.

    Attributes:
        dir: the directory of this test's files.
        config_path: this test's ALSA configuration (``ALSA_CONFIG_PATH`` during the test).
        mic_path: the raw file the microphone reads.
        speaker_path: the raw file the speaker records into.
    """

    def __init__(self, directory: Path, template: str, daemon_dir: Path) -> None:
        self.dir = directory
        self.mic_path = directory / "mic.raw"
        self.speaker_path = directory / "speaker.raw"
        self.config_path = directory / "asound.conf"
        text = template.replace(f'"{daemon_dir}/mic.raw"', f'"{self.mic_path}"')
        text = text.replace(f'"{daemon_dir}/speaker.raw"', f'"{self.speaker_path}"')
        if str(self.mic_path) not in text or str(self.speaker_path) not in text:
            raise RuntimeError(f"unexpected layout of {daemon_dir / 'asound.conf'}")
        self.config_path.write_text(text)
        self.mic_path.write_bytes(b"")

    def set_mic(self, samples: np.ndarray) -> None:
        """Replace the microphone's content (atomically); call before the Microphone is created.

        Args:
            samples: int16 mono samples at the rate the input stream will run at (24 kHz unless
                the test forces another device rate).
        """
        data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
        tmp = self.mic_path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.mic_path)

    def speaker_samples(self) -> np.ndarray:
        """Everything the output stream played, as int16; call right after the Speaker closed."""
        if not self.speaker_path.exists():
            return np.zeros(0, dtype=np.int16)
        return np.frombuffer(self.speaker_path.read_bytes(), dtype="<i2").astype(np.int16)


@pytest.fixture
def virtual_audio(_vaudio_daemon: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualAudio]:
    """The virtual sound device with per-test microphone and speaker files.

    Sets ``ALSA_CONFIG_PATH`` to this test's configuration for the duration of the test, so
    every ``PyAudio()`` created in the test uses it.
    """
    template = (_vaudio_daemon / "asound.conf").read_text()
    va = VirtualAudio(tmp_path, template, _vaudio_daemon)
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(va.config_path))
    yield va
