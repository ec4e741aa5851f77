"""A scripted WebSocket peer for tests: it sends ``session.created``, then whatever the test
queues (text, bytes, close), and records what the client sends. Runs on ``websockets.sync``."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from typing import Any

from websockets.sync.server import ServerConnection, serve

SESSION_CREATED = {
    "type": "session.created",
    "event_id": "event_peer_0",
    "session": {"id": "sess_peer", "object": "realtime.session", "model": "peer-model"},
}


class ScriptedPeer:
    """A one-connection-at-a-time scripted server.

    ``send(x)``: queue a frame (dict -> JSON text, str -> text, bytes -> binary);
    ``close(code, reason)``: queue a close; ``received``: the client frames, decoded;
    ``headers``: the handshake headers of the last connection.
    """

    def __init__(self, first: Any = SESSION_CREATED) -> None:
        self.first = first
        self._out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.received: list[Any] = []
        self.headers: Any = {}
        self.path = ""
        self.got = threading.Condition()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> ScriptedPeer:
        self._server = serve(self._handler, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/v1/realtime"
        self._thread = threading.Thread(target=self._server.serve_forever, name="peer-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._out.put(("stop", None))
        self._server.shutdown()
        if self._thread:
            self._thread.join(5)

    def send(self, frame: Any) -> None:
        self._out.put(("frame", frame))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._out.put(("close", (code, reason)))

    def drop(self) -> None:
        """Drop the TCP connection without a close frame."""
        self._out.put(("drop", None))

    def wait_received(self, n: int, timeout: float = 5.0) -> list[Any]:
        with self.got:
            self.got.wait_for(lambda: len(self.received) >= n, timeout)
            return list(self.received)

    def _recv_loop(self, ws: ServerConnection) -> None:
        try:
            for msg in ws:
                with self.got:
                    self.received.append(json.loads(msg) if isinstance(msg, str) else msg)
                    self.got.notify_all()
        except Exception:
            pass

    def _handler(self, ws: ServerConnection) -> None:
        self.headers = ws.request.headers if ws.request else {}
        self.path = ws.request.path if ws.request else ""
        threading.Thread(target=self._recv_loop, args=(ws,), name="peer-recv", daemon=True).start()
        if self.first is not None:
            ws.send(json.dumps(self.first))
        while True:
            kind, arg = self._out.get()
            if kind == "stop":
                ws.close()
                return
            if kind == "close":
                ws.close(arg[0], arg[1])
                return
            if kind == "drop":
                # shutdown() first: a bare close() does not send the FIN while the library's
                # reader thread is blocked in recv() on the socket (websockets 13 to 16).
                with contextlib.suppress(OSError):
                    ws.socket.shutdown(socket.SHUT_RDWR)
                ws.socket.close()
                return
            if isinstance(arg, dict):
                ws.send(json.dumps(arg))
            else:
                ws.send(arg)
