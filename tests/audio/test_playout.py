"""Playout, the speaker's playout state machine, driven sample-exact with no device.

Each test writes samples, calls ``fill(n)`` the way the Speaker's PortAudio callback does,
and compares every returned sample with what was written.
"""

from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

from rtsync.audio import Playout

BLOCK = 480


def ramp(n: int, start: int = 1) -> np.ndarray:
    """``start, start+1, ...`` as int16 (no zeros for n < 32768 - start): every sample is traceable."""
    return np.arange(start, start + n, dtype=np.int16)


def play(p: Playout, n: int = BLOCK) -> np.ndarray:
    """One callback's block, copied (the array fill() returns is reused by the next call)."""
    out = p.fill(n)
    assert len(out) >= n
    return out[:n].copy()


def silent(block: np.ndarray) -> bool:
    return not np.any(block)


# --------------------------------------------------------------------------- prebuffer


def test_nothing_plays_until_the_prebuffer_is_queued_then_exactly_what_was_written() -> None:
    p = Playout(block=BLOCK, capacity=8192, prebuffer=1000, lookahead=120)
    signal = ramp(3000)
    assert p.write(signal[:999]) == 999
    for _ in range(3):
        assert silent(play(p))
    assert p.played == 0 and p.queued == 999 and not p.playing
    assert p.write(signal[999:1000]) == 1  # now exactly the prebuffer
    assert np.array_equal(play(p), signal[:BLOCK])
    assert p.playing and p.played == BLOCK
    assert p.write(signal[1000:]) == 2000
    out = np.concatenate([play(p) for _ in range(5)])
    assert np.array_equal(out, signal[BLOCK : 6 * BLOCK])
    assert p.played == 6 * BLOCK and p.queued == len(signal) - 6 * BLOCK
    assert p.underruns == 0 and p.errors == 0


def test_a_zero_prebuffer_plays_at_once() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=0)
    p.write(ramp(BLOCK))
    assert np.array_equal(play(p), ramp(BLOCK))


def test_random_writes_and_block_sizes_come_out_sample_exact() -> None:
    rng = random.Random(7)
    p = Playout(block=BLOCK, capacity=1 << 14, prebuffer=960, lookahead=240)
    signal = ramp(20000)
    written = 0
    out = []
    while written < len(signal) or p.queued:
        if written < len(signal):
            k = min(rng.randint(1, 1500), len(signal) - written)
            written += p.write(signal[written : written + k])
            if written == len(signal):
                p.end_of_stream()
        n = rng.choice([BLOCK, BLOCK, BLOCK, 1, 97, 240])
        was = p.played
        block = play(p, n)
        out.append(block[: p.played - was])  # the played part; the rest is prebuffer or zeros
        assert silent(block[p.played - was :])
    assert np.array_equal(np.concatenate(out), signal)
    assert p.played == len(signal)


# --------------------------------------------------------------------------- underruns


def test_an_underrun_pads_with_zeros_counts_and_waits_for_the_prebuffer_again() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=960, lookahead=120)
    signal = ramp(1100)
    p.write(signal)
    assert np.array_equal(play(p), signal[:480])
    assert np.array_equal(play(p), signal[480:960])
    block = play(p)  # 140 samples left: then the queue runs dry mid-block
    assert np.array_equal(block[:140], signal[960:])
    assert silent(block[140:])
    assert p.underruns == 1 and p.underrun_samples == BLOCK - 140
    assert p.played == len(signal) and p.queued == 0 and not p.playing
    assert silent(play(p)) and p.underruns == 1  # an idle queue is not another underrun
    more = ramp(900, start=5000)
    p.write(more)
    assert silent(play(p))  # 900 < 960: the prebuffer applies again
    p.write(ramp(100, start=9000))
    assert np.array_equal(play(p), more[:480])
    assert p.underruns == 1


# --------------------------------------------------------------------------- interrupt


def test_interrupt_fades_out_what_is_held_then_silence_and_the_queue_is_flushed() -> None:
    fade = 100
    p = Playout(block=BLOCK, capacity=8192, prebuffer=0, lookahead=120)
    level = np.full(4000, 12000, dtype=np.int16)
    p.write(level)
    play(p)
    play(p)
    assert p.played == 2 * BLOCK
    p.interrupt(fade)
    assert p.interrupt_pending
    assert p.queued == 120  # only the look-ahead the consumer holds; the rest was flushed
    block = play(p)
    assert not p.interrupt_pending
    env = block[:fade].astype(np.int32)
    assert np.all(np.diff(env) < 0)  # strictly decaying
    assert env[0] < 12000 and env[-1] == 0
    ramp_ = np.float32(1.0) - np.arange(1, fade + 1, dtype=np.float32) * np.float32(1.0 / fade)
    assert np.array_equal(block[:fade], (np.float32(12000) * ramp_).astype(np.int16))
    assert silent(block[fade:])
    assert p.played == 2 * BLOCK + fade  # the fade counts as played
    assert p.queued == 0 and not p.playing and p.underruns == 0
    for _ in range(3):
        assert silent(play(p))
    assert p.played == 2 * BLOCK + fade


def test_interrupt_fade_is_clamped_to_what_is_held_and_to_the_lookahead() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=0, lookahead=120)
    p.write(np.full(BLOCK + 50, 1000, dtype=np.int16))  # the look-ahead holds only 50
    play(p)
    p.interrupt(10_000)  # more than the look-ahead: 120; more than held: 50
    block = play(p)
    assert np.all(block[:49] > 0) and np.all(np.diff(block[:50].astype(np.int32)) <= 0)
    assert block[49] == 0 and silent(block[50:])
    assert p.played == BLOCK + 50


def test_interrupt_without_fade_cuts_at_once() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=0, lookahead=120)
    p.write(ramp(2000))
    play(p)
    p.interrupt(0)
    assert silent(play(p))
    assert p.played == BLOCK and p.queued == 0


def test_audio_written_after_interrupt_plays_exactly_and_nothing_old_comes_back() -> None:
    p = Playout(block=BLOCK, capacity=8192, prebuffer=600, lookahead=120)
    old = np.full(5000, 7000, dtype=np.int16)
    new = ramp(1500, start=100)
    p.write(old)
    play(p)
    p.interrupt(60)
    p.write(new)  # before the consumer has seen the interrupt: must survive the flush
    assert p.queued == 120 + len(new)
    faded = play(p)
    assert faded[0] > 0 and faded[59] == 0 and silent(faded[60:])
    assert p.queued == len(new)
    out = np.concatenate([play(p) for _ in range(4)])  # 1500 >= prebuffer: plays at once
    assert np.array_equal(out[: len(new)], new)
    assert silent(out[len(new) :])
    assert not np.any(out == 7000)
    assert p.played == BLOCK + 60 + len(new)


def test_interrupt_while_stopped_drops_the_lookahead_on_reset() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=0, lookahead=120)
    p.write(ramp(1000))
    play(p)
    assert p.queued == 520
    p.interrupt(50)
    p.reset()  # the stream restarts: nothing of the old audio is left to fade
    assert p.queued == 0 and not p.interrupt_pending
    assert silent(play(p))
    p.write(ramp(BLOCK, start=3000))
    assert np.array_equal(play(p), ramp(BLOCK, start=3000))


def test_reset_keeps_the_lookahead_and_restarts_the_prebuffer() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=600, lookahead=120)
    signal = ramp(1200)
    p.write(signal)
    assert np.array_equal(play(p), signal[:480])
    p.reset()  # stop/start: 720 queued (120 of them held) >= 600, so it resumes at once
    assert np.array_equal(play(p), signal[480:960])
    assert p.played == 960


# --------------------------------------------------------------------------- end of stream


def test_end_of_stream_plays_a_tail_below_the_prebuffer_and_is_not_an_underrun() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=1440, lookahead=120)
    tail = ramp(700)
    p.write(tail)
    assert silent(play(p)) and p.played == 0
    p.end_of_stream()
    out = np.concatenate([play(p), play(p)])
    assert np.array_equal(out[:700], tail) and silent(out[700:])
    assert p.played == 700 and p.queued == 0  # drained
    assert not p.playing
    assert p.underruns == 0 and p.underrun_samples == 0
    assert silent(play(p)) and p.underruns == 0


def test_after_end_of_stream_new_audio_waits_for_the_prebuffer_and_can_underrun() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=960, lookahead=0)
    p.write(ramp(300))
    p.end_of_stream()
    play(p)
    assert p.played == 300 and p.underruns == 0
    second = ramp(1000, start=2000)
    p.write(second[:900])
    assert silent(play(p))  # a new stream: the prebuffer applies
    p.write(second[900:])
    assert np.array_equal(play(p), second[:480])
    assert np.array_equal(play(p), second[480:960])
    block = play(p)  # no end_of_stream for this one: running dry is an underrun
    assert np.array_equal(block[:40], second[960:]) and silent(block[40:])
    assert p.underruns == 1 and p.underrun_samples == 440


# --------------------------------------------------------------------------- real-time rules


def test_fill_returns_preallocated_arrays_and_never_raises() -> None:
    p = Playout(block=BLOCK, capacity=4096, prebuffer=0, lookahead=120)
    silence = p.fill(BLOCK)
    assert silent(silence[:BLOCK])
    p.write(ramp(2000))
    assert p.fill(BLOCK) is p.buffer
    assert p.fill(BLOCK) is p.buffer
    assert p.fill(BLOCK + 1) is silence  # longer than a block: an error, silence
    assert p.errors == 1

    class Broken:
        read_available = 10_000
        total_written = 10_000

        def readinto_bytes(self, out: object) -> int:
            raise RuntimeError("boom")

    p._ring = Broken()  # type: ignore[assignment]
    assert silent(p.fill(BLOCK)[:BLOCK])
    assert p.errors == 2 and isinstance(p.last_error, RuntimeError)


def test_fill_does_not_allocate_in_the_steady_state() -> None:
    p = Playout(block=BLOCK, capacity=1 << 16, prebuffer=960, lookahead=120)
    chunk = ramp(BLOCK)
    for _ in range(50):  # warm up every path: prebuffer, play, interrupt, fade, resume
        p.write(chunk)
        p.fill(BLOCK)
    p.interrupt(100)
    for _ in range(5):
        p.write(chunk)
        p.fill(BLOCK)
    files = [tracemalloc.Filter(True, "*/rtsync/audio/playout.py"), tracemalloc.Filter(True, "*/ringbuffer.py")]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(files)
        for i in range(2000):
            p.write(chunk)
            p.fill(BLOCK)
            if i % 500 == 499:
                p.interrupt(100)
        after = tracemalloc.take_snapshot().filter_traces(files)
    finally:
        tracemalloc.stop()
    assert p.errors == 0 and p.played > 1500 * BLOCK
    grown = [s for s in after.compare_to(before, "lineno") if s.count_diff > 0]
    # One object kept per call would show as 2000 on one line. What remains is no growth: a
    # counter (a Python int) that now holds a new value allocated on another line.
    assert all(s.count_diff <= 1 for s in grown), [str(s) for s in grown]
    assert sum(s.count_diff for s in grown) <= 8, [str(s) for s in grown]


def test_sizes_and_arguments() -> None:
    p = Playout(block=480, capacity=5000, prebuffer=100_000, lookahead=1000)
    assert p.capacity == 8192 and p.prebuffer == 8192  # capacity rounds up; prebuffer is clamped
    assert p.lookahead == 480 and p.block == 480
    assert p.write_available == 8192 and p.queued == 0
    assert p.interrupts == 0
    p.interrupt()
    assert p.interrupts == 1
    for bad in ({"block": 0, "capacity": 9}, {"block": 9, "capacity": 0}, {"block": 1, "capacity": 1, "lookahead": -1}):
        with pytest.raises(ValueError):
            Playout(**bad)
    assert "prebuffering" in repr(Playout(block=10, capacity=10))
