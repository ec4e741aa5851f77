"""The microphone: :class:`Microphone`, a PortAudio input stream feeding a lock-free ring buffer."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rtsync.audio.formats import Resampler
from rtsync.audio.portaudio import _PA_CONTINUE, _PA_INPUT_OVERFLOW, DeviceInfo
from rtsync.audio.ringbuffer import RingBuffer
from rtsync.audio.stream import _pow2_at_least, _Stream

__all__ = ["Microphone"]


class Microphone(_Stream):
    """Microphone input: a PortAudio callback stream of mono int16 samples.

    Which thread runs what:

    * **PortAudio's callback thread** runs only the internal callback. It copies each block
      PortAudio captured into a :class:`~rtsync.audio.ringbuffer.RingBuffer` and updates the
      counters. It never takes a lock, never allocates sample memory (it views PortAudio's
      bytes with ``np.frombuffer``, which creates only a small array header, and copies them
      once, into the ring), never logs, never touches a socket, never resamples, and never
      lets an exception escape (an exception is counted in :attr:`callback_errors` and the
      block is dropped).
    * **Your thread** (one consumer at a time; the consumer methods take a lock of their own,
      never shared with the callback) calls :meth:`read`, :meth:`read_block`,
      :attr:`available`, :attr:`level`, :meth:`clear`, and does the rate conversion when the
      device runs at another rate. :meth:`start`, :meth:`stop` and :meth:`close` may be
      called from any thread.

    The stream is opened in ``__init__`` (on the device, at ``rate`` or at the device's
    default rate when it refuses ``rate``) and starts on :meth:`start` or ``with``. If your
    code reads more slowly than the device captures, the ring buffer (``buffer_ms``) fills
    up and the newest samples are dropped and counted in :attr:`overruns` and
    :attr:`overrun_samples`.

    Args:
        rate: the rate of the samples you read, in Hz.
        block_ms: PortAudio's buffer size in milliseconds, and the size of :meth:`read_block`.
        device: ``None`` (default input), a device index, a name (exact, then substring) or a
            :class:`DeviceInfo`.
        buffer_ms: how much audio the ring buffer holds before overrunning.
        device_rate: open the device at this rate instead of negotiating it (the samples are
            converted to ``rate`` in :meth:`read`). ``None`` negotiates.

    Raises:
        AudioError: PyAudio/PortAudio missing, no such device, or the device cannot be opened
            (the message names the device and the rates tried).

    Example::

        with Microphone() as mic:
            while True:
                block = mic.read_block(timeout=1.0)   # 20 ms of int16 at 24 kHz
                ...
    """

    _output = False

    def __init__(
        self,
        rate: int = 24000,
        block_ms: float = 20,
        device: int | str | DeviceInfo | None = None,
        buffer_ms: float = 2000,
        *,
        device_rate: int | None = None,
    ) -> None:
        if buffer_ms <= 0:
            raise ValueError(f"buffer_ms must be positive, got {buffer_ms!r}")
        self._buffer_ms = float(buffer_ms)
        self._read_lock = threading.Lock()
        self._level = -math.inf
        self._empty: NDArray[np.int16] = np.zeros(0, dtype=np.int16)
        self._pending: NDArray[np.int16] = self._empty
        super().__init__(rate, block_ms, device, device_rate)

    def _setup(self, device_rate: int) -> None:
        super()._setup(device_rate)
        capacity = max(round(device_rate * self._buffer_ms / 1000.0), 2 * self._device_block)
        self._ring = RingBuffer(_pow2_at_least(capacity), np.int16)
        self._resampler = Resampler(device_rate, self._rate) if self._resampling else None
        self._pending = self._empty
        self._blocks = 0
        self._overruns = 0
        self._overrun_samples = 0
        self._input_overflows = 0
        self._result = (None, _PA_CONTINUE)  # preallocated return value of the callback

    # -- the real-time callback (PortAudio's thread)

    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[Any, int]:
        try:
            self._blocks += 1
            lost = False
            if status & _PA_INPUT_OVERFLOW:
                self._input_overflows += 1
                lost = True
            if in_data is not None:
                dropped = frame_count - self._ring.write_bytes(in_data)
                if dropped > 0:
                    self._overrun_samples += dropped
                    lost = True
            if lost:
                self._overruns += 1
        except BaseException as exc:
            self._callback_errors += 1
            self._last_callback_error = exc
        return self._result

    # -- consumer side (your thread)

    def _fill(self, n: int) -> int:
        """Convert device-rate samples from the ring into ``_pending`` until it holds ``n``."""
        assert self._resampler is not None
        pending = self._pending
        while len(pending) < n:
            avail = self._ring.read_available
            if avail <= 0:
                break
            chunk = np.empty(avail, dtype=np.int16)
            got = self._ring.readinto(chunk)
            if got <= 0:
                break
            out = self._resampler.process(chunk[:got])
            pending = np.concatenate((pending, out)) if len(pending) else out
        self._pending = pending
        return len(pending)

    def _read_locked(self, n: int) -> NDArray[np.int16]:
        if n <= 0:
            return np.zeros(0, dtype=np.int16)
        if self._resampler is None:
            out = np.empty(min(n, self._ring.read_available), dtype=np.int16)
            got = self._ring.readinto(out)
            out = out[:got]
        else:
            self._fill(n)
            out = self._pending[:n].copy()
            self._pending = self._pending[n:]
        if len(out):
            rms = math.sqrt(float(np.mean(np.square(out, dtype=np.float64))))
            self._level = 20.0 * math.log10(rms / 32768.0) if rms > 0 else -math.inf
        return out

    def read(self, n: int) -> NDArray[np.int16]:
        """Return up to ``n`` captured samples at :attr:`rate`, oldest first, without waiting.

        Args:
            n: the most samples to return.

        Returns:
            A new int16 array of exactly ``n`` samples, or fewer (possibly none) when fewer
            are available.

        Called on: your thread (never the callback thread).
        """
        with self._read_lock:
            return self._read_locked(int(n))

    def read_block(self, timeout: float | None = None) -> NDArray[np.int16]:
        """Wait for one block (:attr:`block_size` samples at :attr:`rate`) and return it.

        Polls every quarter of a block; takes no lock that the callback uses.

        Args:
            timeout: the longest wait in seconds; ``None`` waits as long as the stream runs.

        Returns:
            :attr:`block_size` samples, or fewer (possibly none) when the timeout expires or
            the stream is not running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = self._block_ms / 4000.0
        n = self._block
        while True:
            with self._read_lock:
                ready = self._fill(n) if self._resampler is not None else self._ring.read_available
                if ready >= n or not self.active:
                    return self._read_locked(n)
                if deadline is not None and time.monotonic() >= deadline:
                    return self._read_locked(n)
            time.sleep(poll)

    @property
    def available(self) -> int:
        """Samples :meth:`read` can return now, at :attr:`rate`.

        Exact when the device runs at :attr:`rate`; an estimate (within a few samples) when
        converting, because the converter holds back a few samples of look-ahead.
        """
        if self._resampler is None:
            return self._ring.read_available
        return len(self._pending) + self._to_rate(self._ring.read_available)

    def clear(self) -> None:
        """Discard everything captured so far (e.g. after a turn was committed)."""
        with self._read_lock:
            self._ring.flush()
            self._pending = self._empty
            if self._resampler is not None:
                self._resampler.reset()

    @property
    def level(self) -> float:
        """RMS level of the last block returned by :meth:`read`, in dBFS (``-inf`` for silence).

        0 dBFS is the RMS of a full-scale square wave; a full-scale sine is about -3 dBFS.
        Computed on your thread when you read, never in the callback.
        """
        return self._level

    @property
    def blocks(self) -> int:
        """Blocks PortAudio delivered to the callback since the stream opened."""
        return self._blocks

    @property
    def overruns(self) -> int:
        """Blocks in which input was lost: the ring buffer was full, or PortAudio reported overflow."""
        return self._overruns

    @property
    def overrun_samples(self) -> int:
        """Samples (device frames) dropped because the ring buffer was full."""
        return self._overrun_samples

    @property
    def input_overflows(self) -> int:
        """Callbacks in which PortAudio flagged ``paInputOverflow`` (input lost before rtsync saw it)."""
        return self._input_overflows

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("active" if self.active else "stopped")
        return (
            f"<Microphone {self._info.name!r} rate={self._rate} device_rate={self._device_rate} "
            f"{state} blocks={self._blocks} overruns={self._overruns}>"
        )
