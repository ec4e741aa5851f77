"""One client run, in a fresh interpreter: ``python benchmarks/_client.py KIND MODE URL``.

Started by file path (not ``-m``), so the process imports only what its client needs and its
peak RSS is that client's. Prints one JSON object on stdout.

KIND
    ``bare``          websocket-client ``recv()`` + ``json.loads`` (``skip_utf8_validation=True``)
    ``bare-numpy``    the same + base64 -> int16 ndarray for each ``response.audio.delta``
    ``rtsync``        ``RealtimeClient`` with one ``"*"`` callback (dispatcher thread)
    ``rtsync-numpy``  the same + ``ev.samples`` for each ``response.audio.delta``
    ``openai``        openai-python ``client.beta.realtime.connect()``, iterating the connection
    ``drain``         no parsing: count bytes from the socket until the server half-closes
MODE
    ``throughput``    send ``response.create``, count events until ``response.done``
    ``latency``       the same, recording ``time.monotonic_ns()`` minus the send time the server
                      wrote into each ``event_id`` (for rtsync: at callback entry)
"""

from __future__ import annotations

import json
import resource
import sys
import time

TRIGGER = '{"type":"response.create","event_id":"evt_bench_1"}'


def _sent_ns(event_id: str) -> int:
    try:
        return int(event_id[6:])
    except (TypeError, ValueError):
        return 0


def _lat_summary(samples: list[tuple[int, str]]) -> dict[str, float]:
    lat = sorted(t - s for t, s in ((t, _sent_ns(e)) for t, e in samples) if s > 0)
    if not lat:
        return {"n": 0}
    n = len(lat)

    def q(p: float) -> float:
        return lat[min(n - 1, int(p * n))] / 1e3  # µs

    return {"n": n, "p50_us": q(0.50), "p90_us": q(0.90), "p99_us": q(0.99), "max_us": lat[-1] / 1e3}


def run_bare(url: str, mode: str, numpy: bool) -> dict[str, object]:
    import websocket

    if numpy:
        import base64

        import numpy as np

        b64decode, frombuffer = base64.b64decode, np.frombuffer
    ws = websocket.create_connection(url, skip_utf8_validation=True, suppress_origin=True,
                                     header=["OpenAI-Beta: realtime=v1"])
    first = json.loads(ws.recv())
    assert first["type"] == "session.created", first
    recv, loads, mono = ws.recv, json.loads, time.monotonic_ns
    n = 0
    lat: list[tuple[int, str]] = []
    t0 = time.perf_counter()
    ws.send(TRIGGER)
    if mode == "latency":
        while True:
            ev = loads(recv())
            lat.append((mono(), ev["event_id"]))
            n += 1
            if ev["type"] == "response.done":
                break
    elif numpy:
        while True:
            ev = loads(recv())
            n += 1
            t = ev["type"]
            if t == "response.audio.delta":
                frombuffer(b64decode(ev["delta"]), dtype="<i2")
            elif t == "response.done":
                break
    else:
        while True:
            ev = loads(recv())
            n += 1
            if ev["type"] == "response.done":
                break
    t1 = time.perf_counter()
    ws.close()
    return {"events": n, "seconds": t1 - t0, "lat": _lat_summary(lat)}


def run_rtsync(url: str, mode: str, numpy: bool) -> dict[str, object]:
    import threading

    from rtsync import RealtimeClient

    if numpy:
        import numpy as np  # noqa: F401 - loaded up front, as a voice app has it (ev.samples imports it lazily)

    client = RealtimeClient(url=url, api_key="sk-bench")
    done = threading.Event()
    state = {"n": 0, "t1": 0.0, "events": 0}
    lat: list[tuple[int, str]] = []
    perf, mono = time.perf_counter, time.monotonic_ns

    if mode == "latency":
        def on_event(ev: object) -> None:
            lat.append((mono(), ev.event_id))  # type: ignore[attr-defined]
            state["n"] += 1
            if ev.type == "response.done":  # type: ignore[attr-defined]
                state["t1"] = perf()
                state["events"] = state["n"]
                done.set()
    elif numpy:
        def on_event(ev: object) -> None:
            state["n"] += 1
            t = ev.type  # type: ignore[attr-defined]
            if t == "response.audio.delta":
                ev.samples  # type: ignore[attr-defined]  # noqa: B018 - decoding is the work measured
            elif t == "response.done":
                state["t1"] = perf()
                state["events"] = state["n"]
                done.set()
    else:
        def on_event(ev: object) -> None:
            state["n"] += 1
            if ev.type == "response.done":  # type: ignore[attr-defined]
                state["t1"] = perf()
                state["events"] = state["n"]
                done.set()

    client.on("*", on_event)
    client.connect()
    # session.created went to the callback already (or is queued): wait for it, then reset.
    while state["n"] < 1:
        time.sleep(0.001)
    state["n"] = 0
    lat.clear()
    t0 = perf()
    client.create_response()
    if not done.wait(120):
        raise SystemExit("rtsync: no response.done within 120 s")
    client.close()
    import rtsync

    return {"events": state["events"], "seconds": state["t1"] - t0, "lat": _lat_summary(lat),
            "rtsync_file": rtsync.__file__}


def run_openai(url: str, mode: str) -> dict[str, object]:
    import warnings

    warnings.simplefilter("ignore")
    from openai import OpenAI

    oc = OpenAI(api_key="sk-bench", websocket_base_url=url)  # the SDK appends /realtime?model=...
    lat: list[tuple[int, str]] = []
    mono = time.monotonic_ns
    with oc.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        first = conn.recv()
        assert first.type == "session.created", first
        n = 0
        t0 = time.perf_counter()
        conn.response.create()
        recv = conn.recv
        while True:
            ev = recv()
            if mode == "latency":
                lat.append((mono(), ev.event_id))
            n += 1
            if ev.type == "response.done":
                break
        t1 = time.perf_counter()
    return {"events": n, "seconds": t1 - t0, "lat": _lat_summary(lat)}


def run_drain(url: str) -> dict[str, object]:
    import websocket

    ws = websocket.create_connection(url, skip_utf8_validation=True, suppress_origin=True)
    first = json.loads(ws.recv())
    assert first["type"] == "session.created", first
    assert not ws.frame_buffer.recv_buffer
    sock = ws.sock
    assert sock is not None
    buf = bytearray(1 << 20)
    total = 0
    t0 = time.perf_counter()
    ws.send(TRIGGER)
    while True:
        k = sock.recv_into(buf)
        if not k:
            break
        total += k
    t1 = time.perf_counter()
    ws.shutdown()
    return {"events": -1, "bytes": total, "seconds": t1 - t0, "lat": {"n": 0}}


def main() -> None:
    kind, mode, url = sys.argv[1:4]
    if kind in ("bare", "bare-numpy"):
        out = run_bare(url, mode, kind == "bare-numpy")
    elif kind in ("rtsync", "rtsync-numpy"):
        out = run_rtsync(url, mode, kind == "rtsync-numpy")
    elif kind == "openai":
        out = run_openai(url, mode)
    elif kind == "drain":
        out = run_drain(url)
    else:
        raise SystemExit(f"unknown client kind {kind!r}")
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["kind"] = kind
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
