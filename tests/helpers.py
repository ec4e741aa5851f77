"""Small helpers shared by the tests, and the one place that knows where ``../shared`` is."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

#: The checkout (the directory holding ``rtsync/`` and ``tests/``).
ROOT = Path(__file__).resolve().parents[1]

#: ``../shared`` beside the checkout: the protocol fixtures, recorded sessions and notes. It is
#: never copied into the project, so it may be absent; use :data:`SHARED` at collection time
#: (globbing an absent directory finds nothing) and :func:`shared_path` inside a test.
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """``SHARED / parts``, or skip the calling test (with the reason) when it does not exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not present (../shared beside the checkout holds it)")
    return path


def eventually(check: Any, timeout: float = 10) -> None:
    """Poll ``check()`` until it is true (events arrive on the dispatcher thread)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def record(client: Any, *kinds: str) -> list[Any]:
    """Register a callback for each event type in ``kinds``; return the list they append to."""
    seen: list[Any] = []
    for kind in kinds:
        client.on(kind, seen.append)
    return seen


class JsonPeer:
    """A raw WebSocket peer of the local server tests: JSON events out and in.

    ``ws`` is any connection with ``send(text)``; subclasses define :meth:`recv` (which library,
    which timeout, what to check on every frame).
    """

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def send(self, event: dict[str, Any]) -> None:
        self.ws.send(json.dumps(event))

    def recv(self) -> dict[str, Any]:
        raise NotImplementedError

    def expect(self, kind: str) -> dict[str, Any]:
        event = self.recv()
        assert event["type"] == kind, event
        return event

    def until(self, kind: str) -> list[dict[str, Any]]:
        """Receive events up to and including the first of type ``kind``."""
        events = []
        while True:
            event = self.recv()
            events.append(event)
            if event["type"] == kind:
                return events
