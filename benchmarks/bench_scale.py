"""Scale: N concurrent voice-shaped ``RealtimeClient`` sessions in one process.

Every session is a ``RealtimeClient`` (its reader and dispatcher threads) plus one sender thread,
as in ``VoiceSession`` (``rtsync-voice-sender``): the sender calls ``append_audio`` with 20 ms of
24 kHz pcm16 every 20 ms on an absolute schedule (start + k × 20 ms; the sessions' phases are
spread over the 20 ms so they do not all wake at once, as independent microphones would not).
The server (``benchmarks/_scale_server.py``, a separate process) answers each connection's
first append with a spoken response whose ``response.audio.delta`` events (20 ms each) it sends
every 20 ms, i.e. in real time. Each session's ``response.audio.delta`` callback decodes
``ev.samples`` and writes them into its own ``rtsync.audio.RingBuffer``; one "speaker" thread
drains every ring buffer every 20 ms (a stand-in for the PortAudio callbacks, which are not
rtsync threads; it is counted once, not per session).

Run for 10 s (3 s with N=5 in quick mode) with N = 1, 10 and 50. Per N:

* CPU per session: process CPU time (all threads, ``time.process_time``) over the run's wall
  time / N, in % of one core; the total is in the note.
* Threads per session: ``(threading.active_count()`` during the run ``- before - 1) / N`` (the
  shared speaker thread is the ``- 1``).
* Memory per session: (RSS during the run − RSS before the clients were created) / N, in MB
  (``/proc/self/statm``; memory freed by a previous, smaller N may be reused, so the small-N
  figures are lower bounds).
* Kept up: the worst session's received audio as % of what the server streamed in real time
  from its first append to the end of the run (target ≥ 95 %), and the append cadence's lag
  (actual send time − scheduled time) p99 and max over all appends (target p99 < 100 ms); ring
  buffer overflows (dropped samples) in the note.

Baseline of each row: the same measurement with N = 1. The target row "50 concurrent sessions on
2 cores" is ok when all 50 kept up and the process's total CPU stayed below 200 % (two cores).
At the end every client is closed and the benchmark checks that no thread it started is left.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any

from benchmarks import Config, Row, benchmark

__all__ = ["scale"]

RATE = 24_000
BLOCK = 480  # 20 ms at 24 kHz
PERIOD = 0.020
KEEP_UP_PCT = 95.0
LAG_P99_MS = 100.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class _Session:
    """One client: its ring buffer, its sender's schedule and lags, its counters."""

    def __init__(self, client: Any, capacity: int, n_appends: int) -> None:
        import numpy as np

        from rtsync.audio import RingBuffer

        self.client = client
        self.ring = RingBuffer(capacity)
        self.lags = np.zeros(n_appends, dtype=np.float64)
        self.n_lags = 0
        self.received = 0  # samples decoded in the callback
        self.dropped = 0  # samples the ring buffer had no room for
        self.first_append = 0.0
        self.errors = 0

    def on_audio(self, ev: Any) -> None:
        samples = ev.samples
        n = len(samples)
        self.received += n
        w = self.ring.write(samples)
        if w < n:
            self.dropped += n - w


def _sender(sess: _Session, block: Any, start: float, n_appends: int, stop: threading.Event) -> None:
    mono = time.monotonic
    lags = sess.lags
    append = sess.client.append_audio
    for k in range(n_appends):
        due = start + k * PERIOD
        delay = due - mono()
        if delay > 0 and stop.wait(delay):
            return
        if stop.is_set():
            return
        t = mono()
        try:
            append(block)
        except Exception:
            sess.errors += 1
            return
        if k == 0:
            sess.first_append = t
        lags[k] = t - due
        sess.n_lags = k + 1


def _speaker(sessions: list[_Session], stop: threading.Event) -> None:
    import numpy as np

    out = np.zeros(2 * BLOCK, dtype=np.int16)  # up to 40 ms per 20 ms tick: never the bottleneck
    next_t = time.monotonic()
    while not stop.is_set():
        next_t += PERIOD
        delay = next_t - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        for s in sessions:
            s.ring.readinto(out)


def _run(n: int, seconds: float) -> dict[str, Any]:
    import numpy as np

    from benchmarks._scale_server import StreamServer
    from rtsync import RealtimeClient

    t = np.arange(BLOCK) / RATE
    block = (np.sin(2 * np.pi * 220.0 * t) * 8000).astype(np.int16)
    n_appends = int(seconds / PERIOD)
    with StreamServer() as srv:
        gc.collect()
        threads0 = threading.active_count()
        names0 = {th.ident for th in threading.enumerate()}
        rss0 = _rss_mb()
        sessions: list[_Session] = []
        stop = threading.Event()
        workers: list[threading.Thread] = []
        try:
            for _ in range(n):
                client = RealtimeClient(url=srv.url, api_key="")
                sess = _Session(client, RATE, n_appends)  # 1 s of ring buffer per session
                client.on("response.audio.delta", sess.on_audio)
                sessions.append(sess)
                client.connect()
            start = time.monotonic() + 0.05
            for i, sess in enumerate(sessions):
                th = threading.Thread(target=_sender, name=f"bench-scale-sender-{i}", daemon=True,
                                      args=(sess, block, start + i * PERIOD / n, n_appends, stop))
                workers.append(th)
            workers.append(threading.Thread(target=_speaker, name="bench-scale-speaker", args=(sessions, stop),
                                            daemon=True))
            wall0, cpu0 = time.monotonic(), time.process_time()
            for th in workers:
                th.start()
            end = start + seconds
            time.sleep(max(0.0, end - 0.3 - time.monotonic()))
            threads_during = threading.active_count()
            rss_during = _rss_mb()
            time.sleep(max(0.0, end + 0.01 - time.monotonic()))
            wall1, cpu1 = time.monotonic(), time.process_time()
            received = [s.received for s in sessions]  # snapshot at the end of the window
            stop.set()
            for th in workers:
                th.join(5)
        finally:
            stop.set()
            for s in sessions:
                s.client.close()
            for th in workers:
                th.join(5)
    gc.collect()
    left = [th.name for th in threading.enumerate() if th.ident not in names0]
    lags = np.concatenate([s.lags[:s.n_lags] for s in sessions]) * 1000.0
    expected = [max(0.0, wall1 - s.first_append) * RATE if s.first_append else 0.0 for s in sessions]
    kept = [100.0 * r / e if e else 0.0 for r, e in zip(received, expected, strict=True)]
    return {
        "n": n, "wall": wall1 - wall0, "cpu_pct": 100.0 * (cpu1 - cpu0) / (wall1 - wall0),
        "threads": (threads_during - threads0 - 1) / n,  # - 1: the shared speaker thread
        "rss": (rss_during - rss0) / n,
        "kept_min": min(kept), "lag_p99": float(np.percentile(lags, 99)) if len(lags) else float("nan"),
        "lag_max": float(lags.max()) if len(lags) else float("nan"),
        "appends": len(lags), "expected_appends": n * n_appends,
        "dropped": sum(s.dropped for s in sessions), "errors": sum(s.errors for s in sessions),
        "left": left, "server": srv.stats,
    }


def _kept_up(r: dict[str, Any]) -> bool:
    return (r["kept_min"] >= KEEP_UP_PCT and r["lag_p99"] < LAG_P99_MS and not r["dropped"] and not r["errors"]
            and r["appends"] == r["expected_appends"])


@benchmark("scale", order=50)
def scale(cfg: Config) -> list[Row]:
    """N concurrent voice sessions in one process: CPU, threads, memory per session; kept up?"""
    seconds = 3.0 if cfg.quick else 10.0
    ns = [5] if cfg.quick else [1, 10, 50]
    import numpy  # noqa: F401  (imported before the first RSS reading, like rtsync below)

    import rtsync.audio
    import rtsync.events  # noqa: F401

    results = []
    for n in ns:
        r = _run(n, seconds)
        srv = r["server"]
        cfg.log(f"scale N={n}: cpu {r['cpu_pct']:.1f}% ({r['cpu_pct'] / n:.2f}%/session), "
                f"{r['threads']:.2f} threads/session, {r['rss']:.2f} MB/session, worst received "
                f"{r['kept_min']:.1f}%, append lag p99 {r['lag_p99']:.1f} ms max {r['lag_max']:.1f} ms, "
                f"server cpu {srv.get('cpu_s', float('nan')):.2f} s, tick lag max {srv.get('lag_max_ms', 0):.1f} ms")
        if r["left"]:
            raise RuntimeError(f"N={n}: threads left after closing every client: {r['left'][:5]}")
        results.append(r)
    base = results[0] if results[0]["n"] == 1 else None
    b_name = "1 session" if base else ""

    def b(key: str) -> float | None:
        if base is None:
            return None
        return float(base[key])

    rows: list[Row] = []
    for r in results:
        n = r["n"]
        is_base = r is base
        srv = r["server"]
        rows += [
            Row(f"scale N={n}: CPU per session (process CPU / wall / N)", r["cpu_pct"] / n, "% core",
                None if is_base else b("cpu_pct"), "" if is_base else b_name, higher_is_better=False,
                note=f"total {r['cpu_pct']:.1f}% of one core; server process "
                     f"{100 * srv.get('cpu_s', 0.0) / max(r['wall'], 1e-9):.1f}% (own process)"),
            Row(f"scale N={n}: threads per session", r["threads"], "threads",
                None if is_base else b("threads"), "" if is_base else b_name, higher_is_better=False,
                note="reader + dispatcher + sender (the shared speaker thread not counted)"),
            Row(f"scale N={n}: memory per session (RSS delta / N)", r["rss"], "MB",
                None if is_base else b("rss"), "" if is_base else b_name, higher_is_better=False),
            Row(f"scale N={n}: worst session's received audio vs real time", r["kept_min"], "%",
                ok=_kept_up(r), target_text=f"≥ {KEEP_UP_PCT:.0f} %, lag p99 < {LAG_P99_MS:.0f} ms",
                note=f"append lag p99 {r['lag_p99']:.1f} ms, max {r['lag_max']:.1f} ms; "
                     f"{r['appends']}/{r['expected_appends']} appends; dropped {r['dropped']} samples; "
                     f"server tick lag max {srv.get('lag_max_ms', 0.0):.1f} ms"),
        ]
    last = results[-1]
    if last["n"] == 50:
        ok = _kept_up(last) and last["cpu_pct"] < 200.0
        rows.append(Row("50 concurrent sessions on 2 cores", "ok" if ok else "no", ok=ok,
                        target_text="all kept up, CPU < 200 %",
                        note=f"total CPU {last['cpu_pct']:.0f}% of one core, worst received "
                             f"{last['kept_min']:.1f}%, append lag p99 {last['lag_p99']:.1f} ms"))
    else:
        rows.append(Row("50 concurrent sessions on 2 cores", "n/a", note=f"quick mode: N={last['n']} only"))
    return rows
