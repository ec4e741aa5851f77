"""The local server's voice: the audio a response speaks, as int16 samples at 24 kHz.

Two voices exist:

* ``"espeak"``: real speech from the ``espeak-ng`` program (``espeak-ng --stdin -w FILE``, the
  text goes in on standard input so that it can never be taken for an option). Its 22050 Hz
  output is read with :func:`rtsync.audio.formats.read_wav` and resampled to 24000 Hz.
* ``"tone"``: a clearly synthetic beep sequence, one 440 Hz beep of 250 ms (10 ms fades,
  -12 dBFS peak) followed by 50 ms of silence per word, so 300 ms per word.

``"auto"`` picks ``"espeak"`` when ``espeak-ng`` is on ``PATH`` and ``"tone"`` otherwise. If
``espeak-ng`` fails at run time, the tone is used for that text and a warning is logged.

Results are cached per ``(text, voice)`` in a bounded LRU cache, so that a test suite asking for
the same reply many times synthesises it once.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tempfile

import numpy as np
from numpy.typing import NDArray

from rtsync.audio.formats import read_wav, resample

__all__ = ["RATE", "VOICES", "espeak_available", "resolve_voice", "synthesize", "tone"]

logger = logging.getLogger("rtsync.server")

#: Sample rate of synthesised audio (the pcm16 wire rate).
RATE = 24000
#: Values of the ``voice`` option of :class:`rtsync.server.LocalServer`.
VOICES = ("auto", "espeak", "tone")

_TONE_HZ = 440.0
_TONE_PEAK = 10 ** (-12 / 20)  # -12 dBFS
_BEEP_MS = 250
_GAP_MS = 50
_FADE_MS = 10
_ESPEAK_TIMEOUT = 20.0
_CACHE_SIZE = 64


def espeak_available() -> bool:
    """Return whether the ``espeak-ng`` program is on ``PATH``."""
    return shutil.which("espeak-ng") is not None


def resolve_voice(voice: str) -> str:
    """Turn a ``voice`` option into the voice actually used (``"espeak"`` or ``"tone"``).

    Args:
        voice: ``"auto"``, ``"espeak"`` or ``"tone"``.

    Raises:
        ValueError: an unknown voice, or ``"espeak"`` while ``espeak-ng`` is not installed.
    """
    if voice not in VOICES:
        raise ValueError(f"unknown voice {voice!r}; expected one of {', '.join(VOICES)}")
    if voice == "auto":
        return "espeak" if espeak_available() else "tone"
    if voice == "espeak" and not espeak_available():
        raise ValueError("voice='espeak' needs the espeak-ng program, which is not on PATH")
    return voice


def tone(words: int) -> NDArray[np.int16]:
    """Return the synthetic voice for ``words`` words: 300 ms of beep and gap per word.

    Args:
        words: number of words (at least one beep is produced).
    """
    beep_n = RATE * _BEEP_MS // 1000
    gap_n = RATE * _GAP_MS // 1000
    fade_n = RATE * _FADE_MS // 1000
    t = np.arange(beep_n) / RATE
    beep = np.sin(2 * np.pi * _TONE_HZ * t) * _TONE_PEAK
    envelope = np.ones(beep_n)
    ramp = np.linspace(0.0, 1.0, fade_n, endpoint=False)
    envelope[:fade_n] = ramp
    envelope[-fade_n:] = ramp[::-1]
    one = np.concatenate((beep * envelope, np.zeros(gap_n)))
    samples = np.tile(one, max(1, words))
    return np.round(samples * 32767).astype(np.int16)


def _espeak(text: str) -> NDArray[np.int16]:
    program = shutil.which("espeak-ng")
    if program is None:
        raise OSError("espeak-ng is not installed")
    fd, path = tempfile.mkstemp(prefix="rtsync-voice-", suffix=".wav")
    os.close(fd)
    try:
        subprocess.run(
            [program, "--stdin", "-w", path],
            input=text.encode("utf-8"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=_ESPEAK_TIMEOUT,
            check=True,
        )
        samples, rate = read_wav(path)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return np.asarray(resample(samples, rate, RATE), dtype=np.int16)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached(text: str, voice: str) -> NDArray[np.int16]:
    words = len(text.split())
    if voice == "espeak" and text.strip():
        try:
            samples = _espeak(text)
            if len(samples):
                samples.setflags(write=False)
                return samples
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            logger.warning("local server: espeak-ng failed (%s); using the tone voice", exc)
    samples = tone(words)
    samples.setflags(write=False)
    return samples


def synthesize(text: str, voice: str = "auto") -> NDArray[np.int16]:
    """Return ``text`` spoken by ``voice``, as read-only int16 samples at 24 kHz.

    The same ``(text, voice)`` always gives the same samples (they are cached).

    Args:
        text: the words to speak.
        voice: ``"auto"``, ``"espeak"`` or ``"tone"``.
    """
    return _cached(text, resolve_voice(voice))
