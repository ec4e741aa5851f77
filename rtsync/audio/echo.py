"""Acoustic echo cancellation: remove what the speaker played from what the microphone heard.

:class:`EchoCanceller` takes blocks of int16 microphone samples and the samples that were handed
to the speaker at the same time (the *reference*), and returns the microphone block with the
echo of the reference removed. The work is done by a backend chosen by name; the one shipped is
``"webrtc"``: WebRTC's AEC3 (the canceller browsers use) from the ``livekit`` wheel, installed with
``pip install 'rtsync[aec]'``. The library is imported when the first canceller is created, never
when this module is imported.

Blocks are any whole number of 10 ms frames (240 samples at 24 kHz); each frame goes through the
backend as "reverse stream first (what was played), then the microphone frame". Feed one
reference block per microphone block, in lockstep, from one thread; never from a PortAudio
callback (a frame costs about 0.1-0.4 ms).

What the canceller reports (read them from any thread; they are plain floats and booleans):

* :attr:`EchoCanceller.erle_db`: a running estimate of the echo return loss enhancement, the
  level of the microphone over the level of the cleaned signal while the reference plays
  (about one second of smoothing), in dB. During double talk it drops, since the user is kept.
* :attr:`EchoCanceller.converged`: True once the reference has played for ``converge_s``
  seconds (4 by default) in total since the start, since the end of the user's last turn, or
  since :meth:`EchoCanceller.reconverge` (AEC3 lets short bursts of echo through in its first
  seconds, at the onset of a reply after a pause, in the reply after double talk, and after the
  echo path's delay jumped).
* The start-up guard (``guard=True``, the default) acts only while not converged, and only once
  the canceller has shown that the reference is the right one (its running ERLE reached
  ``guard_min_erle_db`` at least once; a wrong reference never gets there). It mutes a frame
  whose microphone level is not ``guard_margin_db`` above the echo predicted for that frame:

  - the echo's delay is found by matching the amplitude envelope of the microphone against
    the reference's (10 ms frames, the last 1.5 s, lags up to 500 ms, kept when the
    correlation is at least 0.8; :attr:`EchoCanceller.echo_delay_ms`); the predicted echo is
    then the loudest reference frame within 30 ms of that delay, times the room's echo loss,
    learnt from frames the canceller removed 20 dB or more of (in dB, a high quantile: rising
    at most 0.5 dB and falling at most 0.02 dB a frame, ignoring jumps of over 6 dB, so that a
    user talking over the echo does not teach it a louder echo);
  - before a delay is found, it predicts from the loudest reference of the last 320 ms and acts
    only while a fast (~100 ms) ERLE is at least 10 dB (a user talking over the echo pulls that
    down within a few frames);
  - after :meth:`EchoCanceller.reconverge` it predicts from the last 320 ms whatever the ERLE
    does (a jump of the delay pulls the ERLE down too, and the guard must hold exactly then).

  So a user who talks over the first seconds of a reply gets through on every frame where they
  are louder than the echo (within a few frames on the virtual device at equal levels), and
  AEC3's bursts, which are never louder than the echo, do not. Set :attr:`EchoCanceller.user_turn`
  while the server has detected the user (``VoiceSession`` does, from ``speech_started`` to
  ``speech_stopped``): the guard then stands down, so that it cannot cut the user's turn into
  pieces that a server VAD would take for two turns, and comes back for ``converge_s`` seconds
  of reference when the turn ends (the reply that follows double talk is where AEC3 leaks).
* The canceller never returns a frame louder than the microphone's (from digital silence AEC3
  can emit its own echo estimate).
* Near-end bypass: a microphone frame ``near_end_db`` (30 dB) above the room's usual
  microphone-to-reference level (the level 80 % of the frames stay under, learnt only from
  frames that are not the user) is the user, and is passed on untouched. Without an echo path
  (headphones) AEC3 would otherwise treat a user who talks over the first seconds of playback
  as echo and suppress them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["EchoBackend", "EchoCanceller", "backend_names", "register_backend"]

_AEC_HINT = "pip install 'rtsync[aec]'"


class EchoBackend(Protocol):
    """What a canceller backend provides: one 10 ms frame at a time, on one thread."""

    def process_frame(self, mic: NDArray[np.int16], played: NDArray[np.int16], out: NDArray[np.int16]) -> None:
        """Write the echo-cancelled ``mic`` frame into ``out`` (all three are 10 ms long)."""

    def close(self) -> None:
        """Release the backend's resources."""


BackendFactory = Callable[[int, int | None], EchoBackend]
_BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register a canceller backend under ``name``.

    Args:
        name: what ``EchoCanceller(backend=name)`` selects.
        factory: ``factory(rate, delay_ms) -> EchoBackend``; it may raise ``ImportError`` when
            its library is missing (the message should say how to install it).
    """
    _BACKENDS[name] = factory


def backend_names() -> list[str]:
    """The names of the registered backends, sorted."""
    return sorted(_BACKENDS)


class _WebRtcBackend:
    """WebRTC AEC3 through ``livekit.rtc.AudioProcessingModule`` (echo canceller + high-pass)."""

    def __init__(self, rate: int, delay_ms: int | None) -> None:
        try:
            from livekit import rtc
        except ImportError as exc:
            raise ImportError(f"echo cancellation needs the livekit package: {_AEC_HINT}") from exc
        n = rate // 100
        self._apm: Any = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True,
                                              noise_suppression=False, auto_gain_control=False)
        if delay_ms is not None:
            self._apm.set_stream_delay_ms(int(delay_ms))
        # One frame object each way, reused: the samples are copied in and out of their buffers.
        self._ref = rtc.AudioFrame(bytearray(2 * n), rate, 1, n)
        self._mic = rtc.AudioFrame(bytearray(2 * n), rate, 1, n)
        self._ref_view = np.frombuffer(self._ref.data, dtype=np.int16)
        self._mic_view = np.frombuffer(self._mic.data, dtype=np.int16)

    def process_frame(self, mic: NDArray[np.int16], played: NDArray[np.int16], out: NDArray[np.int16]) -> None:
        self._ref_view[:] = played
        self._apm.process_reverse_stream(self._ref)
        self._mic_view[:] = mic
        self._apm.process_stream(self._mic)
        out[:] = self._mic_view

    def close(self) -> None:
        self._apm = None


register_backend("webrtc", _WebRtcBackend)


_GATE_DB = 10.0  # the guard's fast ERLE under which, with no delay known yet, a user is talking
_ENV_FRAMES = 256  # 2.56 s of frame levels
_MAX_LAG = 50  # the longest echo delay the guard looks for, in 10 ms frames
_WINDOW = 150  # frames the delay is matched over
_MATCH = 0.8  # the envelope correlation that says the delay is found
_SPREAD = 3  # frames either side of the delay found that can hold the echo (jitter, a lag off by one)


def _db(p: float) -> float:
    return 10.0 * math.log10(p) if p > 0 else -math.inf


class EchoCanceller:
    """An acoustic echo canceller for one audio session (one microphone, one speaker).

    Args:
        rate: sample rate of both streams in Hz (a multiple of 100; AEC3 takes 8k to 48k).
        backend: the backend's name (see :func:`backend_names`); ``"webrtc"`` needs the
            ``aec`` extra.
        delay_ms: a hint for the delay from a reference sample to its echo in the microphone,
            or None to let the backend find it. Never give more than the true delay: an
            overestimate hurts far more than no hint.
        guard: mute frames that are most likely echo (not louder than the predicted echo)
            while the canceller has not converged. See the module docstring.
        converge_s: seconds of playing reference after which the canceller counts as
            converged (from the start, and again after :meth:`reconverge`).
        guard_margin_db: how far above the predicted echo the microphone must be to pass the
            guard.
        guard_min_erle_db: the guard acts only once the running ERLE has reached this (the
            canceller has shown that the reference is the one that makes the echo).
        near_end_db: a microphone frame this far above the usual microphone-to-reference
            level of the room (the level 80 % of the frames stay under) is the user talking: it
            is passed on as it is, neither cancelled nor guarded (the echo in it is at least
            this much weaker).
        active_dbfs: a reference frame above this RMS level counts as playing.

    Raises:
        ImportError: the backend's library is missing (for ``"webrtc"``: ``pip install
            'rtsync[aec]'``).
        ValueError: unknown backend or a rate that is not a multiple of 100.

    Not thread-safe: call :meth:`process` from one thread (the properties may be read from
    any thread). Keep one canceller per session; do not reset it on barge-in, it keeps what it
    has learnt about the room. Create a new one when the device or the rate changes.
    """

    def __init__(
        self,
        rate: int = 24000,
        *,
        backend: str = "webrtc",
        delay_ms: int | None = None,
        guard: bool = True,
        converge_s: float = 4.0,
        guard_margin_db: float = 3.0,
        guard_min_erle_db: float = 20.0,
        near_end_db: float = 30.0,
        active_dbfs: float = -60.0,
    ) -> None:
        if rate <= 0 or rate % 100:
            raise ValueError(f"rate must be a positive multiple of 100 Hz, got {rate}")
        factory = _BACKENDS.get(backend)
        if factory is None:
            raise ValueError(f"unknown echo canceller backend {backend!r}; known: {', '.join(backend_names())}")
        self.rate = rate
        self.backend = backend
        self.frame_samples = rate // 100
        self.guard = guard
        self.converge_s = converge_s
        self.guard_margin_db = guard_margin_db
        self.guard_min_erle_db = guard_min_erle_db
        self._margin = 10 ** (guard_margin_db / 10)
        self.near_end_db = near_end_db
        self._impl: EchoBackend | None = factory(rate, delay_ms)
        self._lock = threading.Lock()  # serializes process() against close()
        self._active_p = (10 ** (active_dbfs / 20) * 32768.0) ** 2
        self._floor_p = (10 ** (-75 / 20) * 32768.0) ** 2  # below this the microphone is silence
        # running state (sender thread writes, anyone reads)
        self._mic_avg = 0.0
        self._out_avg = 0.0
        self._erle_db = math.nan
        self._active_frames = 0
        self._proven = False
        self._coupling_db = 0.0  # assume a loud echo until the room shows otherwise
        self._idle = True
        self._gate_mic = 1.0
        self._gate_out = 0.0
        self._gate_ratio = 10 ** (_GATE_DB / 10)
        self._near_end_frames = 0
        self._relearning = False
        self._ref_env = 0.0  # the loudest reference frame of the last 320 ms (covers the echo delay)
        self._ref_hist = np.zeros(32)
        self._erl = 1.0  # echo power / reference power, learnt from frames the canceller removed
        # The echo's delay in frames, found by matching the microphone's amplitude envelope against
        # the reference's (None until the room has shown one); the guard then predicts each
        # frame's echo from the reference frames that made it, not from the last 320 ms.
        self._lin_ref = np.zeros(_ENV_FRAMES)  # frame powers
        self._lin_mic = np.zeros(_ENV_FRAMES)
        self._delay: int | None = None
        self._delay_corr = 0.0
        self._aligned_erl = 1.0
        self._cpu_s = 0.0
        self._frames = 0
        self._guarded_frames = 0
        self._frames_tracked = 0
        self._alpha = 1.0 / 100  # ~1 s of 10 ms frames
        self._user_turn = False
        # Requests to count as not converged again, from any thread: a counter the sender thread
        # compares with the last one it honoured (a plain store of 0 into _active_frames could be
        # lost under the sender's own increment).
        self._rearm_req = 0
        self._rearm_seen = 0
        self._relearn_req = 0
        self._relearn_seen = 0

    # -- reported state ---------------------------------------------------------------------
    @property
    def erle_db(self) -> float:
        """Running echo reduction in dB while the reference plays (``nan`` before it has played)."""
        return self._erle_db

    @property
    def converged(self) -> bool:
        """True once the reference has played for ``converge_s`` seconds in total since the start,
        the end of the user's last turn, or :meth:`reconverge`."""
        return self.active_seconds >= self.converge_s

    @property
    def user_turn(self) -> bool:
        """True while the server has detected the user talking (set it between
        ``input_audio_buffer.speech_started`` and ``speech_stopped``; ``VoiceSession`` does).

        While it is True the guard stands down, so that it cannot cut the user's turn into
        pieces that a server VAD would take for two turns. When it goes back to False the
        canceller counts as not converged again for ``converge_s`` seconds of reference: AEC3
        can let bursts of echo through the next reply after double talk, and the guard (with
        the delay and the echo loss it has learnt) covers them. Any thread may set it.
        """
        return self._user_turn

    @user_turn.setter
    def user_turn(self, value: bool) -> None:
        value = bool(value)
        if self._user_turn and not value and self._proven:
            self._rearm_req += 1  # honoured by the thread that runs process()
        self._user_turn = value

    @property
    def active_seconds(self) -> float:
        """Seconds of playing reference seen since the start, the end of the user's last turn
        or the last :meth:`reconverge` (0 while such a restart waits for the next block)."""
        if self._restart_pending():
            return 0.0
        return self._active_frames * 0.01

    def _restart_pending(self) -> bool:
        """A re-arm (end of a user turn) or a :meth:`reconverge` not yet honoured by :meth:`process`."""
        return self._rearm_req != self._rearm_seen or self._relearn_req != self._relearn_seen

    def reconverge(self) -> None:
        """Say that the echo path has changed (e.g. the output device lost time): count as not
        converged again for ``converge_s`` seconds of reference, so that the guard covers the
        relearning. The canceller keeps what it has learnt. Before it has cancelled anything
        this changes nothing (it is still learning). Safe from any thread."""
        if self._proven:
            self._relearn_req += 1  # honoured by the thread that runs process()

    @property
    def echo_delay_ms(self) -> int | None:
        """The echo's delay (reference to microphone, in 10 ms steps) the guard found by matching
        amplitude envelopes; None until the room has shown one."""
        return None if self._delay is None else self._delay * 10

    @property
    def frames(self) -> int:
        """10 ms frames processed so far."""
        return self._frames

    @property
    def near_end_frames(self) -> int:
        """10 ms frames passed on as they were because the user was far louder than any echo."""
        return self._near_end_frames

    @property
    def guarded_frames(self) -> int:
        """10 ms frames the start-up guard muted."""
        return self._guarded_frames

    @property
    def cpu_ms_per_10ms(self) -> float:
        """Mean CPU time (of the calling thread) per 10 ms frame in milliseconds (``nan`` before the first)."""
        return self._cpu_s * 1000 / self._frames if self._frames else math.nan

    # -- processing ---------------------------------------------------------------------------
    def process(self, mic: NDArray[np.int16], played: NDArray[np.int16]) -> NDArray[np.int16]:
        """Return ``mic`` with the echo of ``played`` removed.

        Args:
            mic: int16 microphone samples (mono), a whole number of 10 ms frames.
            played: the int16 samples handed to the speaker during the same period, the same
                length as ``mic`` (zeros while nothing played).

        Returns:
            A new int16 array of the same length.

        Raises:
            ValueError: lengths differ or are not a whole number of 10 ms frames.
            RuntimeError: the canceller was closed.
        """
        n = self.frame_samples
        if len(mic) != len(played):
            raise ValueError(f"mic and played must have the same length, got {len(mic)} and {len(played)}")
        if len(mic) % n:
            raise ValueError(f"blocks must be a whole number of 10 ms frames ({n} samples), got {len(mic)}")
        mic = np.asarray(mic, dtype=np.int16)
        played = np.asarray(played, dtype=np.int16)
        out = np.empty(len(mic), dtype=np.int16)
        with self._lock:
            impl = self._impl
            if impl is None:
                raise RuntimeError("the echo canceller is closed")
            t0 = time.thread_time()
            frames = len(mic) // n
            for i in range(0, len(mic), n):
                impl.process_frame(mic[i:i + n], played[i:i + n], out[i:i + n])
            self._track(mic.reshape(frames, n), played.reshape(frames, n), out.reshape(frames, n))
            self._cpu_s += time.thread_time() - t0
            self._frames += frames
        return out

    def _track(self, mic: NDArray[np.int16], played: NDArray[np.int16], out: NDArray[np.int16]) -> None:
        """Update the running estimates frame by frame (rows of 10 ms); the guard mutes rows of ``out``."""
        n = mic.shape[1]
        both = np.concatenate((played, mic, out)).astype(np.float32)
        powers = (np.einsum("ij,ij->i", both, both) / n).tolist()
        k = len(mic)
        hist = self._ref_hist
        if self._restart_pending():
            rearm, relearn = self._rearm_req, self._relearn_req  # one snapshot: a later request waits
            if relearn != self._relearn_seen:
                self._relearning = True  # a reconverge(): the delay may have jumped
            self._rearm_seen, self._relearn_seen = rearm, relearn
            self._active_frames = 0
        for f in range(k):
            ref_p, mic_p, out_p = powers[f], powers[k + f], powers[2 * k + f]
            hist[self._frames_tracked % len(hist)] = ref_p
            slot = self._frames_tracked % _ENV_FRAMES
            self._lin_ref[slot] = ref_p
            self._lin_mic[slot] = mic_p
            self._frames_tracked += 1
            aligned = -1.0
            if self.guard and not self.converged:  # only the guard needs the delay and its prediction
                if self._frames_tracked % 20 == 0:
                    self._find_delay()
                aligned = self._aligned_ref()
            if ref_p >= self._ref_env:
                self._ref_env = ref_p
            else:
                self._ref_env = float(hist.max())
            if ref_p > self._active_p:
                self._active_frames += 1
            if self._ref_env <= self._active_p:
                self._idle = True
                continue
            if self._idle:
                # The reference starts again after a pause: the guard's fast estimate starts
                # from "cancelling", so that the onset of a reply is covered at once.
                self._idle = False
                self._gate_mic, self._gate_out = 1.0, 0.0
            # The level of the microphone against the reference that 80 % of the frames stay
            # under (a running quantile, in dB): about the room's echo loss where there is echo,
            # very low where there is none (headphones). A frame far above it is the user,
            # whatever the canceller thinks: AEC3 treats near-end speech as echo until its
            # filter has found an echo, and with no echo path at all that would mute a user who
            # barges in early.
            if out_p > mic_p:
                # The canceller never makes a frame louder than the microphone heard it (from
                # digital silence AEC3 can emit its echo estimate).
                out[f] = mic[f]
                out_p = mic_p
            # Digital silence counts as -100 dB here: a muted or virtual microphone with no echo
            # path (headphones) then lets a user through at once.
            ratio_db = max(-100.0, _db(mic_p / self._ref_env)) if mic_p > 0 else -100.0
            if ratio_db >= self._coupling_db + self.near_end_db / 2:
                self._coupling_db += 0.05  # most likely the user: learnt only slowly
            else:
                self._coupling_db += 2.0 if ratio_db > self._coupling_db else -0.5
            if ratio_db >= self._coupling_db + self.near_end_db:
                out[f] = mic[f]
                out_p = mic_p
                self._near_end_frames += 1
            if mic_p <= self._floor_p:
                continue  # digital silence: nothing to learn or guard
            a = self._alpha
            self._mic_avg += a * (mic_p - self._mic_avg)
            self._out_avg += a * (out_p - self._out_avg)
            self._gate_mic += 0.1 * (mic_p - self._gate_mic)  # ~100 ms: the guard's own ERLE
            self._gate_out += 0.1 * (out_p - self._gate_out)
            gate_ok = self._gate_mic > self._gate_out * self._gate_ratio
            if self._out_avg > 0:
                self._erle_db = min(60.0, _db(self._mic_avg / self._out_avg))
            elif self._mic_avg > 0:
                self._erle_db = 60.0
            if self._erle_db >= self.guard_min_erle_db:
                self._proven = True
            if mic_p > 10.0 * max(out_p, 1.0):
                # The canceller removed at least 10 dB: this frame is echo, so it tells the room's
                # echo path loss. Rise fast (loud echo must be predicted at once), fall slowly.
                erl = mic_p / self._ref_env
                self._erl = erl if erl > self._erl else self._erl + 0.02 * (erl - self._erl)
            if aligned > self._active_p and mic_p > 100.0 * max(out_p, 1.0):
                # Removed at least 20 dB: echo, against the reference frames that made it. In
                # dB, rising at most 0.5 dB a frame and only within 6 dB of the estimate, since
                # AEC3 also removes the first frames of a user talking over the echo.
                step = _db(mic_p / aligned) - _db(self._aligned_erl)
                if step < 6.0:
                    self._aligned_erl *= 10 ** ((min(0.5, step) if step > 0 else max(-0.02, 0.05 * step)) / 10)
            if not self.guard or self.converged:
                self._relearning = False
                continue
            if not self._proven or self._user_turn:
                continue
            if self._relearning:
                # The delay has just changed (the aligned prediction may be off): predict from
                # the last 320 ms, whatever the canceller does (its ERLE drops exactly now).
                predicted = self._erl * self._ref_env
            elif aligned >= 0:
                # The delay is known: this frame's echo comes from a few reference frames.
                predicted = self._aligned_erl * aligned
            elif gate_ok:
                # No delay yet: predict from the last 320 ms, while the canceller is cancelling
                # (a user talking over the echo pulls its fast ERLE down and lifts this).
                predicted = self._erl * self._ref_env
            else:
                continue
            if mic_p < predicted * self._margin:
                out[f] = 0
                self._guarded_frames += 1

    def _aligned_ref(self) -> float:
        """The loudest reference power that can be in the current microphone frame's echo, given
        the delay found (within ``_SPREAD`` frames of it); -1 while no delay is known."""
        d = self._delay
        if d is None:
            return -1.0
        t = self._frames_tracked - 1
        lo, hi = max(0, t - d - _SPREAD), t - d + _SPREAD
        if hi < 0:
            return 0.0
        a, b = lo % _ENV_FRAMES, hi % _ENV_FRAMES
        lin = self._lin_ref
        if a <= b:
            return float(lin[a : b + 1].max())
        return max(float(lin[a:].max()), float(lin[: b + 1].max()))

    def _find_delay(self) -> None:
        """Match the microphone's amplitude envelope (RMS per 10 ms frame) against the reference's
        over the last ``_WINDOW`` frames at every lag up to ``_MAX_LAG``; keep the best lag when
        the correlation is at least ``_MATCH``.

        Only microphone frames that can hold echo count (some reference played in the
        ``_MAX_LAG`` frames before them): a user talking before the reply would blur the match.
        Amplitudes, not levels in dB: the pauses of any two voices line up well enough in dB
        (0.8-0.9 for a wrong reference on the synthetic rooms, against 0.56-0.66 in amplitude;
        the right one gives 0.93-1.0 either way).
        """
        t = self._frames_tracked
        if t < _WINDOW + _MAX_LAG:
            return
        order = np.arange(t - _WINDOW - _MAX_LAG, t) % _ENV_FRAMES
        ref_p = self._lin_ref[order]
        playing = np.lib.stride_tricks.sliding_window_view(ref_p > self._active_p, _WINDOW)[::-1][: _MAX_LAG + 1]
        can_echo = playing.any(axis=0)
        if int(can_echo.sum()) < _WINDOW // 3 or int(playing[0].sum()) < _WINDOW // 5:
            return  # too little reference playing to tell
        ref = np.sqrt(ref_p)
        windows = np.lib.stride_tricks.sliding_window_view(ref, _WINDOW)[::-1][: _MAX_LAG + 1][:, can_echo]
        mic = np.sqrt(self._lin_mic[order][_MAX_LAG:][can_echo])
        mic = mic - mic.mean()
        mnorm = float(np.sqrt((mic * mic).sum()))
        if mnorm == 0:
            return
        w = windows - windows.mean(axis=1, keepdims=True)
        corr = (w @ mic) / (np.sqrt((w * w).sum(axis=1)) * mnorm + 1e-9)
        lag = int(corr.argmax())
        if corr[lag] >= _MATCH:
            self._delay, self._delay_corr = lag, float(corr[lag])

    def close(self) -> None:
        """Release the backend. Idempotent; :meth:`process` raises afterwards."""
        with self._lock:
            impl, self._impl = self._impl, None
        if impl is not None:
            impl.close()

    def __enter__(self) -> EchoCanceller:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        erle = "n/a" if math.isnan(self._erle_db) else f"{self._erle_db:.1f} dB"
        return (f"EchoCanceller(rate={self.rate}, backend={self.backend!r}, erle={erle}, "
                f"converged={self.converged})")
