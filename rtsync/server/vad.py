"""Energy-based voice activity detection for the local server's ``server_vad`` turn detection.

The detector looks at the appended input audio in frames of 10 ms (240 samples of pcm16 at
24 kHz, 80 samples of G.711 at 8 kHz), incrementally: each append is decoded once, and only the
samples that do not fill a whole frame yet are kept for the next append.

Threshold mapping
    A frame is speech when its RMS level (after removing the frame's DC offset), in dBFS
    (``20·log10(rms / 32768)``), is above ``-70 + 60 × threshold`` dBFS: ``threshold`` 0.0 ->
    -70 dBFS (almost anything but digital silence), the default 0.5 -> -40 dBFS, 1.0 -> -10 dBFS
    (only very loud audio). Normal speech
    sits around -30 to -15 dBFS in its voiced frames, so it triggers at the default; digital
    silence and -60 dBFS noise do not.

Timing
    * Speech starts at the start of the first speech frame; ``audio_start_ms`` is that time
      minus ``prefix_padding_ms``, not below 0.
    * Speech stops once ``silence_duration_ms`` of consecutive non-speech frames have followed
      the last speech frame; ``audio_end_ms`` is the end of the frame that completed the silence
      window (so it includes the window).
    * Both are in milliseconds of the session clock: all audio appended during the session,
      whatever was committed or cleared since.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FRAME_MS", "EnergyVad", "VadEvent", "frame_dbfs", "threshold_dbfs"]

#: Frame length of the detector in milliseconds.
FRAME_MS = 10


def threshold_dbfs(threshold: float) -> float:
    """Return the RMS level (dBFS) above which a frame counts as speech for ``threshold``.

    Args:
        threshold: the ``turn_detection.threshold`` value, 0.0 to 1.0.
    """
    return -70.0 + 60.0 * min(1.0, max(0.0, float(threshold)))


def frame_dbfs(frame: NDArray[np.int16]) -> float:
    """Return the RMS level of ``frame`` in dBFS (``-inf`` for digital silence).

    The frame's mean (DC offset) is removed first, so a constant signal counts as silence.
    """
    if len(frame) == 0:
        return -math.inf
    x = frame.astype(np.float64)
    x -= x.mean()  # a DC offset is not sound
    rms = math.sqrt(float(np.mean(x * x)))
    return 20.0 * math.log10(rms / 32768.0) if rms > 0 else -math.inf


@dataclass(frozen=True)
class VadEvent:
    """A detection: ``kind`` is ``"started"`` (``ms`` = audio_start_ms, padded) or ``"stopped"``
    (``ms`` = audio_end_ms)."""

    kind: str
    ms: int


class EnergyVad:
    """Per-session detector state. Not thread-safe: the session calls it under its lock."""

    def __init__(self) -> None:
        self.clock_ms = 0.0  # session time at the start of the pending samples
        self.speaking = False
        self._pending: NDArray[np.int16] = np.zeros(0, dtype=np.int16)
        self._rate = 0
        self._silence_ms = 0

    @property
    def appended_ms(self) -> float:
        """Session time at the end of all the audio pushed so far."""
        return self.clock_ms + (len(self._pending) * 1000.0 / self._rate if self._rate else 0.0)

    def push(self, samples: NDArray[np.int16], rate: int) -> None:
        """Add decoded samples at ``rate`` Hz (a change of rate drops a pending partial frame)."""
        if rate != self._rate:
            self.clock_ms = self.appended_ms
            self._pending = np.zeros(0, dtype=np.int16)
            self._rate = rate
        self._pending = np.concatenate((self._pending, np.asarray(samples, dtype=np.int16)))

    def reset_speech(self) -> None:
        """Forget a turn in progress (after a manual commit or clear, or when VAD is turned off)."""
        self.speaking = False
        self._silence_ms = 0

    def skip(self) -> None:
        """Advance the clock over the pending samples without analysing them (VAD off)."""
        self.clock_ms = self.appended_ms
        self._pending = np.zeros(0, dtype=np.int16)

    def step(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> VadEvent | None:
        """Analyse pending whole frames until one produces an event, or none are left.

        Returns:
            The event, or ``None`` when all whole frames were consumed without one.
        """
        if not self._rate:
            return None
        size = self._rate * FRAME_MS // 1000
        level = threshold_dbfs(threshold)
        offset = 0
        event: VadEvent | None = None
        while event is None and len(self._pending) - offset >= size:
            frame = self._pending[offset:offset + size]
            offset += size
            start = self.clock_ms
            self.clock_ms += FRAME_MS
            speech = frame_dbfs(frame) > level
            if not self.speaking:
                if speech:
                    self.speaking = True
                    self._silence_ms = 0
                    event = VadEvent("started", max(0, round(start - max(0, prefix_padding_ms))))
            elif speech:
                self._silence_ms = 0
            else:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= max(0, silence_duration_ms):
                    self.speaking = False
                    self._silence_ms = 0
                    event = VadEvent("stopped", round(self.clock_ms))
        if offset:
            self._pending = self._pending[offset:]
        return event
