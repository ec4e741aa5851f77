"""Everything the transport takes from websocket-client, in one place.

websocket-client (pinned ``>=1.6,<2`` in setup.cfg) does the handshake and the user's sends.
The reader reads the socket itself and writes control frames beside websocket-client's sends,
so it relies on these internals of :class:`websocket.WebSocket`, each used only here:

- ``ws.sock``: the connected (possibly TLS) socket. The reader ``recv_into``s it directly (one
  reusable buffer, no copies), polls it for keepalive, and shuts it down to release a send that
  TCP backpressure blocks.
- ``ws.lock``: the send lock (``enable_multithread=True``) that ``ws.send`` holds for a whole
  frame. Control frames (pong, ping, close) are written under it, so they never land inside a
  user's frame; the reader only ever *tries* it (never waits), :func:`send_close_frame` waits
  a bounded time.
- ``ws.frame_buffer.recv_buffer``: the bytes websocket-client read past the last frame of the
  handshake phase (up to ``session.created``); the reader parses them first.
- ``ws.connected``: set to ``False`` when our own close frame goes out, as ``ws.send_close``
  does, so later sends fail at once.
- ``ABNF.create_frame(...).format()``: encodes (and masks, as a client must) a control frame
  for writing under the lock.

The rest is websocket-client's public API: ``create_connection``, ``WebSocket.send``,
``recv_data``, ``shutdown``, and its exceptions.
"""

from __future__ import annotations

import select
import socket
import struct

import websocket
from websocket import (
    WebSocket,
    WebSocketBadStatusException,
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
    create_connection,
)

__all__ = [
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "WebSocket",
    "WebSocketBadStatusException",
    "WebSocketConnectionClosedException",
    "WebSocketException",
    "WebSocketTimeoutException",
    "abort",
    "control_frame",
    "create_connection",
    "raw_socket",
    "send_close_frame",
    "send_under_lock",
    "take_buffered",
    "try_send",
]

OP_TEXT: int = websocket.ABNF.OPCODE_TEXT
OP_CLOSE: int = websocket.ABNF.OPCODE_CLOSE
OP_PING: int = websocket.ABNF.OPCODE_PING
OP_PONG: int = websocket.ABNF.OPCODE_PONG


def raw_socket(ws: WebSocket) -> socket.socket | None:
    """The connection's socket (``None`` once websocket-client has closed it)."""
    return ws.sock


def take_buffered(ws: WebSocket) -> bytes:
    """The bytes websocket-client has read but not parsed; its buffer is left empty."""
    early = b"".join(ws.frame_buffer.recv_buffer)
    ws.frame_buffer.recv_buffer = []
    return early


def control_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (a ping, pong or close) ready to write on the socket."""
    return bytes(websocket.ABNF.create_frame(payload, opcode).format())


def try_send(ws: WebSocket, data: bytes) -> bool:
    """Write a small frame now, or return ``False`` at once: never waits.

    ``False`` when another thread holds the send lock (a send in progress, maybe blocked by
    TCP backpressure), when the socket has no room for more bytes, or when it is gone.
    """
    lock = ws.lock
    if not lock.acquire(blocking=False):
        return False
    try:
        sock = ws.sock
        if sock is None or not _writable(sock):
            return False
        sock.sendall(data)  # a control frame (at most 131 bytes) into a socket that has room
    finally:
        lock.release()
    return True


def send_close_frame(ws: WebSocket, code: int, reason: bytes, timeout: float) -> bool:
    """Send our close frame, waiting at most ``timeout`` for the send lock and the socket.

    Gives up (without sending) when another send keeps the lock that long, e.g. blocked by a
    peer that does not read; the caller then shuts the socket down, which releases that send.
    """
    lock = ws.lock
    if not lock.acquire(timeout=timeout):
        return False
    try:
        ws.connected = False
        sock = ws.sock
        if sock is None:
            return False
        frame = control_frame(OP_CLOSE, struct.pack("!H", code) + reason)
        old = sock.gettimeout()
        sock.settimeout(timeout)
        try:
            sock.sendall(frame)
        finally:
            sock.settimeout(old)
    finally:
        lock.release()
    return True


def send_under_lock(ws: WebSocket, data: bytes) -> None:
    """Write ``data`` holding the send lock, waiting for it like any send (user threads only)."""
    with ws.lock:
        sock = ws.sock
        if sock is None:
            raise WebSocketConnectionClosedException("socket is already closed")
        sock.sendall(data)


def abort(ws: WebSocket) -> None:
    """Shut the socket down (this wakes a thread blocked in a send or recv on it), then close it."""
    sock = ws.sock
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        ws.shutdown()
    except Exception:  # pragma: no cover - best effort
        pass


def _writable(sock: socket.socket) -> bool:
    """Whether the socket has room for a few more bytes right now."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT)
        return bool(poller.poll(0))
    return bool(select.select([], [sock], [], 0)[1])  # pragma: no cover - Windows
