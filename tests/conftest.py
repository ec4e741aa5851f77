"""Shared fixtures: a real local server on loopback, a connected client, a scripted peer, and
an autouse check that no rtsync thread outlives a test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peer import ScriptedPeer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _rtsync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("rtsync")]


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """Fail a test that leaves an ``rtsync-*`` thread alive (after a short grace period)."""
    before = set(_rtsync_threads())
    yield
    deadline = time.monotonic() + 3.0
    leaked = [t for t in _rtsync_threads() if t not in before]
    while leaked and time.monotonic() < deadline:
        time.sleep(0.02)
        leaked = [t for t in _rtsync_threads() if t not in before and t.is_alive()]
    assert not leaked, f"threads left alive: {[t.name for t in leaked]}"


@pytest.fixture
def local_server() -> Iterator[object]:
    """A LocalServer on a free loopback port, stopped (and its threads joined) afterwards."""
    from rtsync.server import LocalServer

    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slow_server() -> Iterator[object]:
    """A LocalServer that streams text deltas 50 ms apart, so a response can be cancelled."""
    from rtsync.server import LocalServer

    server = LocalServer(text_delay=0.05).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["ga", "beta"])
def each_dialect(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once per wire dialect: the clients it makes default to that dialect (the local
    server answers each connection in the dialect it asks for)."""
    from rtsync.client import RealtimeClient

    defaults = dict(RealtimeClient.__init__.__kwdefaults__ or {})
    defaults["dialect"] = request.param
    monkeypatch.setattr(RealtimeClient.__init__, "__kwdefaults__", defaults)
    return str(request.param)


@pytest.fixture
def client(local_server: object) -> Iterator[object]:
    """A RealtimeClient connected to ``local_server``; closed afterwards."""
    from rtsync import RealtimeClient

    c = RealtimeClient(url=local_server.url, api_key="")  # type: ignore[attr-defined]
    c.connect()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def peer() -> Iterator[ScriptedPeer]:
    """A scripted WebSocket peer for byte-level cases the real server never produces."""
    p = ScriptedPeer().start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present beside the checkout")
    return SHARED
