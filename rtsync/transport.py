"""The WebSocket connection: URL and headers, handshake errors, the reader thread, close.

Knows frames, not callbacks. websocket-client does the handshake (and reads the frames up to
``session.created``); after that the reader thread (``rtsync-reader``) reads the socket itself,
in large chunks into one reusable buffer, and parses the server's frames in place (server
frames are unmasked, so a text payload goes to the JSON parser without a copy). Text frames
become events; pings are answered, through websocket-client so its send lock is held; a close
is answered and ends the connection. The events go on a queue in batches: every complete frame
already in the buffer is parsed (up to :data:`MAX_BATCH` per batch), and the batch is handed
over before the reader blocks for more bytes. A lone event goes at once, so batching adds no
latency; it only saves thread wake-ups.

The reader never runs user code and never dies on bad input: a frame that does not parse (or a
binary frame) becomes an ``rtsync.protocol_error`` event and reading goes on. A frame that
breaks the WebSocket protocol (masked, RSV bits set, bad fragmentation, unknown opcode) is
reported the same way and closes the connection (code 1002), as does a message over the size
limit (code 1009). When the connection ends, for whatever reason, the last thing the reader
queues is exactly one ``rtsync.close`` event.

Keepalive (``ping_interval``, ``ping_timeout``): with a ``ping_interval``, the reader waits for
the socket with a deadline instead of blocking in ``recv`` (no extra thread); every
``ping_interval`` seconds it sends a ping, and when no byte at all (a pong or any frame) has
arrived ``ping_timeout`` seconds after a ping, the peer is taken for dead: the socket is shut down
without a close handshake and the ``rtsync.close`` event has code 1006 and a reason that starts
with ``keepalive timed out``. A ping is never queued behind a send that is blocked (TCP
backpressure): it waits until the send lock is free, and its timeout counts from when it went out.

``close()`` never waits behind a blocked send for long either: when the send lock stays busy it
shuts the socket down without a close frame, which releases the blocked sender with a
``ClosedError``.
"""

from __future__ import annotations

import json
import math
import queue
import select
import socket
import ssl
import struct
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websocket

from rtsync._log import logger, redact, short_dump
from rtsync.errors import (
    AuthenticationError,
    BetaShapeDisabledError,
    ClosedError,
    ConnectError,
    ModelNotFoundError,
    NetworkError,
    ProtocolError,
    TLSError,
)
from rtsync.events._base import Event
from rtsync.events.codec import parse_event
from rtsync.events.local import CloseEvent, ProtocolErrorEvent

__all__ = ["MAX_BATCH", "MAX_MESSAGE_SIZE", "Transport", "build_url"]

#: Most events the reader hands over in one batch.
MAX_BATCH = 256

#: Default limit on one message from the server (a frame, or the fragments of one message);
#: above it the connection is closed with code 1009.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024

_OP_TEXT = websocket.ABNF.OPCODE_TEXT
_OP_BINARY = websocket.ABNF.OPCODE_BINARY
_OP_CLOSE = websocket.ABNF.OPCODE_CLOSE
_OP_CONT = websocket.ABNF.OPCODE_CONT
_OP_PING = websocket.ABNF.OPCODE_PING
_OP_PONG = websocket.ABNF.OPCODE_PONG

#: The reader's receive buffer; it grows for a larger frame, and shrinks back afterwards.
_RECV_SIZE = 256 * 1024
#: Free space below which the reader moves a partial frame to the front of its buffer.
_MIN_FREE = 64 * 1024


def build_url(url: str, model: str | None, extra_query: dict[str, str] | None = None) -> str:
    """Merge ``model`` (and ``extra_query``) into ``url``'s query, keeping the other parameters.

    ``model`` replaces a ``model`` parameter already in the URL; ``None`` leaves the URL's own.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"url must start with ws:// or wss://, got {redact(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    updates = dict(extra_query or {})
    if model is not None:
        updates["model"] = model
    query = [(k, v) for k, v in query if k not in updates] + list(updates.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _error_from_first_frame(data: Any) -> Exception | None:
    """Map an ``error`` event that arrives instead of ``session.created`` to an exception."""
    if not isinstance(data, dict) or data.get("type") != "error":
        return None
    raw_err = data.get("error")
    err: dict[str, Any] = raw_err if isinstance(raw_err, dict) else {}
    code = str(err.get("code") or "")
    message = redact(err.get("message") or "the server refused the session")
    if code in ("invalid_api_key", "invalid_authentication", "authentication_error") or "api key" in message.lower():
        return AuthenticationError(f"the server refused the API key: {message}")
    if code in ("model_not_found", "invalid_model") or "model" in code:
        return ModelNotFoundError(f"unknown model: {message}")
    if code == "beta_api_shape_disabled":
        return BetaShapeDisabledError(
            f"the server no longer speaks the beta protocol ({message}); "
            "use RealtimeClient(..., dialect='ga') (or the default dialect='auto')"
        )
    return ConnectError(f"the server refused the session: {message} [{code or 'no code'}]")


class Transport:
    """One WebSocket connection and its reader thread.

    Args:
        url: the full endpoint URL (query included).
        headers: handshake headers (``Authorization`` is never logged).
        out: the queue the reader puts batches of events on.
        connect_timeout: seconds for TCP + TLS + HTTP upgrade + the first event.
        sslopt: options for websocket-client's TLS layer (verification on by default).
        max_message_size: the largest message accepted from the server, in bytes; a larger one
            closes the connection with code 1009.
        ping_interval: seconds between keepalive pings while open; ``None`` turns keepalive off.
        ping_timeout: seconds after a ping within which something (a pong or any frame) must
            arrive; else the connection is aborted and closes with code 1006.
    """

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        out: queue.SimpleQueue[list[Event]],
        *,
        connect_timeout: float = 15.0,
        sslopt: dict[str, Any] | None = None,
        on_frame: Callable[[str, Any], None] | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 10.0,
        dialect: str = "beta",
    ) -> None:
        if max_message_size < 1024:
            raise ValueError(f"max_message_size must be at least 1024 bytes, got {max_message_size}")
        if ping_interval is not None and not ping_interval > 0:
            raise ValueError(f"ping_interval must be None or > 0, got {ping_interval!r}")
        if not ping_timeout > 0:
            raise ValueError(f"ping_timeout must be > 0, got {ping_timeout!r}")
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        #: the wire dialect frames are parsed in ("beta" or "ga"); may change until start_reader()
        self.dialect = dialect
        self.url = url
        self._headers = headers
        self._out = out
        self._connect_timeout = connect_timeout
        self._sslopt = sslopt or {}
        self._ws: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        self._close_once = threading.Lock()
        self._closed_sent = False
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._on_frame = on_frame
        self._max_message_size = max_message_size

    # -- connect ---------------------------------------------------------------------------
    def connect(self) -> Event:
        """Open the connection and read up to the first ``session.created``.

        Returns:
            The ``session.created`` event. Any event that came before it is queued first.

        Raises:
            AuthenticationError, ModelNotFoundError, NetworkError, TLSError, ConnectError.
        """
        header = [f"{k}: {v}" for k, v in self._headers.items()]
        try:
            ws = websocket.create_connection(
                self.url,
                header=header,
                timeout=self._connect_timeout,
                skip_utf8_validation=True,
                enable_multithread=True,
                sslopt=self._sslopt,
                suppress_origin=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise self._status_error(exc) from None
        except ssl.SSLError as exc:
            raise TLSError(f"TLS handshake with {self._host()} failed: {redact(exc)}") from None
        except (ConnectionRefusedError, socket.gaierror, TimeoutError, websocket.WebSocketTimeoutException) as exc:
            raise NetworkError(f"cannot reach {self._host()}: {redact(exc)}") from None
        except OSError as exc:
            raise NetworkError(f"cannot reach {self._host()}: {redact(exc)}") from None
        except websocket.WebSocketException as exc:
            raise ConnectError(f"WebSocket handshake with {self._host()} failed: {redact(exc)}") from None
        self._ws = ws
        early: list[Event] = []
        try:
            while True:
                opcode, data = ws.recv_data()
                if opcode == _OP_CLOSE:
                    code, reason = _close_payload(data)
                    raise ConnectError(f"the server closed the connection before the session started "
                                       f"(code {code}: {redact(reason)})")
                if opcode != _OP_TEXT:
                    continue
                try:
                    obj = json.loads(data)
                except ValueError:
                    continue
                failure = _error_from_first_frame(obj)
                if failure is not None:
                    raise failure
                ev = parse_event(obj, self.dialect)
                if self._on_frame is not None:
                    self._on_frame("recv", obj)
                early.append(ev)
                if ev.type == "session.created":
                    break
        except (websocket.WebSocketTimeoutException, TimeoutError):
            self._abort()
            raise NetworkError(f"no session.created from {self._host()} within {self._connect_timeout:g} s") from None
        except (websocket.WebSocketConnectionClosedException, OSError) as exc:
            self._abort()
            raise NetworkError(f"connection to {self._host()} lost during start-up: {redact(exc)}") from None
        except Exception:
            self._abort()
            raise
        ws.settimeout(None)
        self._out.put(early)
        return early[-1]

    def _host(self) -> str:
        return urlsplit(self.url).netloc

    def _status_error(self, exc: websocket.WebSocketBadStatusException) -> ConnectError:
        status = exc.status_code
        raw = exc.resp_body
        body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
        detail = ""
        try:
            detail = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = body[:200]
        detail = redact(detail)
        where = self._host()
        if status in (401, 403):
            return AuthenticationError(f"{where} refused the API key (HTTP {status}): {detail}".rstrip(": "))
        if status == 404:
            return ModelNotFoundError(f"{where} answered HTTP 404 (unknown model or path): {detail}".rstrip(": "))
        return ConnectError(f"{where} refused the WebSocket upgrade (HTTP {status}): {detail}".rstrip(": "))

    # -- reader ----------------------------------------------------------------------------
    def start_reader(self, name: str = "rtsync-reader") -> None:
        """Start the reader thread (after :meth:`connect`)."""
        self._reader = threading.Thread(target=self._read_loop, name=name, daemon=True)
        self._reader.start()

    @property
    def reader(self) -> threading.Thread | None:
        """The reader thread, once started."""
        return self._reader

    def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        sock = ws.sock
        assert sock is not None
        out_put = self._out.put
        dialect = self.dialect
        on_frame = self._on_frame
        max_size = self._max_message_size
        # Bytes websocket-client had read past the last frame of connect() come first.
        early = b"".join(ws.frame_buffer.recv_buffer)
        ws.frame_buffer.recv_buffer = []
        buf = bytearray(max(_RECV_SIZE, len(early) + _MIN_FREE))
        view = memoryview(buf)
        end = len(early)
        view[:end] = early
        start = 0  # buf[start:end]: received, not yet parsed
        frag_op = 0  # opcode of the fragmented message in progress (0: none)
        fragments: list[bytes] = []
        frag_size = 0
        batch: list[Event] = []
        close_ev: CloseEvent | None = None
        wait_readable = _readable_waiter(sock) if self._ping_interval is not None else None
        ping_interval = self._ping_interval or 0.0
        ping_timeout = self._ping_timeout
        next_ping = time.monotonic() + ping_interval
        ping_deadline: float | None = None  # set while a ping is unanswered
        try:
            while True:
                # Every complete frame in buf[start:end]; ``need``: the size of the next one,
                # as far as its header tells.
                while True:
                    avail = end - start
                    if avail < 2:
                        need = 2
                        break
                    b0 = buf[start]
                    b1 = buf[start + 1]
                    if b1 & 0x80:
                        raise _Fail(1002, "the server sent a masked frame")
                    if b0 & 0x70:
                        raise _Fail(1002, "the server sent a frame with RSV bits set (no extension was negotiated)")
                    n = b1
                    h = start + 2
                    if n >= 126:
                        if n == 126:
                            if avail < 4:
                                need = 4
                                break
                            n = (buf[start + 2] << 8) | buf[start + 3]
                            h += 2
                        else:
                            if avail < 10:
                                need = 10
                                break
                            n = int.from_bytes(view[start + 2:start + 10], "big")
                            h += 8
                        if n > max_size:
                            raise _Fail(1009, f"a frame of {n} bytes is over the limit of {max_size}")
                    if end - h < n:
                        need = h - start + n
                        break
                    start = h + n
                    if b0 == 0x81 and not frag_op:  # a whole text frame: the common case
                        payload = view[h:start]
                        try:
                            batch.append(parse_event(payload, dialect))
                            if on_frame is not None:
                                on_frame("recv", payload.tobytes())
                        except Exception as exc:
                            batch.append(_invalid_text(exc, payload))
                        if len(batch) >= MAX_BATCH:
                            out_put(batch)
                            batch = []
                        continue
                    op = b0 & 0x0F
                    if op >= 8:  # control frame (may come between the fragments of a message)
                        if not b0 & 0x80 or n > 125:
                            raise _Fail(1002, "the server sent a fragmented or oversized control frame")
                        if op == _OP_PING:
                            ws.pong(view[h:start].tobytes())
                        elif op == _OP_CLOSE:
                            code, reason = _close_payload(view[h:start].tobytes())
                            closing = self._closing.is_set()
                            close_ev = CloseEvent(code=code, reason=reason, initiated_by_client=closing)
                            if not closing:  # answer the server's close (ours was already sent)
                                try:
                                    ws.send_close(code if _sendable(code) else 1000)
                                except Exception:
                                    pass
                            raise _Closed
                        elif op != _OP_PONG:
                            raise _Fail(1002, f"the server sent a frame with unknown opcode {op:#x}")
                        continue
                    if op == _OP_CONT:
                        if not frag_op:
                            raise _Fail(1002, "the server sent a continuation frame outside a message")
                    elif op == _OP_TEXT or op == _OP_BINARY:
                        if frag_op:
                            raise _Fail(1002, "the server started a message inside a fragmented one")
                    else:
                        raise _Fail(1002, f"the server sent a frame with unknown opcode {op:#x}")
                    if frag_op or not b0 & 0x80:  # part of a fragmented message
                        frag_size += n
                        if frag_size > max_size:
                            raise _Fail(1009, f"a message of over {max_size} bytes is over the limit")
                        fragments.append(view[h:start].tobytes())
                        if op:
                            frag_op = op
                        if not b0 & 0x80:
                            continue
                        data: Any = b"".join(fragments)
                        op = frag_op
                        fragments = []
                        frag_op = frag_size = 0
                    else:
                        data = view[h:start]
                    if op == _OP_TEXT:
                        try:
                            batch.append(parse_event(data, dialect))
                            if on_frame is not None:
                                on_frame("recv", bytes(data))
                        except Exception as exc:
                            batch.append(_invalid_text(exc, data))
                    else:
                        perr = ProtocolError(f"unexpected binary frame of {len(data)} bytes", bytes(data))
                        logger.warning("rtsync: skipped a binary frame of %d bytes", len(data))
                        batch.append(ProtocolErrorEvent(error=perr, data=perr.data))
                    if len(batch) >= MAX_BATCH:
                        out_put(batch)
                        batch = []
                # No complete frame left: hand over what was parsed (a lone event goes at once),
                # then make room for the rest of the next frame and block for more bytes.
                if batch:
                    out_put(batch)
                    batch = []
                size = len(buf)
                k = end - start  # the start of the next frame (k < need)
                if need + _MIN_FREE > size:
                    new: bytearray | None = bytearray(need + _RECV_SIZE)  # grow for a large frame
                elif size > _RECV_SIZE and need + _MIN_FREE <= _RECV_SIZE:
                    new = bytearray(_RECV_SIZE)  # the large frames are done: back to the usual size
                else:
                    new = None
                if new is not None:
                    new[:k] = view[start:end]
                    buf = new
                    view = memoryview(buf)
                    start, end = 0, k
                elif start == end:
                    start = end = 0
                elif start + need > size or size - end < _MIN_FREE:
                    view[:k] = view[start:end]  # memoryview assignment handles the overlap
                    start, end = 0, k
                if wait_readable is not None:  # keepalive: wait for bytes with a deadline
                    while True:
                        now = time.monotonic()
                        if ping_deadline is not None:
                            if now >= ping_deadline:
                                raise _Dead(f"keepalive timed out: nothing received within {ping_timeout:g} s "
                                            "of a ping")
                            wait = ping_deadline - now
                        elif now >= next_ping:
                            if _try_ping(ws):
                                ping_deadline = now + ping_timeout
                                next_ping = now + ping_interval
                                continue
                            wait = min(0.05, ping_interval)  # a send holds the lock: try again soon
                        else:
                            wait = next_ping - now
                        if wait_readable(wait):
                            break
                got = sock.recv_into(view[end:])
                if not got:
                    raise websocket.WebSocketConnectionClosedException("Connection to remote host was lost.")
                end += got
                ping_deadline = None
        except _Closed:
            pass
        except _Dead as dead:
            logger.warning("rtsync: %s; aborting the connection", dead.reason)
            self._abort()
            close_ev = CloseEvent(code=1006, reason=dead.reason, error=NetworkError(dead.reason))
        except _Fail as fail:
            perr = ProtocolError(fail.reason)
            logger.warning("rtsync: closing the connection: %s", fail.reason)
            batch.append(ProtocolErrorEvent(error=perr, data=None))
            try:
                ws.send_close(fail.code, fail.reason.encode()[:123])
            except Exception:
                pass
            close_ev = CloseEvent(code=fail.code, reason=fail.reason, error=perr)
        except Exception as exc:  # connection lost, socket shut down by close(), ...
            if self._closing.is_set():
                close_ev = CloseEvent(code=self.close_code or 1000, reason=self.close_reason or "closed by client",
                                      initiated_by_client=True)
            else:
                logger.warning("rtsync: connection lost: %s", redact(exc))
                close_ev = CloseEvent(code=1006, reason=f"connection lost: {redact(exc)}", error=exc)
        finally:
            if close_ev is None:
                close_ev = CloseEvent(code=1006, reason="reader stopped")
            self.close_code = close_ev.code
            self.close_reason = close_ev.reason
            batch.append(close_ev)
            out_put(batch)
            try:
                ws.shutdown()
            except Exception:  # pragma: no cover - best effort
                pass

    # -- send / close ----------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        """Send one text frame (thread-safe: websocket-client holds its send lock)."""
        ws = self._ws
        if ws is None or not ws.connected or self._closing.is_set():
            raise ClosedError("cannot send: the connection is closed", code=self.close_code, reason=self.close_reason)
        try:
            ws.send(text)
        except (websocket.WebSocketConnectionClosedException, OSError) as exc:
            raise ClosedError(f"cannot send: the connection is closed ({redact(exc)})",
                              code=self.close_code, reason=self.close_reason) from None

    def close(self, code: int = 1000, reason: str = "", timeout: float = 2.0) -> None:
        """Send a close frame, wait briefly for the server's, then shut the socket.

        Idempotent and safe from any thread. Does not join the reader (the caller does).
        """
        with self._close_once:
            if self._closed_sent:
                return
            self._closed_sent = True
        self._closing.set()
        self.close_code = code
        self.close_reason = reason or "closed by client"
        ws = self._ws
        if ws is None:
            return
        sent = False
        try:
            if ws.connected:
                sent = _send_close_frame(ws, code, reason.encode()[:123], min(timeout, 1.0))
        except Exception:
            pass
        if not sent:  # no close handshake to wait for: shut the socket now (frees a blocked send)
            self._abort()
        reader = self._reader
        if reader is not None and reader.is_alive() and reader is not threading.current_thread():
            reader.join(timeout)
        self._abort()

    def _abort(self) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            if ws.sock is not None:
                ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            ws.shutdown()
        except Exception:  # pragma: no cover - best effort
            pass


class _Closed(Exception):
    """The server closed the connection (the reader's CloseEvent is set)."""


class _Dead(Exception):
    """Keepalive: nothing came back after a ping: abort the connection."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _readable_waiter(sock: socket.socket) -> Callable[[float], bool]:
    """A function ``wait(seconds) -> bool``: whether ``sock`` has bytes to read within the time.

    Bytes already decrypted inside a TLS socket count as readable (the OS does not see them).
    """
    pending = sock.pending if isinstance(sock, ssl.SSLSocket) else None
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)

        def wait(seconds: float) -> bool:
            if pending is not None and pending():
                return True
            return bool(poller.poll(max(0, math.ceil(seconds * 1000))))
    else:  # pragma: no cover - Windows
        def wait(seconds: float) -> bool:
            if pending is not None and pending():
                return True
            return bool(select.select([sock], [], [sock], max(0.0, seconds))[0])
    return wait


def _try_ping(ws: websocket.WebSocket) -> bool:
    """Send a ping unless another thread holds the send lock (then return False at once)."""
    lock = ws.lock
    if not lock.acquire(blocking=False):
        return False
    try:
        sock = ws.sock
        if sock is None:
            raise websocket.WebSocketConnectionClosedException("socket is already closed")
        sock.sendall(websocket.ABNF.create_frame(b"rtsync", _OP_PING).format())
    finally:
        lock.release()
    return True


def _send_close_frame(ws: websocket.WebSocket, code: int, reason: bytes, timeout: float) -> bool:
    """Send a close frame, waiting at most ``timeout`` for the send lock and the socket.

    Gives up (without sending) when another send keeps the lock that long, e.g. blocked by a
    peer that does not read; the caller then shuts the socket down, which releases that send.
    """
    lock = ws.lock
    if not lock.acquire(timeout=timeout):
        logger.warning("rtsync: a send is blocked; closing without a close frame")
        return False
    try:
        ws.connected = False
        sock = ws.sock
        if sock is None:
            return False
        frame = websocket.ABNF.create_frame(struct.pack("!H", code) + reason, _OP_CLOSE).format()
        old = sock.gettimeout()
        sock.settimeout(timeout)
        try:
            sock.sendall(frame)
        finally:
            sock.settimeout(old)
    finally:
        lock.release()
    return True


class _Fail(Exception):
    """The server broke the WebSocket protocol: close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _invalid_text(exc: Exception, data: Any) -> ProtocolErrorEvent:
    """The event for a text frame that is not a valid event (``data`` may be a view: copied).

    Anything the parser raises other than a :class:`ProtocolError` is wrapped in one.
    """
    raw = bytes(data)
    if not isinstance(exc, ProtocolError):
        exc = ProtocolError(f"frame could not be parsed: {type(exc).__name__}: {exc}", raw)
    elif isinstance(exc.data, memoryview):
        exc.data = raw
    text = raw.decode("utf-8", "replace")
    logger.warning("rtsync: skipped an invalid frame: %s (%s)", exc, short_dump(text))
    return ProtocolErrorEvent(error=exc, data=text)


def _sendable(code: int) -> bool:
    """Whether a close code may be sent in a close frame (RFC 6455, 7.4)."""
    return 1000 <= code < 5000 and code not in (1004, 1005, 1006, 1015)


def _close_payload(data: bytes) -> tuple[int, str]:
    if len(data) >= 2:
        code = struct.unpack("!H", data[:2])[0]
        reason = data[2:].decode("utf-8", "replace")
        return code, reason
    return 1005, ""


