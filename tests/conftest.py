"""Shared fixtures: a real local server on loopback, a connected client, a scripted peer, and
an autouse check that no rtsync thread outlives a test.

Markers (registered in ``pyproject.toml``) are applied here from where a test lives and which
fixtures it uses, so a new test in a known module or with a known fixture is marked without
editing it: :data:`MODULE_MARKERS` maps a test module (or a package of them) to its markers,
:data:`FIXTURE_MARKERS` maps a fixture to the markers of every test that uses it. A single slow
test inside an otherwise fast module carries ``@pytest.mark.slow`` itself. ``make test-fast``
deselects ``slow``, ``soak``, ``wheel``, ``tk`` and ``audio``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import shared_path
from tests.peer import ScriptedPeer

#: Markers of every test in a module, keyed by dotted module name; a key also covers the
#: modules below it (``"tests.audio"`` would cover ``tests.audio.test_x``).
MODULE_MARKERS: dict[str, tuple[str, ...]] = {
    "tests.test_wheel": ("wheel", "slow", "subprocess"),
    "tests.test_soak": ("soak", "slow"),
    "tests.test_tk": ("tk",),
    "tests.test_fuzz": ("slow",),  # property tests; `make fuzz` runs them at length
    "tests.test_thread_safety": ("slow",),  # stress tests; `make stress` runs them at length
    "tests.test_package": ("subprocess",),
    "tests.test_examples_text": ("subprocess",),
    "tests.test_readme": ("subprocess",),
    "tests.audio.test_voice_status": ("audio", "subprocess"),
}

#: Markers of every test that uses a fixture (directly or through another fixture).
FIXTURE_MARKERS: dict[str, tuple[str, ...]] = {
    "virtual_audio": ("audio",),  # real-time PortAudio streams on the virtual sound device
    "display": ("tk",),  # a private Xvfb display for Tk
}


def _module_markers(module: str) -> set[str]:
    parts = module.split(".")
    found: set[str] = set()
    for i in range(1, len(parts) + 1):
        found.update(MODULE_MARKERS.get(".".join(parts[:i]), ()))
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the markers of :data:`MODULE_MARKERS` and :data:`FIXTURE_MARKERS` to each test."""
    for item in items:
        module = getattr(item, "module", None)
        names = _module_markers(module.__name__) if module is not None else set()
        for fixture in getattr(item, "fixturenames", ()):
            names.update(FIXTURE_MARKERS.get(fixture, ()))
        for name in sorted(names - {m.name for m in item.iter_markers()}):
            item.add_marker(name)


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


#: A current model without reasoning. The client's default (``gpt-realtime-2.1``) is a reasoning
#: model, which the local server answers with a preamble message before the answer; the tests
#: written for its one-message replies (``You said: T``) get this model as the default of the
#: clients they make in-process. A module that sets ``USES_DEFAULT_MODEL = True`` (the reasoning
#: tests) keeps the real default. Subprocesses (examples, CLI, README snippets) always do.
SINGLE_MESSAGE_MODEL = "gpt-realtime-1.5"


@pytest.fixture(autouse=True)
def single_message_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make :data:`SINGLE_MESSAGE_MODEL` the default ``model`` of ``RealtimeClient`` (see there)."""
    if getattr(request.module, "USES_DEFAULT_MODEL", False):
        return
    from rtsync.client import RealtimeClient

    defaults = RealtimeClient.__init__.__defaults__ or ()
    if defaults:
        monkeypatch.setattr(RealtimeClient.__init__, "__defaults__", (SINGLE_MESSAGE_MODEL, *defaults[1:]))


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
    return shared_path()
