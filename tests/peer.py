"""Scripted WebSocket peers for tests.

:class:`ScriptedPeer` (on ``websockets.sync``) sends ``session.created``, then whatever the test
queues (text, bytes, close), and records what the client sends. :class:`RawPeer` is written on a
bare socket: it writes exactly the bytes a test gives it (:func:`frame` builds them: split,
fragmented, masked, ...), can stop reading (TCP backpressure), and records the client's frames."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import queue
import socket
import ssl
import struct
import threading
import time
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


# -- a raw-socket peer ------------------------------------------------------------------------------

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RAW_SESSION_CREATED = {
    "type": "session.created",
    "event_id": "event_raw_0",
    "session": {"id": "sess_raw", "object": "realtime.session", "model": "raw-model"},
}

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def frame(payload: bytes | str, op: int = TEXT, fin: bool = True, mask: bytes | None = None, rsv: int = 0) -> bytes:
    """One WebSocket frame, as a server would write it (unmasked unless ``mask`` is given)."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | rsv << 4 | op])
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def delta(i: int | str, text: str | None = None) -> bytes:
    """A ``response.text.delta`` text frame."""
    ev = {"type": "response.text.delta", "event_id": f"e{i}", "delta": str(i) if text is None else text}
    return frame(json.dumps(ev))


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(struct.pack("!H", code) + reason.encode(), CLOSE)


def _unmask(data: bytes, mask: bytes) -> bytes:
    key = int.from_bytes((mask * (len(data) // 4 + 1))[:len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


class RawPeer:
    """A one-connection WebSocket server written on a bare socket (optionally TLS).

    It does the HTTP upgrade itself, sends ``session.created`` (or ``first``), then writes exactly the
    bytes a test gives it (:meth:`send`); it records the frames the client sends in ``received``.
    """

    def __init__(self, tls: ssl.SSLContext | None = None, first: bytes | None = None,
                 rcvbuf: int | None = None) -> None:
        self._tls = tls
        self._first = frame(json.dumps(RAW_SESSION_CREATED)) if first is None else first
        self._listener = socket.create_server(("127.0.0.1", 0))
        if rcvbuf is not None:  # a fixed, small receive window: a peer that stops reading blocks sends soon
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._reading = threading.Event()
        self._reading.set()
        self.port = self._listener.getsockname()[1]
        self.url = f"{'wss' if tls else 'ws'}://127.0.0.1:{self.port}/v1/realtime"
        self.conn: Any = None
        self.ready = threading.Event()
        self.received: list[tuple[int, bytes]] = []
        self.got = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed_sent = False
        self._thread = threading.Thread(target=self._serve, name="raw-peer", daemon=True)
        self._thread.start()

    # -- server side -------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            conn = self._tls.wrap_socket(conn, server_side=True)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        key = ""
        for line in request.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            + self._first
        )
        self.conn = conn
        self.ready.set()
        self._read_client(conn)

    def _recv_exact(self, conn: Any, n: int) -> bytes:
        data = b""
        while len(data) < n:
            self._reading.wait()
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _read_client(self, conn: Any) -> None:
        try:
            while True:
                b0, b1 = self._recv_exact(conn, 2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._recv_exact(conn, 2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._recv_exact(conn, 8))[0]
                mask = self._recv_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
                payload = _unmask(self._recv_exact(conn, n), mask)
                op = b0 & 0x0F
                with self.got:
                    self.received.append((op, payload))
                    self.got.notify_all()
                if op == CLOSE:
                    with self._send_lock:
                        if not self._closed_sent:  # answer the client's close
                            self._closed_sent = True
                            conn.sendall(frame(payload[:2], CLOSE))
                    conn.close()
                    return
        except (EOFError, OSError, ValueError):
            pass

    # -- test side ---------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        assert self.ready.wait(5)
        with self._send_lock:
            if data[:1] and data[0] & 0x0F == CLOSE:
                self._closed_sent = True
            self.conn.sendall(data)

    def send_slowly(self, data: bytes, pause: float = 0.001) -> None:
        """Write ``data`` one byte per TCP segment, so every split point reaches the reader."""
        for i in range(len(data)):
            self.send(data[i:i + 1])
            time.sleep(pause)

    def wait_received(self, op: int, timeout: float = 5.0) -> list[bytes]:
        with self.got:
            self.got.wait_for(lambda: any(o == op for o, _ in self.received), timeout)
            return [p for o, p in self.received if o == op]

    def pause_reading(self) -> None:
        """Stop reading the client's bytes (even mid-frame): TCP backpressure builds up."""
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def stop(self) -> None:
        self._reading.set()
        self._listener.close()
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)  # wakes the thread reading it
            except OSError:
                pass
            try:
                self.conn.close()
            except OSError:
                pass
        self._thread.join(5)
