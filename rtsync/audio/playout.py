"""The speaker's playout state machine: :class:`Playout`, pure and driven block by block.

:class:`~rtsync.audio.Speaker` hands every PortAudio output callback to :meth:`Playout.fill`;
everything that decides *what* is played lives here, with no device, no PortAudio and no
clock, so tests can drive it sample-exact: prebuffering, underruns, the fade-out of an
interrupt (barge-in) with the flush of the queue, the end of a stream, and the counters.
All counts are in frames at the rate the samples are written at (the device rate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from rtsync.audio.ringbuffer import RingBuffer

__all__ = ["Playout"]

# States of the consumer side.
_PREBUFFERING = 0
_PLAYING = 1
_INTERRUPTED = 2


class Playout:
    """A queue of samples and the rules that turn it into output blocks.

    Which thread runs what (the same split as :class:`~rtsync.audio.ringbuffer.RingBuffer`):

    * **The producer** (one thread at a time; callers serialise concurrent writers) calls
      :meth:`write` and :meth:`end_of_stream`.
    * **Any thread** calls :meth:`interrupt` (concurrent interrupts must be serialised by the
      caller) and reads the counters and state.
    * **The consumer**, the real-time audio thread, calls :meth:`fill` once per block, and
      :meth:`reset` only while :meth:`fill` cannot run (the stream is stopped).

    :meth:`fill` follows the real-time rules: it takes no lock, allocates no sample memory
    (it copies from the ring buffer into one preallocated array and returns that array, or a
    preallocated array of silence), never logs, and never raises: an exception is counted in
    :attr:`errors` and the block is silence. Requests reach it as messages: an interrupt
    counter it compares with the last one it saw, a flush mark, and an end-of-stream mark.

    Rules:

    * **Prebuffer** (jitter buffer): at the start, after an underrun and after an interrupt,
      :meth:`fill` returns silence until ``prebuffer`` samples are queued. Audio up to the
      :meth:`end_of_stream` mark plays even when it is shorter than the prebuffer.
    * **Underrun**: when the queue runs dry in the middle of a block (and not at the
      end-of-stream mark), the rest of the block is zeros; :attr:`underruns` counts such
      blocks and :attr:`underrun_samples` the zeros, and the prebuffer applies again.
      Running dry at the end-of-stream mark is the normal end and is not counted.
    * **Interrupt**: :meth:`interrupt` discards everything queued. The next :meth:`fill`
      fades out the first ``fade`` samples that it already holds (a linear ramp that
      reaches zero at the last of them), zeros the rest of its block and then returns silence
      until new audio reaches the prebuffer. Audio written after :meth:`interrupt` returns
      plays normally.
    * **Look-ahead**: :meth:`fill` reads up to ``lookahead`` samples beyond the block it
      returns and keeps them for the next block, so that an interrupt always has audio to
      fade. The output sequence is unchanged by it; the held samples count in :attr:`queued`.

    Args:
        block: the most samples one :meth:`fill` returns (PortAudio's frames per buffer).
        capacity: the most samples the queue holds (rounded up to a power of two).
        prebuffer: samples that must be queued before playback starts or resumes (at most
            the capacity).
        lookahead: samples held beyond the block for a fade-out (at most ``block``); the
            longest fade an :meth:`interrupt` can get.

    Raises:
        ValueError: ``block`` or ``capacity`` is less than 1, or ``prebuffer`` or
            ``lookahead`` is negative.

    Example::

        p = Playout(block=480, capacity=4800, prebuffer=960, lookahead=120)
        p.write(samples)                  # int16
        out = p.fill(480)[:480]           # the next block to play (a view of p's buffer)
    """

    __slots__ = (
        "_block",
        "_buf",
        "_buf_bytes",
        "_carry",
        "_carry_at",
        "_eos_mark",
        "_errors",
        "_fade",
        "_fade_len",
        "_interrupt_flushed",
        "_interrupt_req",
        "_interrupt_seen",
        "_iota",
        "_last_error",
        "_lookahead",
        "_played",
        "_prebuffer",
        "_ring",
        "_silence",
        "_state",
        "_underrun_samples",
        "_underruns",
    )

    def __init__(self, block: int, capacity: int, prebuffer: int = 0, lookahead: int = 0) -> None:
        block, capacity, prebuffer, lookahead = int(block), int(capacity), int(prebuffer), int(lookahead)
        if block < 1:
            raise ValueError(f"block must be at least 1, got {block}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if prebuffer < 0 or lookahead < 0:
            raise ValueError(f"prebuffer and lookahead must not be negative, got {prebuffer}, {lookahead}")
        self._ring = RingBuffer(capacity, np.int16)
        self._block = block
        self._lookahead = min(block, lookahead)
        self._prebuffer = min(prebuffer, self._ring.capacity)
        # Preallocated memory of fill(): the block plus the look-ahead, silence, the fade ramp.
        self._buf: NDArray[np.int16] = np.zeros(block + self._lookahead, dtype=np.int16)
        self._buf_bytes = self._buf.data.cast("B")  # the steady-state copies go through bytes
        self._silence: NDArray[np.int16] = np.zeros(block + self._lookahead, dtype=np.int16)
        self._iota: NDArray[np.float32] = np.arange(1, self._lookahead + 1, dtype=np.float32)
        self._fade: NDArray[np.float32] = np.zeros(self._lookahead, dtype=np.float32)
        # Consumer-owned state (written only by fill() and reset()).
        self._state = _PREBUFFERING
        self._carry = 0  # look-ahead samples held at _buf[_carry_at : _carry_at + _carry]
        self._carry_at = 0
        self._interrupt_seen = 0
        self._played = 0
        self._underruns = 0
        self._underrun_samples = 0
        self._errors = 0
        self._last_error: BaseException | None = None
        # Messages to the consumer (written by other threads).
        self._interrupt_req = 0  # incremented by interrupt()
        self._interrupt_flushed = 0  # set to the request number once its flush() was issued
        self._fade_len = 0
        self._eos_mark = 0  # ring write index up to which audio must play without prebuffer

    # -- producer side

    def write(self, samples: Any) -> int:
        """Queue int16 samples (a numpy array, or raw pcm16 bytes) for playback; producer only.

        Returns:
            The number of samples queued, from the start of ``samples``; fewer when the queue
            is full (the rest is the caller's to drop or retry).
        """
        return self._ring.write(samples)

    def end_of_stream(self) -> None:
        """Mark that everything written so far must play, even if shorter than the prebuffer.

        Running dry at this mark is the normal end, not an underrun. Audio written afterwards
        starts a new stream with the usual prebuffer. Producer side.
        """
        self._eos_mark = self._ring.total_written

    def interrupt(self, fade: int = 0) -> None:
        """Discard everything queued; the next :meth:`fill` fades out and goes silent.

        Args:
            fade: the length of the fade-out in samples, at most ``lookahead`` (larger values
                are clamped); 0 cuts at once.

        Never waits for the consumer. Callers serialise concurrent interrupts.
        """
        fade = max(0, min(self._lookahead, int(fade)))
        request = self._interrupt_req + 1
        self._fade_len = fade
        self._interrupt_req = request  # message 1: fade out what you hold, go silent
        self._ring.flush()  # drop what was queued before this point
        self._interrupt_flushed = request  # message 2: the flush is issued, resume after it

    # -- consumer side (the real-time thread)

    def reset(self) -> None:
        """Start over with the prebuffer, as after a stream (re)start; consumer side, while idle.

        The look-ahead is kept unless an interrupt arrived since the last :meth:`fill`.
        """
        self._state = _PREBUFFERING
        if self._interrupt_seen != self._interrupt_req:
            self._carry = 0  # interrupted while stopped: the look-ahead belongs to the old audio
            self._interrupt_seen = self._interrupt_req

    def fill(self, n: int) -> NDArray[np.int16]:
        """Produce the next ``n`` output samples; the real-time consumer calls it once per block.

        Args:
            n: the block length, at most ``block``.

        Returns:
            A preallocated int16 array whose first ``n`` samples are the block: this object's
            buffer, or an array of silence. It stays valid until the next call and must not
            be modified; it may be longer than ``n``. A larger ``n`` counts an error and
            returns silence.
        """
        try:
            buf = self._buf
            if n > self._block:
                self._errors += 1
                return self._silence
            carry = self._carry
            raw = self._buf_bytes
            if carry and self._carry_at:
                at = 2 * self._carry_at
                raw[: 2 * carry] = raw[at : at + 2 * carry]
                self._carry_at = 0

            req = self._interrupt_req
            if req != self._interrupt_seen:
                return self._fade_out(req, carry, n)

            state = self._state
            ring = self._ring
            if state == _INTERRUPTED:
                if self._interrupt_flushed != self._interrupt_seen:
                    return self._silence
                state = self._state = _PREBUFFERING
            if state == _PREBUFFERING:
                ready = ring.read_available  # a pending flush already taken into account
                if ready + carry <= 0:
                    return self._silence
                # Audio up to the end-of-stream mark plays even below the prebuffer. The first
                # unplayed sample's index is total_written - ready - carry (loaded in this order,
                # a concurrent write can only make it look later, i.e. wait for the prebuffer).
                tail = self._eos_mark > ring.total_written - ready - carry
                if ready + carry < self._prebuffer and not tail:
                    return self._silence
                self._state = _PLAYING

            got = ring.readinto_bytes(raw[2 * carry : 2 * (n + self._lookahead)])
            valid = carry + got
            if valid >= n:
                self._carry = valid - n
                self._carry_at = n
                self._played += n
            else:
                req = self._interrupt_req
                if req != self._interrupt_seen:
                    # interrupt() ran while this block was being read, and its flush emptied
                    # the queue: not an underrun, a barge-in.
                    return self._fade_out(req, valid, n)
                buf[valid:n] = 0
                self._carry = 0
                self._played += valid
                self._state = _PREBUFFERING
                if ring.total_read > self._eos_mark:
                    self._underruns += 1
                    self._underrun_samples += n - valid
        except BaseException as exc:
            self._errors += 1
            self._last_error = exc
            self._carry = 0
            self._state = _PREBUFFERING
            return self._silence
        return buf

    def _fade_out(self, request: int, have: int, n: int) -> NDArray[np.int16]:
        """The consumer's part of an interrupt: fade the ``have`` samples at the front of the buffer.

        Ramps the first ``min(fade, have)`` of them linearly to zero, zeroes the rest of the
        block, and goes silent until the interrupt's flush has been issued.
        """
        buf = self._buf
        self._interrupt_seen = request
        m = self._fade_len
        if m > have:
            m = have
        if m > 0:
            fade = self._fade[:m]
            np.multiply(self._iota[:m], -1.0 / m, out=fade)
            fade += 1.0  # 1 - (i + 1) / m: reaches 0 at the last sample
            np.multiply(buf[:m], fade, out=fade)
            buf[:m] = fade
            self._played += m
        buf[m:n] = 0
        self._carry = 0
        self._state = _INTERRUPTED
        return buf

    # -- state and counters (any thread)

    @property
    def buffer(self) -> NDArray[np.int16]:
        """The preallocated array :meth:`fill` returns when its block holds audio (read-only use)."""
        return self._buf

    @property
    def block(self) -> int:
        """The most samples one :meth:`fill` returns."""
        return self._block

    @property
    def capacity(self) -> int:
        """The most samples the queue holds (a power of two)."""
        return self._ring.capacity

    @property
    def prebuffer(self) -> int:
        """Samples that must be queued before playback starts or resumes."""
        return self._prebuffer

    @property
    def lookahead(self) -> int:
        """Samples :meth:`fill` holds beyond its block; the longest possible fade-out."""
        return self._lookahead

    @property
    def played(self) -> int:
        """Queued samples :meth:`fill` has returned, including a fade-out.

        Excludes the silence of prebuffering, underruns and interrupts.
        """
        return self._played

    @property
    def queued(self) -> int:
        """Samples written and not yet returned by :meth:`fill` (the look-ahead included)."""
        return self._ring.read_available + self._carry

    @property
    def write_available(self) -> int:
        """Samples :meth:`write` can queue now."""
        return self._ring.write_available

    @property
    def underruns(self) -> int:
        """Blocks in which the queue ran dry mid-stream and the rest of the block was zeros."""
        return self._underruns

    @property
    def underrun_samples(self) -> int:
        """Zeros inserted because of underruns."""
        return self._underrun_samples

    @property
    def playing(self) -> bool:
        """True while :meth:`fill` plays queued audio (not prebuffering or interrupted)."""
        return self._state == _PLAYING

    @property
    def interrupt_pending(self) -> bool:
        """True from :meth:`interrupt` until :meth:`fill` has faded out the old audio."""
        return self._interrupt_seen != self._interrupt_req

    @property
    def interrupts(self) -> int:
        """How many times :meth:`interrupt` was called."""
        return self._interrupt_req

    @property
    def errors(self) -> int:
        """Exceptions caught inside :meth:`fill` (and calls with a block longer than ``block``)."""
        return self._errors

    @property
    def last_error(self) -> BaseException | None:
        """The most recent exception caught inside :meth:`fill`, if any."""
        return self._last_error

    def __repr__(self) -> str:
        state = ("prebuffering", "playing", "interrupted")[self._state]
        return (
            f"<Playout {state} block={self._block} queued={self.queued} played={self._played} "
            f"underruns={self._underruns}>"
        )
