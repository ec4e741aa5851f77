"""Event delivery: throughput (and the peak RSS of that run) and latency, against baselines.

Each client run is a fresh interpreter (``benchmarks/_client.py``); the event server is another
process (``benchmarks/server.py``). Runs are interleaved (bare, rtsync, ..., bare, rtsync, ...)
so that a slow patch of the machine hits every client alike, and the median is kept.
"""

from __future__ import annotations

from typing import Any

from benchmarks import Config, Row, benchmark, median
from benchmarks._proc import has_module, run_client
from benchmarks.server import ServerProcess

__all__ = ["latency", "throughput"]

BARE = "bare websocket-client"
BARE_NP = "bare loop + numpy decode"


def _run(cfg: Config, kind: str, mode: str, url: str) -> dict[str, Any]:
    """``kind@candidate`` runs ``kind`` with the candidate copy of rtsync first on the path."""
    base, _, where = kind.partition("@")
    return run_client(base, mode, url, pythonpath=cfg.candidate if where == "candidate" else None)


def _rate(res: dict[str, Any]) -> float:
    return float(res["events"]) / float(res["seconds"])


@benchmark("throughput", order=10)
def throughput(cfg: Config) -> list[Row]:
    """Events/s through each client, server blasting one pre-encoded audio response."""
    have_openai = has_module("openai")
    kinds = ["bare", "rtsync", "bare-numpy", "rtsync-numpy", "drain"] + (["openai"] if have_openai else [])
    if cfg.candidate:
        kinds.insert(2, "rtsync@candidate")
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    with ServerProcess(cfg.audio_deltas, cfg.transcript_deltas) as srv:
        cfg.log(f"throughput: {srv.events} events, {srv.nbytes / 1e6:.1f} MB per response, {cfg.runs} run(s)")
        for i in range(cfg.runs):
            for kind in kinds:
                res = _run(cfg, kind, "throughput", srv.url("drain" if kind == "drain" else "blast"))
                if kind == "drain":
                    if res["bytes"] != srv.nbytes:
                        raise RuntimeError(f"drain got {res['bytes']} bytes, expected {srv.nbytes}")
                    res["events"] = srv.events
                elif res["events"] != srv.events:
                    raise RuntimeError(f"{kind} counted {res['events']} events, expected {srv.events}")
                runs[kind].append(res)
                cfg.log(f"run {i + 1}/{cfg.runs} {kind:16s} {_rate(res) / 1e3:8.1f}k ev/s  "
                        f"rss {res['maxrss_kb'] / 1024:.1f} MB")
    rate = {k: median([_rate(r) for r in v]) for k, v in runs.items()}
    rss = {k: max(r["maxrss_kb"] for r in v) / 1024 for k, v in runs.items()}
    rows = [
        Row("throughput: bare websocket-client recv()+json.loads", rate["bare"], "ev/s",
            note="the baseline"),
        Row('throughput: rtsync, attrs events to a "*" callback', rate["rtsync"], "ev/s", rate["bare"], BARE,
            target_ratio=0.75),
    ]
    if cfg.candidate:
        rows.append(Row('throughput: rtsync (candidate), "*" callback', rate["rtsync@candidate"], "ev/s",
                        rate["bare"], BARE, target_ratio=0.75, note=cfg.candidate))
    rows += [
        Row("throughput: rtsync + ev.samples (numpy) per audio delta", rate["rtsync-numpy"], "ev/s",
            rate["bare-numpy"], BARE_NP),
        Row("throughput: openai-python beta.realtime.connect()", rate["openai"] if have_openai else "n/a",
            "ev/s", rate["bare"], BARE, note="" if have_openai else "openai not installed"),
        Row("server headroom: raw socket drain, no parsing", rate["drain"], "ev/s", rate["bare"], BARE,
            target_ratio=3.0, note="server off the critical path"),
        Row("peak RSS of the throughput run: rtsync", rss["rtsync"], "MB", rss["bare"], BARE,
            higher_is_better=False, target_abs=40.0),
        Row("peak RSS: rtsync + numpy decode", rss["rtsync-numpy"], "MB", rss["bare-numpy"], BARE_NP,
            higher_is_better=False),
    ]
    if have_openai:
        rows.append(Row("peak RSS: openai-python", rss["openai"], "MB", rss["bare"], BARE, higher_is_better=False))
    return rows


@benchmark("latency", order=20)
def latency(cfg: Config) -> list[Row]:
    """Server send -> event in user code, events paced at ``cfg.latency_rate``."""
    have_openai = has_module("openai")
    kinds = ["bare", "rtsync"] + (["rtsync@candidate"] if cfg.candidate else []) + (["openai"] if have_openai else [])
    n, hz = cfg.latency_events, cfg.latency_rate
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with ServerProcess(n, n // 5) as srv:
        cfg.log(f"latency: {n} events at {hz} /s, {cfg.runs} run(s)")
        for i in range(cfg.runs):
            for kind in kinds:
                res = _run(cfg, kind, "latency", srv.url("paced", n, hz))
                lat = res["lat"]
                if lat["n"] != n:
                    raise RuntimeError(f"{kind}: {lat['n']} latency samples, expected {n}")
                runs[kind].append(lat)
                cfg.log(f"run {i + 1}/{cfg.runs} {kind:16s} p50 {lat['p50_us']:7.1f} µs  p99 {lat['p99_us']:7.1f} µs")

    def q(kind: str, key: str) -> float:
        return median([r[key] for r in runs[kind]])

    rows = [
        Row(f"latency p50 at {hz} ev/s: rtsync (callback entry)", q("rtsync", "p50_us"), "µs", q("bare", "p50_us"),
            BARE, higher_is_better=False),
        Row(f"latency p99 at {hz} ev/s: rtsync (callback entry)", q("rtsync", "p99_us"), "µs", q("bare", "p99_us"),
            BARE, higher_is_better=False, target_ratio=2.0),
    ]
    if cfg.candidate:
        rows.append(Row(f"latency p99 at {hz} ev/s: rtsync (candidate)", q("rtsync@candidate", "p99_us"), "µs",
                        q("bare", "p99_us"), BARE, higher_is_better=False, target_ratio=2.0, note=cfg.candidate))
    for p in ("p50", "p99"):
        rows.append(Row(f"latency {p} at {hz} ev/s: openai-python", q("openai", f"{p}_us") if have_openai else "n/a",
                        "µs", q("bare", f"{p}_us"), BARE, higher_is_better=False,
                        note="" if have_openai else "openai not installed"))
    return rows
