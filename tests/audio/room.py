"""A deterministic synthetic room for the echo canceller's tests and benchmarks (no pytest here).

The voices are two WAVs committed once (``tests/audio/data/``, 24 kHz mono int16, made with
espeak-ng 1.51: ``assistant.wav`` ~12.4 s, ``user.wav`` ~5.6 s); espeak-ng is never called at
test time because its output changes between versions. A :class:`Scene` is built from a seed:

* the room's impulse response: the direct path after ``delay_ms``, then an exponentially
  decaying noise tail (``rt60_s``) starting at the direct path, at ``tail_db`` of its energy;
* the echo = assistant (what the speaker played) through that response, scaled so that its RMS
  is ``echo_over_user_db`` above the user's RMS at the microphone;
* the microphone = echo + user (starting at ``user_at_s``, and again alone after the assistant
  ended, at ``user_again_s``) + white noise at ``noise_dbfs``.

Levels are compared with :func:`level_db` and :func:`erle_db` over windows, never sample by
sample: AEC3's float results differ slightly between runs and CPUs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rtsync.audio import read_wav

DATA = Path(__file__).with_name("data")
RATE = 24000
BLOCK = 480  # 20 ms


def voices() -> tuple[NDArray[np.int16], NDArray[np.int16]]:
    """The assistant's and the user's voice (24 kHz int16)."""
    a, ra = read_wav(DATA / "assistant.wav")
    u, ru = read_wav(DATA / "user.wav")
    assert ra == ru == RATE
    return np.asarray(a, dtype=np.int16), np.asarray(u, dtype=np.int16)


def _rms(x: NDArray[np.floating]) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _active_rms(x: NDArray[np.floating]) -> float:
    """RMS over the 20 ms blocks within 30 dB of the loudest (the voiced part of speech)."""
    n = len(x) // BLOCK
    p = np.mean(np.square(x[: n * BLOCK].reshape(n, BLOCK), dtype=np.float64), axis=1)
    return float(np.sqrt(np.mean(p[p > p.max() * 1e-3])))


@dataclass
class Scene:
    """One room and one conversation; arrays are float64 at the microphone (int16 scale)."""

    seed: int = 1
    delay_ms: float = 60.0
    rt60_s: float = 0.2
    tail_db: float = -6.0
    echo_over_user_db: float = 4.0
    noise_dbfs: float = -70.0
    user_at_s: float = 5.0
    user_again_s: float = 13.5
    played: NDArray[np.int16] = field(init=False)
    echo: NDArray[np.float64] = field(init=False)
    user: NDArray[np.float64] = field(init=False)
    noise: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        far, near = voices()
        total = int((self.user_again_s + len(near) / RATE + 0.5) * RATE)
        total -= total % BLOCK
        self.played = np.zeros(total, dtype=np.int16)
        self.played[: len(far)] = far
        d = int(self.delay_ms * RATE / 1000)
        n_tail = int(self.rt60_s * RATE)
        t = np.arange(n_tail) / RATE
        tail = rng.standard_normal(n_tail) * np.exp(-6.9 * t / self.rt60_s)
        tail *= math.sqrt(10 ** (self.tail_db / 10) / float(np.sum(tail * tail)))
        rir = np.zeros(d + n_tail)
        rir[d:] += tail
        rir[d] += 1.0
        echo = np.convolve(far.astype(np.float64), rir)[:total]
        self.user = np.zeros(total)
        for at in (self.user_at_s, self.user_again_s):
            i = int(at * RATE)
            m = min(len(near), total - i)
            self.user[i:i + m] += near[:m]
        gain = _active_rms(self.user[self.user != 0]) * 10 ** (self.echo_over_user_db / 20) / _active_rms(echo)
        self.echo = np.zeros(total)
        self.echo[: len(echo)] = echo * gain
        self.noise = rng.standard_normal(total) * 32768 * 10 ** (self.noise_dbfs / 20)

    def mic(self, user: bool = True) -> NDArray[np.int16]:
        """The microphone: echo + noise, plus the user when ``user``."""
        x = self.echo + self.noise + (self.user if user else 0.0)
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)

    def seconds(self, a: float, b: float) -> slice:
        """A slice of samples from ``a`` to ``b`` seconds."""
        return slice(int(a * RATE), int(b * RATE))

    @property
    def far_end_s(self) -> float:
        """When the assistant stops (seconds)."""
        return float(np.flatnonzero(self.played)[-1]) / RATE


def run(process: Callable[[NDArray[np.int16], NDArray[np.int16]], NDArray[np.int16]],
        mic: NDArray[np.int16], played: NDArray[np.int16], block: int = BLOCK) -> NDArray[np.int16]:
    """Push ``mic`` and ``played`` through ``process`` in lockstep blocks; the cleaned signal."""
    out = np.zeros(len(mic), dtype=np.int16)
    for i in range(0, len(mic) - block + 1, block):
        out[i:i + block] = process(mic[i:i + block], played[i:i + block])
    return out


def level_db(x: NDArray, sl: slice | None = None) -> float:
    """RMS level in dBFS of ``x[sl]``."""
    r = _rms(np.asarray(x[sl] if sl is not None else x, dtype=np.float64))
    return 20 * math.log10(r / 32768) if r > 0 else -math.inf


def erle_db(mic: NDArray, out: NDArray, sl: slice) -> float:
    """Echo return loss enhancement over ``sl``: mic level minus cleaned level (capped at 80 dB)."""
    return min(80.0, level_db(mic, sl) - level_db(out, sl))


def erle_windows(mic: NDArray, out: NDArray, a: float, b: float, win_s: float = 0.5) -> list[float]:
    """ERLE per ``win_s`` window from ``a`` to ``b`` seconds, skipping windows where the mic is quiet."""
    res = []
    t = a
    while t + win_s <= b + 1e-9:
        sl = slice(int(t * RATE), int((t + win_s) * RATE))
        if level_db(mic, sl) > -50:
            res.append(erle_db(mic, out, sl))
        t += win_s
    return res


def user_dominant_level_db(user: NDArray, echo: NDArray, out: NDArray, sl: slice,
                           margin_db: float = 10.0, nfft: int = 512) -> float:
    """How much of the user is left in ``out`` during ``sl``, in dB (0 = all of it).

    The STFT bins (Hann, ``nfft``, hop ``nfft // 2``) where the user at the microphone is at
    least ``margin_db`` above the echo are the ones the user dominates; the cleaned signal's
    energy in those bins is compared with the user's.
    """
    def stft(x: NDArray) -> NDArray[np.float64]:
        x = np.asarray(x[sl], dtype=np.float64)
        hop = nfft // 2
        n = (len(x) - nfft) // hop + 1
        idx = np.arange(nfft)[None, :] + hop * np.arange(n)[:, None]
        return np.abs(np.fft.rfft(x[idx] * np.hanning(nfft), axis=1)) ** 2

    pu, pe, po = stft(user), stft(echo), stft(out)
    mask = (pu > pe * 10 ** (margin_db / 10)) & (pu > np.max(pu) * 1e-4)
    return 10 * math.log10(float(np.sum(po[mask])) / float(np.sum(pu[mask])))


def count_vad_starts(x: NDArray[np.int16], sl: slice | None = None, threshold: float = 0.5) -> int:
    """How often the local server's energy VAD (default settings) would fire speech_started on ``x``."""
    from rtsync.server.vad import EnergyVad

    vad = EnergyVad()
    vad.push(np.asarray(x[sl] if sl is not None else x, dtype=np.int16), RATE)
    starts = 0
    while True:
        ev = vad.step(threshold, 300, 500)
        if ev is None:
            break
        starts += ev.kind == "started"
    return starts
