"""One WebSocket connection: the handshake, the reader thread, sends and close.

The reader only waits, feeds and hands over: it ``recv_into``s the :class:`FrameParser`'s
buffer, turns the frames it returns into events (text payloads go to the JSON parser in place)
and answers control frames without ever waiting for the send lock (see the package docstring).
"""

from __future__ import annotations

import json
import math
import queue
import select
import socket
import ssl
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from rtsync._log import logger, redact, short_dump
from rtsync.errors import ClosedError, ConnectError, NetworkError, ProtocolError, TLSError
from rtsync.events._base import Event
from rtsync.events.codec import parse_event
from rtsync.events.local import CloseEvent, ProtocolErrorEvent
from rtsync.transport import _wsclient as wsc
from rtsync.transport.frames import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    VIOLATION,
    FrameParser,
    close_payload,
    sendable,
)
from rtsync.transport.handshake import error_from_first_frame, error_from_status

__all__ = ["MAX_BATCH", "MAX_MESSAGE_SIZE", "Transport"]

#: Most events the reader hands over in one batch.
MAX_BATCH = 256

#: Default limit on one message from the server (a frame, or the fragments of one message);
#: above it the connection is closed with code 1009.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024

#: How often the reader retries a control frame (a ping, a pending pong) that could not go out.
_RETRY = 0.05
#: Longest wait for the send lock when closing; a send that holds it longer is blocked (TCP
#: backpressure), and the socket is shut down instead, which releases it.
_CLOSE_LOCK_WAIT = 0.5


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
        dialect: the wire dialect frames are parsed in (``"beta"``, ``"ga"``, or ``"translation"``
            for the translation endpoint; see :func:`rtsync.events.parse_event`).
    """

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        out: queue.SimpleQueue[list[Event]],
        *,
        connect_timeout: float = 15.0,
        sslopt: dict[str, Any] | None = None,
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
        self._ws: wsc.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        self._close_once = threading.Lock()
        self._closed_sent = False
        #: a pong the reader could not write (a send held the lock): the next sender writes it
        self._pending_pong: bytes | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._max_message_size = max_message_size

    # -- connect ---------------------------------------------------------------------------
    def connect(self) -> Event:
        """Open the connection and read up to the first ``session.created`` (or, for a
        transcription session in the beta vocabulary, ``transcription_session.created``).

        Returns:
            The ``session.created`` event. Any event that came before it is queued first.

        Raises:
            AuthenticationError, ModelNotFoundError, NetworkError, TLSError, ConnectError.
        """
        header = [f"{k}: {v}" for k, v in self._headers.items()]
        try:
            ws = wsc.create_connection(
                self.url,
                header=header,
                timeout=self._connect_timeout,
                skip_utf8_validation=True,
                enable_multithread=True,
                sslopt=self._sslopt,
                suppress_origin=True,
            )
        except wsc.WebSocketBadStatusException as exc:
            raise error_from_status(self._host(), exc.status_code, exc.resp_body) from None
        except ssl.SSLError as exc:
            raise TLSError(f"TLS handshake with {self._host()} failed: {redact(exc)}") from None
        except (ConnectionRefusedError, socket.gaierror, TimeoutError, wsc.WebSocketTimeoutException) as exc:
            raise NetworkError(f"cannot reach {self._host()}: {redact(exc)}") from None
        except OSError as exc:
            raise NetworkError(f"cannot reach {self._host()}: {redact(exc)}") from None
        except wsc.WebSocketException as exc:
            raise ConnectError(f"WebSocket handshake with {self._host()} failed: {redact(exc)}") from None
        self._ws = ws
        early: list[Event] = []
        try:
            while True:
                opcode, data = ws.recv_data()
                if opcode == wsc.OP_CLOSE:
                    code, reason = close_payload(data)
                    raise ConnectError(f"the server closed the connection before the session started "
                                       f"(code {code}: {redact(reason)})")
                if opcode != wsc.OP_TEXT:
                    continue
                try:
                    obj = json.loads(data)
                except ValueError:
                    continue
                failure = error_from_first_frame(obj)
                if failure is not None:
                    raise failure
                ev = parse_event(obj, self.dialect)
                early.append(ev)
                if ev.type == "session.created" or ev.type == "transcription_session.created":
                    break
        except (wsc.WebSocketTimeoutException, TimeoutError):
            self._abort()
            raise NetworkError(f"no session.created from {self._host()} within {self._connect_timeout:g} s") from None
        except (wsc.WebSocketConnectionClosedException, OSError) as exc:
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
        sock = wsc.raw_socket(ws)
        assert sock is not None
        out_put = self._out.put
        dialect = self.dialect
        parser = FrameParser(self._max_message_size)
        parser.feed(wsc.take_buffered(ws))  # bytes websocket-client read past session.created
        frames = parser.frames
        text = TEXT  # a local: looked up for every frame
        batch: list[Event] = []
        close_ev: CloseEvent | None = None
        wait_readable: Callable[[float], bool] | None = None
        ping_interval = self._ping_interval
        ping_timeout = self._ping_timeout
        next_ping = time.monotonic() + (ping_interval or 0.0)
        ping_deadline: float | None = None  # set while a ping is unanswered
        try:
            while True:
                for op, payload in frames():
                    if op == text:  # the common case first
                        try:
                            batch.append(parse_event(payload, dialect))
                        except Exception as exc:
                            batch.append(_invalid_text(exc, payload))
                        if len(batch) >= MAX_BATCH:
                            out_put(batch)
                            batch = []
                    elif op == PING:
                        self._pending_pong = wsc.control_frame(wsc.OP_PONG, payload)  # only the latest
                        self._flush_pong(blocking=False)
                    elif op == CLOSE:
                        code, reason = close_payload(payload)
                        closing = self._closing.is_set()
                        close_ev = CloseEvent(code=code, reason=reason, initiated_by_client=closing)
                        if not closing:  # answer the server's close (ours was already sent)
                            self._answer_close(ws, code if sendable(code) else 1000, b"")
                        raise _Closed
                    elif op == VIOLATION:
                        raise _Fail(payload.code, payload.reason)
                    elif op == BINARY:
                        perr = ProtocolError(f"unexpected binary frame of {len(payload)} bytes", payload)
                        logger.warning("rtsync: skipped a binary frame of %d bytes", len(payload))
                        batch.append(ProtocolErrorEvent(error=perr, data=perr.data))
                    # a pong needs nothing: any byte received counts for keepalive
                # No complete frame left: hand over what was parsed (a lone event goes at once),
                # then wait for more bytes.
                if batch:
                    out_put(batch)
                    batch = []
                while True:  # wait, with a deadline when a ping is due or a pong is pending
                    if self._pending_pong is not None:
                        self._flush_pong(blocking=False)
                    timeout: float | None = None
                    if ping_interval is not None:
                        now = time.monotonic()
                        if ping_deadline is not None:
                            if now >= ping_deadline:
                                raise _Dead(f"keepalive timed out: nothing received within {ping_timeout:g} s "
                                            "of a ping")
                            timeout = ping_deadline - now
                        elif now >= next_ping:
                            if wsc.try_send(ws, wsc.control_frame(wsc.OP_PING, b"rtsync")):
                                ping_deadline = now + ping_timeout  # counts from when it went out
                                next_ping = now + ping_interval
                                continue
                            timeout = min(_RETRY, ping_interval)  # a send holds the lock: try again soon
                        else:
                            timeout = next_ping - now
                    if self._pending_pong is not None:
                        timeout = _RETRY if timeout is None else min(timeout, _RETRY)
                    if timeout is None:
                        break  # block in recv
                    if wait_readable is None:
                        wait_readable = _readable_waiter(sock)
                    if wait_readable(timeout):
                        break
                got = sock.recv_into(parser.recv_buffer())
                if not got:
                    raise wsc.WebSocketConnectionClosedException("Connection to remote host was lost.")
                parser.filled(got)
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
            self._answer_close(ws, fail.code, fail.reason.encode()[:123])
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

    def _answer_close(self, ws: wsc.WebSocket, code: int, reason: bytes) -> None:
        """Reader: send a close frame if that can be done now; else shut the connection down.

        A send blocked by backpressure holds the lock: no close frame can go out, and shutting
        the socket down releases that send with a ``ClosedError``.
        """
        self._pending_pong = None
        try:
            if wsc.try_send(ws, wsc.control_frame(wsc.OP_CLOSE, code.to_bytes(2, "big") + reason)):
                return
        except Exception:
            pass
        logger.warning("rtsync: a send is blocked; ending the connection without a close frame")
        self._abort()

    def _flush_pong(self, *, blocking: bool) -> None:
        """Write the pending pong; without ``blocking`` only if the lock and the socket are free now."""
        ws = self._ws
        pong = self._pending_pong
        if ws is None or pong is None:
            return
        try:
            if blocking:
                wsc.send_under_lock(ws, pong)
            elif not wsc.try_send(ws, pong):
                return
        except Exception:  # the connection is going: the reader sees it
            return
        if self._pending_pong is pong:
            self._pending_pong = None

    # -- send / close ----------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        """Send one text frame (thread-safe: websocket-client holds its send lock)."""
        ws = self._ws
        if ws is None or not ws.connected or self._closing.is_set():
            raise ClosedError("cannot send: the connection is closed", code=self.close_code, reason=self.close_reason)
        try:
            ws.send(text)
        except (wsc.WebSocketConnectionClosedException, OSError) as exc:
            raise ClosedError(f"cannot send: the connection is closed ({redact(exc)})",
                              code=self.close_code, reason=self.close_reason) from None
        if self._pending_pong is not None:  # the reader left a pong to the sender that held the lock
            self._flush_pong(blocking=True)

    def close(self, code: int = 1000, reason: str = "", timeout: float = 2.0) -> None:
        """Send a close frame, wait briefly for the server's, then shut the socket.

        Idempotent and safe from any thread. Does not join the reader (the caller does). When a
        send blocked by TCP backpressure holds the send lock, no close frame is sent: the socket
        is shut down within half a second, which releases that send with a ``ClosedError``.
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
                sent = wsc.send_close_frame(ws, code, reason.encode()[:123], min(timeout, _CLOSE_LOCK_WAIT))
                if not sent:
                    logger.warning("rtsync: a send is blocked; closing without a close frame")
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
        if ws is not None:
            wsc.abort(ws)


class _Closed(Exception):
    """The server closed the connection (the reader's CloseEvent is set)."""


class _Dead(Exception):
    """Keepalive: nothing came back after a ping: abort the connection."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Fail(Exception):
    """The server broke the WebSocket protocol: close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
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
