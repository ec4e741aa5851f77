"""Audio path: the ring buffer's throughput (more audio benchmarks plug in here).

The ring buffer row moves 20 ms blocks of 24 kHz int16 audio (480 samples) through
``rtsync.audio.RingBuffer`` — ``write`` then ``readinto`` on the same thread, so it measures the
buffer's own cost and not thread scheduling — against the same data movement done with two plain
numpy copies per block (in, then out), which is what a ring buffer does minus its bookkeeping.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks import Config, Row, benchmark, median
from benchmarks._proc import has_module

__all__ = ["ring_buffer"]

BLOCK = 480  # 20 ms at 24 kHz


def _make_ring(cls: Any, capacity: int, np: Any) -> Any:
    try:
        return cls(capacity, dtype=np.int16)
    except TypeError:
        return cls(capacity)


@benchmark("ring buffer", order=40)
def ring_buffer(cfg: Config) -> list[Row]:
    """Samples/s through RingBuffer (write + readinto) vs two numpy copies per block."""
    name = "ring buffer: 20 ms int16 blocks, write+readinto"
    if not has_module("rtsync.audio"):
        return [Row(name, "n/a", note="rtsync.audio not available yet")]
    import numpy as np

    import rtsync.audio

    cls = getattr(rtsync.audio, "RingBuffer", None)
    if cls is None:
        return [Row(name, "n/a", note="rtsync.audio.RingBuffer not available yet")]
    blocks = 5_000 if cfg.quick else 50_000
    src = (np.arange(BLOCK * 16, dtype=np.int64) % 30_000).astype(np.int16).reshape(16, BLOCK)
    out = np.empty(BLOCK, dtype=np.int16)
    ring = _make_ring(cls, 8192, np)
    write, readinto = ring.write, ring.readinto

    def run_ring() -> float:
        t = time.perf_counter()
        for i in range(blocks):
            w = write(src[i & 15])
            r = readinto(out)
            if w != BLOCK or r != BLOCK:
                raise RuntimeError(f"RingBuffer: block {i} wrote {w} and read {r} of {BLOCK} samples "
                                   f"into an empty buffer of {ring.capacity}")
        return blocks * BLOCK / (time.perf_counter() - t)

    mid = np.empty(8192, dtype=np.int16)

    def run_copy() -> float:
        copyto = np.copyto
        t = time.perf_counter()
        for i in range(blocks):
            at = (i * BLOCK) % (8192 - BLOCK)
            copyto(mid[at:at + BLOCK], src[i & 15])
            copyto(out, mid[at:at + BLOCK])
        return blocks * BLOCK / (time.perf_counter() - t)

    ring_rates, copy_rates = [], []
    for _ in range(max(3, cfg.runs)):
        ring_rates.append(run_ring())
        copy_rates.append(run_copy())
    return [Row(name, median(ring_rates), "samples/s", median(copy_rates), "2 numpy copies per block")]
