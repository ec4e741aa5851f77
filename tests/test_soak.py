"""Soak: real-time-shaped audio both ways through the local server for many simulated minutes,
with ``audio_pace`` off (as fast as the loopback allows). Each simulated minute is six turns of
10 s: 100 appends of 100 ms of pcm16 (a quiet tone), a commit, a spoken reply streamed back in
100 ms chunks, and the turn's items deleted (as a long-running app bounds its history). After two
warm-up minutes (which fill the client's bounded buffers, such as the dispatcher's recent-event
window), client-side memory (tracemalloc, the server's own allocations excluded) and the thread
list stay flat.

``RTSYNC_SOAK_MINUTES`` sets the simulated minutes (default 4, at least 3; ``make soak`` runs 60)."""

from __future__ import annotations

import os
import threading
import tracemalloc

import numpy as np

from rtsync import RealtimeClient
from rtsync.server import LocalServer

MINUTES = max(3, int(os.environ.get("RTSYNC_SOAK_MINUTES", "4")))
WARM_UP = 2
CHUNK = (np.sin(np.arange(2400) * 2 * np.pi * 220 / 24000) * 3000).astype("<i2")  # 100 ms at 24 kHz


def _client_bytes() -> int:
    snap = tracemalloc.take_snapshot().filter_traces([
        tracemalloc.Filter(False, "*/rtsync/server/*"),
        tracemalloc.Filter(False, "*/websockets/*"),
        tracemalloc.Filter(False, tracemalloc.__file__),
    ])
    return sum(s.size for s in snap.statistics("filename"))


def _minute(client: RealtimeClient) -> None:
    for _ in range(6):
        assert _turn(client) == "I heard 10.0 seconds of speech."


def _turn(client: RealtimeClient) -> str:
    for _ in range(100):
        client.append_audio(CHUNK)
    client.commit_audio()
    created = client.wait_for("input_audio_buffer.committed", timeout=30)
    client.create_response(modalities=["audio", "text"])
    done = client.wait_for("response.done", timeout=60)
    out = done.response.output[0]
    client.delete_item(created.item_id)
    client.delete_item(out.id)
    client.wait_for("conversation.item.deleted", lambda ev: ev.item_id == out.id, timeout=30)
    return str(out.content[0].transcript)


def test_soak_audio_both_ways():
    received = {"audio": 0}

    def count(ev) -> None:
        received["audio"] += len(ev.delta)

    server = LocalServer(voice="tone", audio_pace=None).start()
    tracemalloc.start(1)
    try:
        with RealtimeClient(url=server.url, api_key="", max_audio_items=2) as client:
            client.on("response.audio.delta", count)
            client.update_session(turn_detection=None)
            client.wait_for("session.updated", timeout=10)
            for _ in range(WARM_UP):  # caches, bounded buffers, lazily built loaders
                _minute(client)
            threads_before = sorted(t.name for t in threading.enumerate())
            before = _client_bytes()
            audio_before = received["audio"]
            for _ in range(MINUTES - WARM_UP):
                _minute(client)
            after = _client_bytes()
            threads_after = sorted(t.name for t in threading.enumerate())
            assert received["audio"] > audio_before  # audio really came back every minute
            assert threads_after == threads_before
            # Flat: a leak of one chunk per minute in either direction would be well over this.
            growth = after - before
            assert growth < 512 * 1024, f"client memory grew by {growth} bytes over {MINUTES - WARM_UP} minutes"
    finally:
        tracemalloc.stop()
        server.stop()
