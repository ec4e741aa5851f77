"""RingBuffer: capacity, wrap-around, counters, flush semantics, threads, and no allocation."""

from __future__ import annotations

import itertools
import random
import threading
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtsync.audio import RingBuffer
from rtsync.audio import ringbuffer as ringbuffer_module


@pytest.mark.parametrize(
    ("asked", "capacity"),
    [(1, 1), (2, 2), (3, 4), (5, 8), (1000, 1024), (4096, 4096), (4097, 8192)],
)
def test_capacity_is_rounded_up_to_a_power_of_two(asked: int, capacity: int) -> None:
    rb = RingBuffer(asked)
    assert rb.capacity == capacity
    assert rb.write_available == capacity
    assert rb.read_available == 0


@pytest.mark.parametrize("bad", [0, -1])
def test_capacity_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(bad)


def test_write_then_read_in_order() -> None:
    rb = RingBuffer(8)
    assert rb.write(np.array([1, 2, 3], dtype=np.int16)) == 3
    assert rb.read_available == 3
    assert rb.write_available == 5
    out = np.full(5, -7, dtype=np.int16)
    assert rb.readinto(out) == 3
    assert out.tolist() == [1, 2, 3, -7, -7]  # no zero-fill past the count
    assert rb.read_available == 0
    assert rb.readinto(out) == 0
    assert (rb.total_written, rb.total_read) == (3, 3)


def test_write_stops_when_full_and_readinto_stops_at_len_out() -> None:
    rb = RingBuffer(4)
    assert rb.write(np.arange(10, dtype=np.int16)) == 4
    assert rb.write(np.arange(3, dtype=np.int16)) == 0
    assert rb.write_available == 0
    out = np.zeros(3, dtype=np.int16)
    assert rb.readinto(out) == 3
    assert out.tolist() == [0, 1, 2]
    assert rb.write(np.array([9, 9], dtype=np.int16)) == 2  # wraps: one slot at the end, one at 0
    big = np.zeros(8, dtype=np.int16)
    assert rb.readinto(big) == 3
    assert big[:3].tolist() == [3, 9, 9]


def test_empty_arrays_are_fine() -> None:
    rb = RingBuffer(4)
    assert rb.write(np.zeros(0, dtype=np.int16)) == 0
    assert rb.readinto(np.zeros(0, dtype=np.int16)) == 0
    assert rb.skip(5) == 0


@pytest.mark.parametrize("offset", range(9))
@pytest.mark.parametrize("length", [1, 5, 7, 8])
def test_wrap_around_at_every_offset(offset: int, length: int) -> None:
    rb = RingBuffer(8)
    # Move both indices to `offset`, so the next write starts there.
    rb.write(np.zeros(offset, dtype=np.int16))
    assert rb.skip(offset) == offset
    data = np.arange(100, 100 + length, dtype=np.int16)
    assert rb.write(data) == length
    out = np.zeros(length, dtype=np.int16)
    assert rb.readinto(out) == length
    np.testing.assert_array_equal(out, data)
    assert rb.total_read == rb.total_written == offset + length


def test_exactly_full_and_exactly_empty_across_many_laps() -> None:
    rb = RingBuffer(16)
    out = np.zeros(16, dtype=np.int16)
    for lap in range(50):
        data = np.full(16, lap, dtype=np.int16)
        assert rb.write(data) == 16
        assert rb.write_available == 0
        assert rb.readinto(out) == 16
        assert (out == lap).all()
    assert rb.total_written == 16 * 50


def test_other_dtypes_and_bytes() -> None:
    rb = RingBuffer(4, dtype=np.float32)
    assert rb.dtype == np.float32
    rb.write(np.array([0.5, -0.25], dtype=np.float32))
    out = np.zeros(2, dtype=np.float32)
    rb.readinto(out)
    assert out.tolist() == [0.5, -0.25]

    pcm = RingBuffer(8)
    assert pcm.write(np.array([1, -2, 300], dtype="<i2").tobytes()) == 3  # bytes from a callback
    raw = bytearray(6)
    assert pcm.readinto(raw) == 3
    assert np.frombuffer(raw, dtype="<i2").tolist() == [1, -2, 300]


def test_byte_paths_take_whole_samples_into_any_writable_buffer() -> None:
    rb = RingBuffer(8)
    assert rb.write_bytes(b"\x01\x00\x02") == 1  # the odd byte is not half a sample
    assert rb.write(memoryview(np.array([3, 4], dtype=np.int16))) == 2  # a non-byte memoryview
    out = np.zeros(5, dtype=np.int16)
    assert rb.readinto_bytes(memoryview(out)[1:4]) == 3  # an int16 view of an array, sliced
    assert out.tolist() == [0, 1, 3, 4, 0]
    rb.write(np.arange(7, dtype=np.int16))
    rb.flush()
    rb.write(np.array([9], dtype=np.int16))
    raw = bytearray(4)
    assert rb.readinto_bytes(raw) == 1  # the flush is honoured on the byte path too
    assert np.frombuffer(raw, dtype=np.int16).tolist() == [9, 0]


def test_skip_discards_the_oldest() -> None:
    rb = RingBuffer(8)
    rb.write(np.arange(6, dtype=np.int16))
    assert rb.skip(4) == 4
    assert rb.skip(-3) == 0
    out = np.zeros(8, dtype=np.int16)
    assert rb.readinto(out) == 2
    assert out[:2].tolist() == [4, 5]


def test_flush_drops_what_was_written_before_and_keeps_what_comes_after() -> None:
    rb = RingBuffer(16)
    rb.write(np.arange(10, dtype=np.int16))
    out = np.zeros(3, dtype=np.int16)
    rb.readinto(out)
    rb.flush()
    assert rb.read_available == 0  # visible at once to anyone asking
    assert rb.write_available == 16 - 7  # space comes back once the consumer honours it
    rb.write(np.array([42, 43], dtype=np.int16))
    assert rb.read_available == 2
    out = np.zeros(8, dtype=np.int16)
    assert rb.readinto(out) == 2
    assert out[:2].tolist() == [42, 43]
    assert rb.total_read == rb.total_written == 12
    assert rb.write_available == 16


def test_flush_on_an_empty_or_drained_buffer_is_a_no_op() -> None:
    rb = RingBuffer(8)
    rb.flush()
    rb.write(np.array([1, 2], dtype=np.int16))
    out = np.zeros(4, dtype=np.int16)
    assert rb.readinto(out) == 2
    rb.flush()  # mark at 2 == read index
    rb.write(np.array([3], dtype=np.int16))
    assert rb.readinto(out) == 1
    assert out[0] == 3


def test_skip_honours_a_pending_flush() -> None:
    rb = RingBuffer(8)
    rb.write(np.arange(5, dtype=np.int16))
    rb.flush()
    rb.write(np.array([7, 8], dtype=np.int16))
    assert rb.skip(1) == 1
    out = np.zeros(4, dtype=np.int16)
    assert rb.readinto(out) == 1
    assert out[0] == 8


def test_repr_mentions_the_state() -> None:
    text = repr(RingBuffer(5))
    assert "capacity=8" in text and "int16" in text


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 40)),
        st.tuples(st.just("read"), st.integers(0, 40)),
        st.tuples(st.just("skip"), st.integers(0, 40)),
        st.tuples(st.just("flush"), st.just(0)),
        st.tuples(st.just("write_bytes"), st.integers(0, 40)),
        st.tuples(st.just("read_bytes"), st.integers(0, 40)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 32), ops=_ops)
def test_matches_a_list_model(capacity: int, ops: list[tuple[str, int]]) -> None:
    """Any single-threaded sequence of operations behaves like a bounded FIFO list."""
    rb = RingBuffer(capacity, dtype=np.int64)
    model: list[int] = []
    counter = 0
    for op, k in ops:
        if op == "write":
            data = np.arange(counter, counter + k, dtype=np.int64)
            n = rb.write(data)
            assert n == min(k, rb.capacity - len(model))
            model.extend(range(counter, counter + n))
            counter += k
        elif op == "read":
            out = np.zeros(k, dtype=np.int64)
            n = rb.readinto(out)
            assert n == min(k, len(model))
            assert out[:n].tolist() == model[:n]
            del model[:n]
        elif op == "write_bytes":  # PortAudio's bytes, plus a stray partial sample
            n = rb.write_bytes(np.arange(counter, counter + k, dtype=np.int64).tobytes() + b"\x01\x02")
            assert n == min(k, rb.capacity - len(model))
            model.extend(range(counter, counter + n))
            counter += k
        elif op == "read_bytes":
            raw = bytearray(8 * k + 3)
            n = rb.readinto_bytes(memoryview(raw))
            assert n == min(k, len(model))
            assert np.frombuffer(raw[: 8 * n], dtype=np.int64).tolist() == model[:n]
            assert raw[8 * n :] == bytes(len(raw) - 8 * n)  # the rest left as it was
            del model[:n]
        elif op == "skip":
            n = rb.skip(k)
            assert n == min(k, len(model))
            del model[:n]
        else:
            rb.flush()
            rb.skip(0)  # honour it now, so that the model's free space matches
            model.clear()
        assert rb.read_available == len(model)
        assert rb.write_available == rb.capacity - len(model)
        assert rb.total_written - rb.total_read == len(model)


def _wait_a_little() -> None:
    time.sleep(0.00005)


_TIME_LIMIT = 20.0  # seconds; a broken buffer makes the threads give up instead of hanging


def _start(*targets: Callable[[], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    return threads


def test_two_threads_move_three_million_samples_in_order() -> None:
    total = 3_000_000
    seq = (np.arange(total, dtype=np.int64) & 0xFFFF).astype(np.uint16).view(np.int16)
    got = np.full(total, -1, dtype=np.int16)
    rb = RingBuffer(4096)
    errors: list[BaseException] = []

    def producer() -> None:
        rnd = random.Random(1)
        pos = 0
        try:
            deadline = time.monotonic() + _TIME_LIMIT
            while pos < total and time.monotonic() < deadline:
                k = rnd.randint(1, 1500)
                n = rb.write(seq[pos : pos + k])
                pos += n
                if n == 0:
                    _wait_a_little()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def consumer() -> None:
        rnd = random.Random(2)
        pos = 0
        try:
            deadline = time.monotonic() + _TIME_LIMIT
            while pos < total and time.monotonic() < deadline:
                k = rnd.randint(1, 1500)
                n = rb.readinto(got[pos : pos + k])
                pos += n
                if n == 0:
                    _wait_a_little()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    start = time.perf_counter()
    threads = _start(producer, consumer)
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - start
    assert not errors
    assert not any(t.is_alive() for t in threads)
    print(f"\nring buffer stress: {total / elapsed / 1e6:.1f} M samples/s through a 4096-slot buffer")
    mismatch = np.flatnonzero(got != seq)
    assert mismatch.size == 0, f"first wrong sample at {mismatch[0]}"
    assert rb.total_written == rb.total_read == total


def test_flush_from_a_third_thread_loses_nothing_written_after_it() -> None:
    """Writer: a counter (value == index). Reader: records what it gets. Flusher: flushes.

    Every jump in what the reader sees must land inside the window [written before the flush
    call, written after it] of some flush; and a read that starts after a flush has returned
    never yields a value written before that flush call.
    """
    total = 400_000
    rb = RingBuffer(256, dtype=np.int64)
    ticket = itertools.count()  # next() is atomic under the GIL: a global order of events
    flushes: list[tuple[int, int, int]] = []  # (ticket after flush returned, w_before, w_after)
    reads: list[tuple[int, int, int]] = []  # (ticket before readinto, first value, count)
    seen = np.full(total, -1, dtype=np.int64)
    done_writing = threading.Event()
    stop_flushing = threading.Event()

    def writer() -> None:
        rnd = random.Random(3)
        pos = 0
        values = np.arange(total, dtype=np.int64)
        deadline = time.monotonic() + _TIME_LIMIT
        while pos < total and time.monotonic() < deadline:
            n = rb.write(values[pos : pos + rnd.randint(1, 200)])
            pos += n
            if n == 0:
                _wait_a_little()
        if pos == total:
            done_writing.set()

    def reader() -> None:
        rnd = random.Random(4)
        pos = 0
        deadline = time.monotonic() + _TIME_LIMIT
        while time.monotonic() < deadline:
            tk = next(ticket)
            n = rb.readinto(seen[pos : pos + rnd.randint(1, 200)])
            if n:
                reads.append((tk, int(seen[pos]), n))
                pos += n
                if seen[pos - 1] == total - 1:
                    return
            else:
                _wait_a_little()

    def flusher() -> None:
        rnd = random.Random(5)
        deadline = time.monotonic() + _TIME_LIMIT
        while not stop_flushing.is_set() and time.monotonic() < deadline:
            before = rb.total_written
            rb.flush()
            after = rb.total_written
            flushes.append((next(ticket), before, after))
            time.sleep(rnd.uniform(0.0, 0.002))

    threads = _start(writer, reader, flusher)
    # Let the flusher run while most of the data goes through, then let the rest drain.
    while rb.total_written < total * 3 // 4 and threads[0].is_alive():
        time.sleep(0.001)
    stop_flushing.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert done_writing.is_set()
    assert len(flushes) > 10

    values = seen[seen >= 0]
    assert values[-1] == total - 1  # nothing written after the last flush was lost
    assert (np.diff(values) > 0).all()  # in order, no repeats
    # Reads are contiguous runs; a jump between runs must be explained by a flush.
    windows = [(b, a) for _, b, a in flushes]
    prev_end = 0
    jumps = 0
    flush_ix = 0
    floor = 0  # highest w_before among flushes that returned before the current read began
    flushes.sort()
    for tk, first, n in reads:
        while flush_ix < len(flushes) and flushes[flush_ix][0] < tk:
            floor = max(floor, flushes[flush_ix][1])
            flush_ix += 1
        assert first >= floor, "read data written before a flush that had already returned"
        if first != prev_end:
            jumps += 1
            assert any(b <= first <= a for b, a in windows), f"jump {prev_end} -> {first} with no flush"
        prev_end = first + n
    assert jumps > 0  # the flushes really did discard something


def _loop(rb: RingBuffer, src: np.ndarray, out: np.ndarray, times: int) -> None:
    for _ in range(times):
        rb.write(src)
        rb.readinto(out)
        rb.write(src[:7])
        rb.skip(3)
        _ = rb.read_available + rb.write_available + rb.total_read + rb.total_written
        rb.flush()
        rb.readinto(out)


def test_steady_state_allocates_nothing() -> None:
    rb = RingBuffer(1024)
    src = np.arange(300, dtype=np.int16)
    out = np.empty(300, dtype=np.int16)
    tracemalloc.start()
    try:
        _loop(rb, src, out, 200)  # warm up while tracing, so the live index ints are traced too
        before = tracemalloc.take_snapshot()
        _loop(rb, src, out, 2000)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    only_rb = [tracemalloc.Filter(True, ringbuffer_module.__file__)]
    diff = after.filter_traces(only_rb).compare_to(before.filter_traces(only_rb), "lineno")
    grown = [d for d in diff if d.count_diff != 0 or d.size_diff != 0]
    assert not grown, f"ringbuffer.py allocated: {grown}"


def test_no_temporary_copies_of_the_data() -> None:
    """Large writes and reads copy straight between the caller's arrays and the storage."""
    rb = RingBuffer(1 << 16)
    src = np.ones(20_000, dtype=np.int16)
    out = np.empty(20_000, dtype=np.int16)
    tracemalloc.start()
    try:
        _loop(rb, src, out, 20)
        tracemalloc.reset_peak()
        current, _ = tracemalloc.get_traced_memory()
        _loop(rb, src, out, 200)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - current < 4096, f"peak grew by {peak - current} bytes (one block is 40000)"


def test_write_block_copies_a_reused_byte_view_across_the_wrap_and_when_full():
    rb = RingBuffer(8)
    block = np.arange(1, 4, dtype=np.int16)
    view = block.data.cast("B")
    out = np.zeros(3, dtype=np.int16)
    for k in range(5):  # 3 samples at a time through 8 slots: the copy wraps around
        block[:] = np.arange(3 * k + 1, 3 * k + 4)
        assert rb.write_block(view) == 3
        assert rb.readinto(out) == 3
        np.testing.assert_array_equal(out, block)
    rb.write_block(view)
    rb.write_block(view)
    assert rb.write_block(view) == 2  # only two slots were free: the rest is left, as write_bytes does
    assert rb.read_available == 8
