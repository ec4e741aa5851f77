"""A recording WebSocket relay: a client connects to it, it connects on to a server, and every
text frame that passes, both directions, is kept in order.

Used to judge what our client sends (and what it is sent) with the SDK's types, on a real
connection, without touching either end.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

#: Handshake headers passed on to the server.
_FORWARDED = ("authorization", "openai-beta")


class RecordingRelay:
    """Relays every connection to ``upstream`` (``ws://host:port``); ``frames`` holds
    ``(direction, dict)`` with direction ``"out"`` (client to server) or ``"in"``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RecordingRelay:
        self._server = serve(self._handle, "127.0.0.1", 0, max_size=None)
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        self._thread = threading.Thread(target=self._server.serve_forever, name="judge-relay", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5)

    def _record(self, direction: str, message: str | bytes) -> None:
        if isinstance(message, str):
            with self._lock:
                self.frames.append((direction, json.loads(message)))

    def _handle(self, client: ServerConnection) -> None:
        request = client.request
        assert request is not None
        headers = {k: v for k, v in request.headers.raw_items() if k.lower() in _FORWARDED}
        try:
            server = connect(self.upstream + request.path, additional_headers=headers, max_size=None,
                             open_timeout=5, close_timeout=2)
        except Exception:
            client.close(1011, "upstream unreachable")
            return
        with server:
            def pump_in() -> None:
                try:
                    while True:
                        message = server.recv()
                        self._record("in", message)
                        client.send(message)
                except ConnectionClosed:
                    # websockets 13-14 keep the close code on the protocol object only
                    code = getattr(server, "close_code", None) or server.protocol.close_code
                    reason = getattr(server, "close_reason", None) or server.protocol.close_reason
                    client.close(code or 1000, reason or "")

            reader = threading.Thread(target=pump_in, name="judge-relay-in", daemon=True)
            reader.start()
            try:
                while True:
                    message = client.recv()
                    self._record("out", message)
                    server.send(message)
            except ConnectionClosed:
                server.close()
            reader.join(5)
