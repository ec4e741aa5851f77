"""examples/tk_captions.py on the private Xvfb display of tests/test_tk.py, against its own local server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from rtsync.audio.formats import write_wav
from tests.test_tk import display  # noqa: F401 - the module-scoped Xvfb fixture

ROOT = Path(__file__).resolve().parents[1]
RATE = 24000


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)


def test_tk_captions_example_shows_one_caption_per_turn(display, tmp_path):  # noqa: F811
    src = tmp_path / "talk.wav"
    quiet = np.zeros(RATE, np.int16)
    write_wav(src, np.concatenate([quiet[: RATE // 3], tone(0.8), quiet, tone(1.5)]), RATE)
    env = dict(os.environ, DISPLAY=display, PYTHONPATH=str(ROOT))
    env.pop("OPENAI_API_KEY", None)
    out = subprocess.run([sys.executable, "examples/tk_captions.py", str(src), "--selftest", "2"],
                         capture_output=True, text=True, timeout=90, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    assert "in-process local server" in out.stdout
    shown = out.stdout.split("window:\n", 1)[1].split("\ncallbacks", 1)[0].splitlines()
    lengths = [float(re.fullmatch(r"\[speech (\d+\.\d) s\]", line).group(1)) for line in shown]
    assert len(lengths) == 2 and lengths[0] < lengths[1], out.stdout  # one per turn, in order
    assert "callbacks on the Tk thread: True" in out.stdout
