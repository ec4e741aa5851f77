"""Fixtures shared by the local server tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rtsync.server import LocalServer


def _server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtsync-server")]


@pytest.fixture
def make_server() -> Iterator[Any]:
    """Factory for started servers; stops them all and checks no server thread survives."""
    servers: list[LocalServer] = []

    def make(**options: Any) -> LocalServer:
        server = LocalServer(**options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
    assert _server_threads() == []
