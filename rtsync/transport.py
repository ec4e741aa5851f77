"""The WebSocket connection: URL and headers, handshake errors, the reader thread, close.

Knows frames, not callbacks. The reader thread (``rtsync-reader``) receives frames with
websocket-client (``skip_utf8_validation=True``: the JSON parser rejects bad text anyway, and
the pure-Python validator costs most of the throughput), parses each into an event and puts
the events on a queue in batches: after a frame it polls the socket, and while more frames
are already buffered it keeps reading (up to :data:`MAX_BATCH`) before handing the batch over.
A lone event goes at once, so batching adds no latency; it only saves thread wake-ups.

The reader never runs user code and never dies on bad input: a frame that does not parse (or a
binary frame) becomes an ``rtsync.protocol_error`` event and reading goes on. When the
connection ends, for whatever reason, the last thing the reader queues is exactly one
``rtsync.close`` event.
"""

from __future__ import annotations

import json
import queue
import select
import socket
import ssl
import struct
import threading
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websocket

from rtsync._log import logger, redact, short_dump
from rtsync.errors import (
    AuthenticationError,
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

__all__ = ["MAX_BATCH", "Transport", "build_url"]

#: Most events the reader hands over in one batch.
MAX_BATCH = 256

_OP_TEXT = websocket.ABNF.OPCODE_TEXT
_OP_BINARY = websocket.ABNF.OPCODE_BINARY
_OP_CLOSE = websocket.ABNF.OPCODE_CLOSE


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
        return ConnectError(
            f"the server no longer speaks the beta protocol ({message}); "
            "use a GA-capable endpoint or the local server (rtsync.server.LocalServer)"
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
    ) -> None:
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
                ev = parse_event(obj)
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
        out_put = self._out.put
        recv_data = ws.recv_data
        on_frame = self._on_frame
        frame_buffer = ws.frame_buffer
        sock = ws.sock
        assert sock is not None
        pending = getattr(sock, "pending", None)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poll = poller.poll
        batch: list[Event] = []
        close_ev: CloseEvent | None = None
        try:
            while True:
                opcode, data = recv_data()
                if opcode == _OP_TEXT:
                    try:
                        batch.append(parse_event(data))
                        if on_frame is not None:
                            on_frame("recv", data)
                    except ProtocolError as exc:
                        logger.warning("rtsync: skipped an invalid frame: %s (%s)", exc, short_dump(_text(data)))
                        batch.append(ProtocolErrorEvent(error=exc, data=_text(data)))
                elif opcode == _OP_BINARY:
                    perr = ProtocolError(f"unexpected binary frame of {len(data)} bytes", data)
                    logger.warning("rtsync: skipped a binary frame of %d bytes", len(data))
                    batch.append(ProtocolErrorEvent(error=perr, data=bytes(data)))
                elif opcode == _OP_CLOSE:
                    code, reason = _close_payload(data)
                    close_ev = CloseEvent(code=code, reason=reason, initiated_by_client=self._closing.is_set())
                    break
                # Hand over now unless more frames are already waiting on the socket.
                if len(batch) >= MAX_BATCH or not (
                    frame_buffer.recv_buffer or (pending is not None and pending()) or poll(0)
                ):
                    out_put(batch)
                    batch = []
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
        try:
            if ws.connected:
                ws.send_close(code, reason.encode())
        except Exception:
            pass
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


def _close_payload(data: bytes) -> tuple[int, str]:
    if len(data) >= 2:
        code = struct.unpack("!H", data[:2])[0]
        reason = data[2:].decode("utf-8", "replace")
        return code, reason
    return 1005, ""


def _text(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray)):
        return data.decode("utf-8", "replace")
    return data
