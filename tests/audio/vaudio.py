"""The virtual sound device, for the audio tests and the audio benchmarks alike (no pytest here).

``tests/audio/vaudio.sh`` starts one PulseAudio daemon (the real-time clock) and writes an ALSA
configuration whose ``default`` device reads the microphone from a raw file and records the
speaker into another. :class:`DeviceFiles` gives one test or one benchmark run its own copy of
that configuration with its own ``mic.raw`` and ``speaker.raw``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

VAUDIO_DIR = Path(os.environ.get("VAUDIO_DIR", "/tmp/rtsync-vaudio"))
SCRIPT = Path(__file__).with_name("vaudio.sh")


def daemon_running() -> bool:
    """Whether the PulseAudio daemon of ``vaudio.sh`` is up (a zombie does not count)."""
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


def ensure_daemon() -> str | None:
    """Start the daemon when it is not running (installing nothing); None, or why it cannot run."""
    if not daemon_running():
        if shutil.which("pulseaudio") is None:
            return "pulseaudio is not installed (run: sh tests/audio/vaudio.sh as root, or apt-get install it)"
        env = dict(os.environ, VAUDIO_DIR=str(VAUDIO_DIR), VAUDIO_NO_INSTALL="1")
        try:
            proc = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{SCRIPT.name} failed: {exc}"
        if proc.returncode != 0 or not daemon_running():
            return f"{SCRIPT.name} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
    if not (VAUDIO_DIR / "asound.conf").exists():
        return f"{VAUDIO_DIR / 'asound.conf'} is missing"
    return None


class DeviceFiles:
    """One run's view of the virtual device: its own ALSA configuration and microphone/speaker files.

    Attributes:
        dir: the directory of these files.
        config_path: the ALSA configuration to point ``ALSA_CONFIG_PATH`` at.
        mic_path: the raw file the microphone reads.
        speaker_path: the raw file the speaker records into.
    """

    def __init__(self, directory: Path, daemon_dir: Path = VAUDIO_DIR) -> None:
        self.dir = directory
        self.mic_path = directory / "mic.raw"
        self.speaker_path = directory / "speaker.raw"
        self.config_path = directory / "asound.conf"
        text = (daemon_dir / "asound.conf").read_text()
        text = text.replace(f'"{daemon_dir}/mic.raw"', f'"{self.mic_path}"')
        text = text.replace(f'"{daemon_dir}/speaker.raw"', f'"{self.speaker_path}"')
        if str(self.mic_path) not in text or str(self.speaker_path) not in text:
            raise RuntimeError(f"unexpected layout of {daemon_dir / 'asound.conf'}")
        self.config_path.write_text(text)
        self.mic_path.write_bytes(b"")

    def set_mic(self, samples: Any) -> None:
        """Replace the microphone's content (atomically); call before the Microphone is created.

        Args:
            samples: int16 mono samples at the rate the input stream will run at (24 kHz unless
                the device rate is forced to another).
        """
        import numpy as np

        data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
        tmp = self.mic_path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.mic_path)

    def speaker_samples(self) -> Any:
        """Everything the output stream played, as int16; call right after the Speaker closed."""
        import numpy as np

        if not self.speaker_path.exists():
            return np.zeros(0, dtype=np.int16)
        return np.frombuffer(self.speaker_path.read_bytes(), dtype="<i2").astype(np.int16)
