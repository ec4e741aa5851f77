"""A lock-free single-producer/single-consumer ring buffer of numpy samples.

:class:`RingBuffer` is the hand-off between PortAudio's callback threads and the rest of
rtsync: the microphone callback writes into one and the sender loop reads from it; the
dispatcher writes decoded audio into another and the speaker callback reads from it. The
vocabulary follows PortAudio's own ring buffer: ``write(x) -> n``, ``readinto(out) -> n``,
``read_available``, ``write_available``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["RingBuffer"]


class RingBuffer:
    """A fixed-size FIFO of samples for one producer thread and one consumer thread.

    Concurrency contract:

    * **One producer** calls :meth:`write` (and may read :attr:`write_available`).
    * **One consumer** calls :meth:`readinto` and :meth:`skip` (and may read
      :attr:`read_available`).
    * **Any thread** may call :meth:`flush` at any time, typically a third one (a barge-in
      handler that wants the speaker silenced now). Everything written before the ``flush()``
      call is discarded; nothing written after it is lost. The consumer honours the flush at
      its next :meth:`readinto` or :meth:`skip`; :attr:`read_available` reflects it at once.
      When several threads flush at the same moment, the last store wins, which may keep a
      few samples that the other flush would have dropped.
    * The read-only properties (:attr:`read_available`, :attr:`write_available`,
      :attr:`total_written`, :attr:`total_read`, :attr:`capacity`) may be read from any thread;
      a value read outside the owning thread is a snapshot that may be stale by the time it is
      used, but it is never torn.

    There are no locks. The buffer keeps three indices, each an unbounded Python ``int`` that
    only grows and is stored by exactly one side: the write index (producer), the read index
    (consumer) and the flush mark (flusher). A slot's position is ``index & (capacity - 1)``.
    The design relies on two properties of CPython with the GIL: storing an ``int`` in an
    attribute is a single atomic operation, so the other side sees either the old or the new
    index, never a mix; and the slice copy (numpy, or memoryview for the byte paths) that fills
    (or drains) the slots finishes before the index store that publishes it, and the other
    thread observes the stores in that order. Free-threaded (no-GIL) builds need a second look
    before this class is trusted there.

    Free space for the producer is computed from the consumer's read index only, so after a
    :meth:`flush` the discarded samples keep occupying space until the consumer next runs;
    the producer can never overwrite slots that a read in flight is still copying.

    After ``__init__`` nothing allocates storage: :meth:`write`, :meth:`readinto`, :meth:`skip`
    and the properties copy at most two slices (two when the range wraps around the end) and
    create no temporary arrays, as long as the arrays passed in are numpy arrays of the
    buffer's dtype; :meth:`write_bytes` and :meth:`readinto_bytes` do the same for raw bytes
    and run less code per call. That makes them safe to call from a PortAudio callback.

    Args:
        capacity: the minimum number of samples the buffer holds; rounded up to a power of two.
        dtype: the numpy dtype of the samples (``int16`` by default).

    Raises:
        ValueError: if ``capacity`` is less than 1.

    Example::

        rb = RingBuffer(4096)              # int16 samples
        rb.write(np.arange(100, dtype=np.int16))
        out = np.zeros(256, dtype=np.int16)
        n = rb.readinto(out)               # n == 100; out[100:] untouched
    """

    __slots__ = ("_buf", "_bytes", "_capacity", "_flush_to", "_itemsize", "_mask", "_read_index", "_write_index",
                 "dtype")

    def __init__(self, capacity: int, dtype: DTypeLike = np.int16) -> None:
        capacity = int(capacity)
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        size = 1 << (capacity - 1).bit_length()
        self.dtype: np.dtype[Any] = np.dtype(dtype)
        self._buf: np.ndarray[Any, Any] = np.zeros(size, dtype=self.dtype)
        # The same storage as bytes: raw input (PortAudio's ``bytes``) is copied with memoryview
        # slice assignment, a memcpy that runs far less code than a numpy copy. In a callback
        # that wakes every 20 ms with cold caches, that is most of its cost.
        self._bytes = self._buf.data.cast("B")
        self._itemsize = self.dtype.itemsize
        self._capacity = size
        self._mask = size - 1
        self._write_index = 0  # stored by the producer only
        self._read_index = 0  # stored by the consumer only
        self._flush_to = 0  # stored by flush() only

    def __repr__(self) -> str:
        return (
            f"<RingBuffer capacity={self._capacity} dtype={self.dtype} "
            f"read_available={self.read_available} total_written={self._write_index}>"
        )

    @property
    def capacity(self) -> int:
        """The number of samples the buffer holds (a power of two)."""
        return self._capacity

    @property
    def total_written(self) -> int:
        """Samples written since creation (the write index; only grows)."""
        return self._write_index

    @property
    def total_read(self) -> int:
        """Samples consumed since creation: read, skipped, or discarded by an honoured flush.

        This is the read index; it only grows. A flush that the consumer has not honoured yet
        is not counted.
        """
        return self._read_index

    @property
    def read_available(self) -> int:
        """Samples the consumer can read now (a pending flush already taken into account)."""
        flush_to = self._flush_to
        read_index = self._read_index
        if flush_to > read_index:
            read_index = flush_to
        return self._write_index - read_index

    @property
    def write_available(self) -> int:
        """Free slots the producer can fill now.

        Space freed by a flush appears once the consumer has honoured it.
        """
        return self._capacity - (self._write_index - self._read_index)

    def write(self, samples: Any) -> int:
        """Append as many of ``samples`` as fit; producer side only.

        Args:
            samples: a 1-D numpy array, ideally of the buffer's dtype (others are cast), or a
                bytes-like object such as PortAudio's ``bytes``, taken as raw samples of the
                buffer's dtype (a trailing partial sample is ignored).

        Returns:
            The number of samples written, from the start of ``samples``; less than
            ``len(samples)`` when the buffer is full (the rest is the caller's to drop or keep).
        """
        if not isinstance(samples, np.ndarray):
            return self.write_bytes(samples)
        write_index = self._write_index
        free = self._capacity - (write_index - self._read_index)
        n = len(samples)
        if n > free:
            n = free
        if n <= 0:
            return 0
        buf = self._buf
        start = write_index & self._mask
        first = self._capacity - start
        if n <= first:
            buf[start : start + n] = samples[:n]
        else:
            buf[start:] = samples[:first]
            buf[: n - first] = samples[first:n]
        # Publish only after the copy is complete.
        self._write_index = write_index + n
        return n

    def write_block(self, data: memoryview) -> int:
        """:meth:`write_bytes` reduced to the one case of a real-time callback: ``data`` is a
        byte-format (``"B"``) memoryview of whole samples, made once and reused (a speaker
        callback's tap). Producer side only; returns the samples written."""
        size = self._itemsize
        write_index = self._write_index
        n = len(data) // size
        free = self._capacity - (write_index - self._read_index)
        if n > free:
            return self.write_bytes(data)
        raw = self._bytes
        start = (write_index & self._mask) * size
        end = start + n * size
        if end <= len(raw):
            raw[start:end] = data
        else:
            first = len(raw) - start
            raw[start:] = data[:first]
            raw[: end - len(raw)] = data[first:]
        self._write_index = write_index + n
        return n

    def write_bytes(self, data: Any) -> int:
        """:meth:`write` for raw samples in a bytes-like object (PortAudio's ``bytes``); producer only.

        Whole samples of the buffer's dtype are copied with a byte-level memoryview assignment,
        which runs less code than a numpy copy; a trailing partial sample is ignored. Returns
        the number of samples written.
        """
        if not isinstance(data, (bytes, bytearray)) and not (isinstance(data, memoryview) and data.format == "B"):
            data = memoryview(data).cast("B")
        size = self._itemsize
        write_index = self._write_index
        free = self._capacity - (write_index - self._read_index)
        n = len(data) // size
        if n > free:
            n = free
        if n <= 0:
            return 0
        raw = self._bytes
        start = (write_index & self._mask) * size
        end = start + n * size
        if end <= len(raw):
            raw[start:end] = data if n * size == len(data) else memoryview(data)[: n * size]
        else:
            view = memoryview(data)
            first = len(raw) - start
            raw[start:] = view[:first]
            raw[: end - len(raw)] = view[first : n * size]
        self._write_index = write_index + n  # published after the copy, as in write()
        return n

    def readinto(self, out: Any) -> int:
        """Move up to ``len(out)`` samples into the start of ``out``; consumer side only.

        A pending :meth:`flush` is honoured first. The part of ``out`` past the returned count
        is left as it was: the caller decides whether to zero-fill it (a speaker callback
        should), keep it, or wait for more.

        Args:
            out: a writable 1-D numpy array, ideally of the buffer's dtype, or a writable
                bytes-like object (``bytearray``, ``memoryview``), which receives whole samples
                as raw bytes.

        Returns:
            The number of samples stored in ``out[:n]``.
        """
        if not isinstance(out, np.ndarray):
            return self.readinto_bytes(out)
        # Load the flush mark before the write index: the mark is a write index seen earlier,
        # so the write index loaded next can never be behind it.
        flush_to = self._flush_to
        read_index = self._read_index
        if flush_to > read_index:
            read_index = flush_to
            self._read_index = read_index
        n = self._write_index - read_index
        size = len(out)
        if n > size:
            n = size
        if n <= 0:
            return 0
        buf = self._buf
        start = read_index & self._mask
        first = self._capacity - start
        if n <= first:
            out[:n] = buf[start : start + n]
        else:
            out[:first] = buf[start:]
            out[first:n] = buf[: n - first]
        # Release the slots only after the copy is complete.
        self._read_index = read_index + n
        return n

    def readinto_bytes(self, out: Any) -> int:
        """:meth:`readinto` for a writable bytes-like object (``bytearray``, ``memoryview``); consumer only.

        Moves up to ``len(out) // itemsize`` whole samples as raw bytes, honouring a pending
        :meth:`flush` first. Returns the number of samples stored at the start of ``out``.
        """
        if not isinstance(out, memoryview):
            out = memoryview(out)
        if out.format != "B":
            out = out.cast("B")
        size = self._itemsize
        flush_to = self._flush_to  # the same load order as readinto()
        read_index = self._read_index
        if flush_to > read_index:
            read_index = flush_to
            self._read_index = read_index
        n = self._write_index - read_index
        room = len(out) // size
        if n > room:
            n = room
        if n <= 0:
            return 0
        raw = self._bytes
        start = (read_index & self._mask) * size
        end = start + n * size
        if end <= len(raw):
            out[: n * size] = raw[start:end]
        else:
            first = len(raw) - start
            out[:first] = raw[start:]
            out[first : n * size] = raw[: end - len(raw)]
        self._read_index = read_index + n  # released after the copy, as in readinto()
        return n

    def skip(self, count: int) -> int:
        """Discard up to ``count`` of the oldest samples; consumer side only.

        A pending :meth:`flush` is honoured first.

        Returns:
            The number of samples discarded.
        """
        flush_to = self._flush_to
        read_index = self._read_index
        if flush_to > read_index:
            read_index = flush_to
        n = self._write_index - read_index
        if n > count:
            n = count
        if n < 0:
            n = 0
        self._read_index = read_index + n
        return n

    def flush(self) -> None:
        """Discard everything written so far; callable from any thread.

        Records the write index seen now with a single store. The consumer skips up to that
        mark at its next :meth:`readinto` or :meth:`skip`, so samples written before this call
        are never read after the consumer has honoured it, and samples written after this
        call are all kept. A read already in progress on the consumer thread completes
        with the samples it started on.
        """
        self._flush_to = self._write_index
