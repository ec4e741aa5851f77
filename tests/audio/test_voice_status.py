"""``python -m rtsync voice`` in a real terminal (tmux) draws the live status line; on a pipe it
draws nothing. Both run the real CLI on the virtual sound device against the local server.

The microphone file holds silence, a loud tone (the local server's energy VAD takes it for
speech) and silence again, so one whole turn happens: listening -> user speaking -> assistant
speaking -> listening.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RATE = 24000
STATUS = re.compile(
    r"mic \[(?P<meter>[#-]{10})\] +(?P<level>-inf|-?\d+) dB \| "
    r"(?P<state>listening|user speaking|assistant speaking|interrupted) \| "
    r"turn (?P<turn>-|\d+ ms|\d+ s) \| underruns (?P<underruns>\d+)"
)


def mic_signal() -> np.ndarray:
    n = np.arange(int(1.2 * RATE))
    tone = (8000 * np.sin(2 * np.pi * 440 * n / RATE)).astype(np.int16)  # about -15 dBFS
    return np.concatenate([np.zeros(int(0.5 * RATE), np.int16), tone, np.zeros(10 * RATE, np.int16)])


def voice_command(config_path: Path, *extra: str) -> list[str]:
    return ["env", "-u", "OPENAI_API_KEY", f"ALSA_CONFIG_PATH={config_path}",
            sys.executable, "-m", "rtsync", "voice", "--seconds", "6", *extra]


@pytest.fixture
def tmux() -> str:
    """The tmux binary (a private server per test is started with ``-L``)."""
    path = shutil.which("tmux")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing on CI (make sysdeps installs it)", pytrace=False)
        pytest.skip("tmux is not installed")
    return path


def test_voice_cli_draws_the_status_line_in_a_terminal(virtual_audio, tmux):
    virtual_audio.set_mic(mic_signal())
    socket = f"rtsync-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    base = [tmux, "-L", socket, "-f", "/dev/null"]
    shell = shlex.join(voice_command(virtual_audio.config_path)) + " 2>/dev/null; echo EXIT=$?; sleep 60"
    subprocess.run([*base, "new-session", "-d", "-x", "120", "-y", "10", "-c", str(ROOT), shell],
                   check=True, timeout=10)
    seen: list[re.Match[str]] = []
    screen = ""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = subprocess.run([*base, "capture-pane", "-p"], capture_output=True, text=True,
                                    timeout=10).stdout
            seen.extend(m for m in STATUS.finditer(screen) if not seen or m.group(0) != seen[-1].group(0))
            if "EXIT=" in screen:
                break
            time.sleep(0.05)
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True, timeout=10)
    assert "EXIT=0" in screen, screen
    states = {m.group("state") for m in seen}
    assert {"listening", "user speaking", "assistant speaking"} <= states, (states, screen)
    assert any("#" in m.group("meter") and m.group("level") != "-inf" for m in seen), screen  # the tone shows
    lines = screen.splitlines()
    # One status line stays on screen after the run (each repaint overwrote the previous one in
    # place), with the latency of the turn, and the messages printed above it.
    finals = [line for line in lines if STATUS.search(line)]
    assert len(finals) == 1, screen
    final = STATUS.search(finals[0])
    assert final is not None and final.group("turn").endswith(" ms") and final.group("state") == "listening"
    assert all(len(line) < 120 for line in lines)
    assert lines.index(finals[0]) > next(i for i, line in enumerate(lines) if line.startswith("assistant: I heard"))
    assert any(line.startswith("underruns 0, overruns") for line in lines)


def test_voice_cli_draws_no_status_line_on_a_pipe(virtual_audio):
    virtual_audio.set_mic(mic_signal())
    proc = subprocess.run(voice_command(virtual_audio.config_path, "--verbose"), capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stdout and "\x1b" not in proc.stdout
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    assert not STATUS.search(proc.stdout) and "mic [" not in proc.stdout
    assert "[you are speaking]" in proc.stdout and "assistant: I heard" in proc.stdout
    # the default model reasons: its preamble is shown apart from the answer, and before it
    assert proc.stdout.index("assistant (preamble): Let me think.") < proc.stdout.index("assistant: I heard")
    # --verbose: every event on one line, audio payloads cut short.
    deltas = [line for line in proc.stderr.splitlines() if '"type": "response.audio.delta"' in line]
    assert deltas, proc.stderr[-2000:]
    assert all("…(+" in line and len(line) < 400 for line in deltas)
