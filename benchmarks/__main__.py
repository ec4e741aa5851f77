"""rtsync benchmarks: one table of ratios, every baseline measured in the same run.

Usage::

    python -m benchmarks              # full run (make bench), a few minutes at most
    python -m benchmarks --quick      # smoke mode for CI: tiny sizes, one run, well under 30 s
    python -m benchmarks --only throughput --only latency --runs 5 --json out.json
    python -m benchmarks --list
    python -m benchmarks --candidate /tmp/patched   # also measure the rtsync package in /tmp/patched

Absolute numbers move from machine to machine; compare the *ratio* column, which divides each
measurement by its baseline taken minutes earlier on the same machine. The exit status is 1 when
a benchmark fails to run (and, with ``--strict``, when a target is missed); a missed target alone
does not fail the smoke run, because shared CI machines are noisy.

What is measured
================

The event server (``benchmarks/server.py``)
    A plain ``socket`` server in its own process (so it never competes for the client's GIL). It
    performs the WebSocket upgrade by hand, sends ``session.created``, and when the client sends
    ``response.create`` it writes one pre-encoded spoken response with a single ``sendall``:

    * full mode: 20,000 ``response.audio.delta`` + 4,000 ``response.audio_transcript.delta`` + 10
      framing events (``response.created``, ``rate_limits.updated``, ``response.output_item.added``,
      ``conversation.item.created``, ``response.content_part.added``, and after the deltas
      ``response.audio.done``, ``response.audio_transcript.done``, ``response.content_part.done``,
      ``response.output_item.done``, ``response.done``) = 24,010 events, 30.7 MB of compact JSON;
    * each audio delta is 20 ms of 24 kHz pcm16: 960 bytes -> 1,280 base64 characters, a
      ~1.45 KB frame (the real service's chunks vary; 20 ms is what a voice app plays per
      callback, and 1.2-1.5 KB frames match the traffic in ``notes/performance.md``);
    * one transcript delta (one word) after every five audio deltas;
    * quick mode: 6,000 + 1,200 + 10 = 7,210 events, 9.2 MB.

    Why a hand-written server and not ``websockets``: with everything pre-encoded the server does
    nothing per event; a client that only drains bytes (the "server headroom" row, which must be
    at least 3× the bare loop) receives the full response at 2-3 GB/s, 15-20× faster than the
    bare loop parses it. Measured on the 2-core reference machine, ``websockets.sync.server``
    sending the same pre-encoded strings (``ws.send(text)`` per event, compression off) topped
    out at 120-180k events/s — only 1.2-1.7× the bare loop, while burning a whole core in
    Python next to the client — so a client faster than the bare loop would have measured the
    server instead.

Throughput (``bench_events.throughput``)
    Events/s from sending ``response.create`` to receiving ``response.done``, every client in a
    fresh interpreter (``benchmarks/_client.py``), runs interleaved, median of 3 (1 in quick mode):

    * bare loop, the baseline: websocket-client ``create_connection(..., skip_utf8_validation=True)``,
      ``recv()`` + ``json.loads`` on one thread, nothing else;
    * rtsync: ``RealtimeClient(url=...)``, frames parsed into attrs events on the reader thread,
      handed in batches to the dispatcher thread, counted in a ``"*"`` callback. Target: at least
      0.75× the bare loop;
    * rtsync + ``ev.samples`` (base64 -> int16 ndarray) for every audio delta, against the bare
      loop doing the same decode;
    * openai-python's ``OpenAI(websocket_base_url=...).beta.realtime.connect()``, iterating
      ``recv()`` (pydantic models); "n/a" when ``openai`` is not installed.

Peak RSS
    ``ru_maxrss`` of the client process of the throughput run (the largest of its runs), so it
    includes the interpreter, the imports and whatever piled up in the event queue. Target for
    rtsync: below 40 MB.

Latency (``bench_events.latency``)
    The server sends 2,000 events (300 in quick mode) at 1 kHz, one ``sendall`` each, writing
    ``time.monotonic_ns()`` into each event's ``event_id`` just before sending. The client takes
    ``time.monotonic_ns()`` when the event reaches user code: after ``json.loads`` for the bare
    loop, at callback entry for rtsync (so the reader -> dispatcher hand-off is included), after
    ``recv()`` for openai-python. ``CLOCK_MONOTONIC`` is shared by all processes of the machine.
    p50 and p99 of each run, median over runs. Target: rtsync's p99 at most 2× the bare loop's.

Import (``bench_startup.import_time``)
    ``import rtsync`` timed inside a fresh interpreter (median of 5, 3 in quick mode, bytecode
    caches warm), against ``import websocket, attrs`` (the dependencies no client can avoid) and
    ``import openai`` for scale. Targets: under 80 ms, and numpy, pyaudio and ``rtsync.server``
    are not loaded by it.

Ring buffer (``bench_audio.ring_buffer``)
    Samples/s moving 20 ms int16 blocks through ``rtsync.audio.RingBuffer`` against two plain
    numpy copies per block; "n/a" until ``rtsync.audio`` exists.

Audio on real streams (``bench_voice``: ``audio callbacks``, ``audio flood``, ``barge-in``)
    On the virtual sound device of the audio tests (``tests/audio/vaudio.sh``, started if
    needed): PortAudio callback cost p50/p99 of ``Speaker`` and ``Microphone`` against a
    do-nothing callback (target p99 < 50 µs) and the blocks the callbacks retain (target 0);
    speaker underruns/overruns with audio at 10× real time, a text-delta flood on the same
    connection and a busy main thread (target 0); barge-in latency from ``speech_started`` to
    silence (target ≤ 1 block). "n/a (no audio device)" rows when the device is unavailable;
    details in ``benchmarks/bench_voice.py``.

Echo cancellation (``bench_echo``: ``echo``)
    ``rtsync.audio.EchoCanceller`` on the seeded synthetic room of the tests
    (``tests/audio/room.py``): ERLE in the first second, converged and after double talk, the
    user's level alone and in double talk, a wrong reference that must not cancel, the start-up
    guard against the plain canceller, CPU per 20 ms block against the bare AEC3 calls, and the
    delay the canceller adds. "n/a" without the ``aec`` extra; details in
    ``benchmarks/bench_echo.py``.

Trying a core change
====================

Copy ``rtsync/`` to another directory, change it there, and pass that directory with
``--candidate DIR``: the throughput and latency benchmarks then add "rtsync (candidate)" rows,
measured in the same interleaved runs against the same baselines, next to the checkout's rows.

Adding a benchmark
==================

Write a function ``fn(cfg: Config) -> list[Row]`` in a ``benchmarks/bench_*.py`` module and
decorate it with ``@benchmark("name", order=N)`` (see ``benchmarks/__init__.py``). The runner
imports every ``bench_*`` module, calls the functions in ``order`` and prints their rows in one
table. Use ``cfg.quick`` / ``cfg.runs`` to size the work (the quick mode must stay tiny), measure
the baseline in the same function and interleave repeated runs, and return "n/a" rows (not an
exception) when an optional piece is missing. A function that raises is reported as ERROR and
makes the run exit with status 1.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback

from benchmarks import BENCHMARKS, Config, Row, fmt_value

__all__ = ["main"]


def _discover() -> None:
    pkg_dir = os.path.dirname(os.path.abspath(__file__))
    for info in sorted(pkgutil.iter_modules([pkg_dir]), key=lambda m: m.name):
        if info.name.startswith("bench_"):
            importlib.import_module(f"benchmarks.{info.name}")


def _status(row: Row) -> str:
    if row.value == "ERROR":
        return "ERROR"
    ok = row.ok
    return "—" if ok is None else ("ok" if ok else "MISS")


def _table(rows: list[Row]) -> str:
    head = ("benchmark", "value", "baseline (same run)", "ratio", "target", "status")
    lines = []
    for r in rows:
        base = "" if r.baseline is None else f"{fmt_value(r.baseline, r.unit)}  {r.baseline_name}"
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}×"
        status = _status(r) + (f"  ({r.note})" if r.note else "")
        lines.append((r.name, fmt_value(r.value, r.unit), base, ratio, r.target, status))
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head) - 1)]

    def fmt(cols: tuple[str, ...]) -> str:
        pairs = enumerate(zip(cols[:-1], widths, strict=True))
        cells = [c.rjust(w) if i in (1, 3) else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join([*cells, cols[-1]]).rstrip()

    sep = "  ".join("-" * w for w in widths) + "  ------"
    return "\n".join([fmt(head), sep, *(fmt(x) for x in lines)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description="rtsync benchmarks (ratios vs baselines)")
    ap.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, one run")
    ap.add_argument("--runs", type=int, default=None, help="repetitions per measurement (default 3, quick 1)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these benchmarks")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    ap.add_argument("--candidate", metavar="DIR",
                    help="also measure the rtsync package found in DIR (a patched copy) against the same baselines")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    faulthandler.enable()  # a crash in a C library (PortAudio, ALSA) still names the Python line

    _discover()
    selected = sorted(BENCHMARKS.values(), key=lambda b: (b.order, b.name))
    if args.list:
        for b in selected:
            print(f"{b.name:16s} {(b.fn.__doc__ or '').strip().splitlines()[0] if b.fn.__doc__ else ''}")
        return 0
    if args.only:
        unknown = set(args.only) - set(BENCHMARKS)
        if unknown:
            ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))} (see --list)")
        selected = [b for b in selected if b.name in args.only]

    if args.candidate and not os.path.isfile(os.path.join(args.candidate, "rtsync", "__init__.py")):
        ap.error(f"--candidate: no rtsync package in {args.candidate}")
    cfg = Config(quick=args.quick, runs=args.runs, verbose=not args.quiet,
                 candidate=os.path.abspath(args.candidate) if args.candidate else None)
    t_start = time.perf_counter()
    rows: list[Row] = []
    errors = 0
    for b in selected:
        cfg.log(f"[{b.name}]")
        t = time.perf_counter()
        try:
            rows.extend(b.fn(cfg))
        except Exception as exc:
            errors += 1
            traceback.print_exc(file=sys.stderr)
            rows.append(Row(f"{b.name}", "ERROR", note=f"{type(exc).__name__}: {exc}".splitlines()[0][:100]))
        cfg.log(f"[{b.name}] {time.perf_counter() - t:.1f} s")
    wall = time.perf_counter() - t_start

    mode = "quick (smoke)" if cfg.quick else "full"
    print(f"rtsync benchmarks — {mode} mode, {cfg.runs} run(s) per measurement, medians; "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(_table(rows))
    missed = [r for r in rows if r.ok is False]
    print(f"{len(rows)} rows, {sum(r.ok is True for r in rows)} ok, {len(missed)} missed, {errors} error(s); "
          f"{wall:.1f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"mode": mode, "runs": cfg.runs, "seconds": wall, "python": platform.python_version(),
                       "cpus": os.cpu_count(), "rows": [r.as_dict() for r in rows]}, fh, indent=2)
    if errors or (args.strict and missed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
