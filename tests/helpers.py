"""Small helpers shared by the client tests."""

from __future__ import annotations

import time
from typing import Any


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
