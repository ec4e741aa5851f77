"""The virtual sound device with an echo path, for the end-to-end echo tests and benchmark (no pytest here).

What the speaker plays comes back into the microphone 40-60 ms later at about the same level,
as on a laptop with open speakers: a PulseAudio ``module-loopback`` from the speaker sink's
monitor into the microphone sink (``source=vspk.monitor sink=vmic latency_msec=60``). It runs on
a daemon of its own (``$VAUDIO_ECHO_DIR``, default ``/tmp/rtsync-vaudio-echo``), started with
``tests/audio/vaudio.sh`` like the plain one, so the echo never leaks into the other audio tests.

The microphone file (``mic.raw``) is played first; after its end the input stream carries what
reaches ``vmic``: the echo, plus a person talking, played into ``vmic`` with ``pacat`` at a
chosen moment (:meth:`EchoDevice.talk`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.audio.vaudio import SCRIPT, DeviceFiles

ECHO_DIR = Path(os.environ.get("VAUDIO_ECHO_DIR", "/tmp/rtsync-vaudio-echo"))
LOOPBACK = ["module-loopback", "source=vspk.monitor", "sink=vmic", "latency_msec=60"]


def _pactl(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    env = dict(os.environ, PULSE_SERVER=f"unix:{ECHO_DIR}/pulse.sock")
    return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True, timeout=timeout)


def ensure_echo_daemon() -> str | None:
    """Start the echo daemon and its loopback when needed; None, or why it cannot run."""
    for tool in ("pulseaudio", "pactl", "pacat"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)"
    env = dict(os.environ, VAUDIO_DIR=str(ECHO_DIR), VAUDIO_NO_INSTALL="1")
    try:
        proc = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SCRIPT.name} failed: {exc}"
    if proc.returncode != 0:
        return f"{SCRIPT.name} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    try:
        mods = _pactl("list", "short", "modules")
        if mods.returncode != 0:
            return f"pactl cannot reach the echo daemon: {mods.stderr.strip()[-300:]}"
        if "module-loopback" not in mods.stdout:
            load = _pactl("load-module", *LOOPBACK)
            if load.returncode != 0:
                return f"cannot load {' '.join(LOOPBACK)}: {load.stderr.strip()[-300:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pactl failed: {exc}"
    return None


class EchoDevice(DeviceFiles):
    """One run's files on the echo daemon (see :class:`tests.audio.vaudio.DeviceFiles`)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, ECHO_DIR)
        self._players: list[subprocess.Popen] = []

    def talk(self, samples: Any) -> subprocess.Popen:
        """Start playing ``samples`` (24 kHz int16) into the microphone sink now, as a person talking."""
        import numpy as np

        fd, name = tempfile.mkstemp(suffix=".raw", dir=self.dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        env = dict(os.environ, PULSE_SERVER=f"unix:{ECHO_DIR}/pulse.sock")
        p = subprocess.Popen(["pacat", "--playback", "--device=vmic", "--raw", "--format=s16le", "--rate=24000",
                              "--channels=1", "--latency-msec=20", name], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._players.append(p)
        return p

    def close(self) -> None:
        """Stop the players still running."""
        for p in self._players:
            if p.poll() is None:
                p.kill()
            p.wait()
        self._players.clear()
