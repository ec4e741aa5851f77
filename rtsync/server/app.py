"""WebSocket endpoint of the local server, on ``websockets.sync.server`` (one thread per connection).

The HTTP side mirrors the real endpoint closely enough for clients to test their error paths:

* Only ``/v1/realtime`` and ``/v1/realtime/translations`` upgrade; any other path gets HTTP 404
  with an OpenAI-style JSON error. ``/v1/realtime?intent=transcription`` opens a transcription
  session (:mod:`rtsync.server.transcription`; GA unless the beta header asks for beta), and
  ``/v1/realtime/translations?model=gpt-realtime-translate`` the translation endpoint
  (:mod:`rtsync.server.translation`, its own vocabulary).
* With ``api_key`` set, the key must come as ``Authorization: Bearer <key>`` (or the Azure-style
  ``api-key`` header, or the browser subprotocol ``openai-insecure-api-key.<key>``); otherwise
  the upgrade is refused with HTTP 401 and a JSON error that never repeats the key presented.
  The ``OpenAI-Beta: realtime=v1`` header selects the protocol dialect (below).
* ``?model=`` selects the session model (default ``gpt-4o-realtime-preview-2024-10-01``). Ids
  that are not realtime models are accepted at the HTTP level, then get one ``error`` event
  (code ``model_not_found``) followed by a close frame with code 4000.
* A client offering the ``realtime`` subprotocol (the browser form) gets it selected.

Dialects (``LocalServer(dialect=...)``, ``python -m rtsync serve --dialect ...``): the session
logic speaks the beta vocabulary; in GA mode :class:`~rtsync.server.session.RealtimeSession`
translates at its boundaries (:mod:`rtsync.events.dialect`), so a GA client sees GA frames only.

* ``"beta"``: every connection speaks beta.
* ``"ga"``: every connection speaks GA, like the live service since May 2026. A handshake
  carrying the beta header (``OpenAI-Beta: realtime=v1``, or the browser subprotocol
  ``openai-beta.realtime-v1``) is answered as the live service does: the upgrade succeeds, one
  ``error`` event (type ``invalid_request_error``, code ``beta_api_shape_disabled``, message
  "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.")
  then a close frame with code 4000, reason ``invalid_request_error.beta_api_shape_disabled``.
* ``"auto"`` (default): per connection. The beta header (or subprotocol) gives beta. Without
  it, a connection that names a model other than a ``*-realtime-preview*`` one (for example
  ``?model=gpt-realtime``) gets GA; one that names no model or a preview model gets beta.
  The fallback keeps raw clients written for the beta server (which never needed the header)
  working, and matches the live world, where preview models belong to the beta era. A GA
  client of an ``"auto"`` server must therefore name a GA model, or the server must run with
  ``dialect="ga"``.

Every thread the server runs is named ``rtsync-server-*``: the accept loop
(``rtsync-server-accept``), one per connection (``rtsync-server-conn-N``), the library's frame
reader and keepalive threads of each connection (``rtsync-server-recv-N``,
``rtsync-server-ping-N``), one per response (``rtsync-server-response-N``) and one per input
transcription (``rtsync-server-transcribe-N``).
"""

from __future__ import annotations

import hmac
import inspect
import itertools
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection
from websockets.sync.server import serve as ws_serve
from websockets.typing import Subprotocol

from rtsync._log import redact, register_secret
from rtsync.server.faults import Fault, FaultPlan
from rtsync.server.session import RealtimeSession, error_event
from rtsync.server.transcription import TranscriptionSession
from rtsync.server.translation import PATH as TRANSLATION_PATH
from rtsync.server.translation import TranslationSession
from rtsync.server.voice import resolve_voice

__all__ = ["DEFAULT_MODEL", "LocalServer", "is_realtime_model", "run_until_interrupted", "serve"]

logger = logging.getLogger("rtsync.server")

DEFAULT_MODEL = "gpt-4o-realtime-preview-2024-10-01"
PATH = "/v1/realtime"

_REALTIME_MODEL_PREFIXES = (
    "gpt-4o-realtime-preview",
    "gpt-4o-mini-realtime-preview",
    "gpt-realtime",
    "gpt-audio",
)
_MAX_FRAME = 32 * 1024 * 1024  # a 15 MiB audio append is about 20 MiB of base64
_CLOSE_TIMEOUT = 1.0
_THREAD_JOIN_TIMEOUT = 5.0


def is_realtime_model(model: str) -> bool:
    """Return whether ``model`` names a realtime model the server accepts.

    Args:
        model: the ``model`` query value.
    """
    return model.startswith(_REALTIME_MODEL_PREFIXES)


class _RedactingLogger(logging.LoggerAdapter):
    """Logger handed to websockets: its debug lines echo request headers, keys included."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(part) for part in (msg, *args))
        self.logger.log(level, "%s", redact(text), **kwargs)


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = request.headers.get("api-key")
    if api_key:
        return api_key.strip()
    for header in request.headers.get_all("Sec-WebSocket-Protocol"):
        for protocol in header.split(","):
            protocol = protocol.strip()
            if protocol.startswith("openai-insecure-api-key."):
                return protocol[len("openai-insecure-api-key."):]
    return None


def _json_response(status: int, reason: str, body: dict[str, Any]) -> Response:
    data = json.dumps(body, indent=2).encode()
    headers = Headers()
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(data))
    headers["Connection"] = "close"
    return Response(status, reason, headers, data)


def _openai_error(message: str, code: str | None, type: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


class LocalServer:
    """A local Realtime server (beta and GA dialects) with a deterministic scripted model.

    Example::

        with LocalServer() as server:
            ws = websocket.create_connection(server.url)

    Args:
        host: interface to bind; loopback by default.
        port: TCP port; 0 picks a free one (read it back from :attr:`port`).
        api_key: when set, connections must present this key (else HTTP 401).
        text_delay: seconds to wait between streamed deltas; 0 streams as fast as possible.
            A positive value makes it possible to cancel a response mid-stream.
        rate_limits: emit ``rate_limits.updated`` after each ``response.created``.
        audio_pace: how fast output audio is sent: ``None`` (default) as fast as possible; a
            number ``p`` waits ``p`` times the duration of each 100 ms chunk before sending the
            next one (1.0 = real time, 0.5 = twice real time). ``text_delay`` still applies
            between transcript words.
        voice: ``"auto"`` (default: espeak-ng speech when the program is installed, else a
            synthetic tone), ``"espeak"`` (requires espeak-ng) or ``"tone"``.
        dialect: ``"auto"`` (default), ``"beta"`` or ``"ga"``: which protocol dialect a
            connection speaks (see the module docstring); ``ValueError`` for another value.
        faults: scripted faults, as spec strings (``"drop@response.text.delta:3"``) and/or
            :class:`~rtsync.server.faults.Fault` objects; see :mod:`rtsync.server.faults`.
            ``ValueError`` for a spec that does not parse.
        **future_options: options of later server features; accepted and kept in
            :attr:`options`, ignored by this version.

    Attributes:
        url: ``ws://HOST:PORT/v1/realtime`` once started.
        port: the bound port once started.
        options: the extra keyword options given to the constructor.
        fault_log: ``(connection number, fault spec)`` of every injected fault that fired.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        text_delay: float = 0.0,
        rate_limits: bool = True,
        audio_pace: float | None = None,
        voice: str = "auto",
        dialect: str = "auto",
        faults: Iterable[str | Fault] | None = None,
        **future_options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.url = f"ws://{host}:{port}{PATH}"
        self.text_delay = float(text_delay)
        self.rate_limits = rate_limits
        if audio_pace is not None and (not isinstance(audio_pace, (int, float)) or audio_pace < 0):
            raise ValueError(f"audio_pace must be None or a number >= 0, not {audio_pace!r}")
        self.audio_pace = None if audio_pace is None else float(audio_pace)
        self.voice = resolve_voice(voice)
        if dialect not in ("auto", "beta", "ga"):
            raise ValueError(f"dialect must be 'auto', 'beta' or 'ga', not {dialect!r}")
        self.dialect = dialect
        self._faults = FaultPlan(faults)
        self.options: dict[str, Any] = dict(future_options)
        self._api_key = api_key
        register_secret(api_key)
        self._lock = threading.Lock()
        self._state = "new"  # new -> running -> stopping -> stopped
        self._stopped = threading.Event()
        self._server: Server | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._connections: set[ServerConnection] = set()
        self._sockets: set[socket.socket] = set()  # every accepted socket whose handler still runs
        self._counter = itertools.count(1)

    def __repr__(self) -> str:
        return f"<LocalServer {self.url} {self._state}>"

    @property
    def fault_log(self) -> list[tuple[int, str]]:
        """``(connection number, spec)`` of every injected fault that fired, in order (a copy)."""
        return self._faults.log

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalServer:
        """Bind, start accepting connections, and return once listening.

        Returns:
            The server itself, so that ``server = LocalServer().start()`` works.

        Raises:
            RuntimeError: the server was already started.
            OSError: the address cannot be bound.
        """
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"LocalServer cannot be started twice (it is {self._state})")
            owner = self

            class _Connection(ServerConnection):
                def __init__(self, *args: Any, **kwargs: Any) -> None:
                    super().__init__(*args, **kwargs)
                    owner._adopt(self.recv_events_thread, "recv")

                def start_keepalive(self) -> None:
                    super().start_keepalive()
                    if self.keepalive_thread is not None:
                        owner._adopt(self.keepalive_thread, "ping")

            server = ws_serve(
                self._handle,
                self.host,
                self.port,
                process_request=self._process_request,
                select_subprotocol=self._select_subprotocol,
                compression=None,
                max_size=_MAX_FRAME,
                close_timeout=_CLOSE_TIMEOUT,
                logger=_RedactingLogger(logging.getLogger("rtsync.server.websockets"), {}),
                create_connection=_Connection,
            )
            accept_connection = server.handler

            def named_handler(sock: socket.socket, addr: Any) -> None:
                self._adopt(threading.current_thread(), "conn")
                with self._lock:
                    self._sockets.add(sock)
                try:
                    accept_connection(sock, addr)
                finally:
                    with self._lock:
                        self._sockets.discard(sock)

            server.handler = named_handler
            self._server = server
            self.port = int(server.socket.getsockname()[1])
            self.url = f"ws://{_url_host(self.host)}:{self.port}{PATH}"
            self._state = "running"
            self._accept_thread = threading.Thread(
                target=server.serve_forever, name="rtsync-server-accept", daemon=True
            )
            self._accept_thread.start()
        logger.info("local server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Close every connection (code 1001), stop listening and join all server threads.

        Idempotent and thread-safe: a second call waits until the first one has finished.
        Returns at once if the server never started.

        Raises:
            RuntimeError: called from one of the server's own threads (it would wait for itself).
        """
        current = threading.current_thread()
        with self._lock:
            if current in self._threads or current is self._accept_thread:
                raise RuntimeError("LocalServer.stop() cannot be called from one of its own threads")
            if self._state == "new":
                self._state = "stopped"
                self._stopped.set()
                return
            if self._state != "running":
                wait = True
            else:
                wait = False
                self._state = "stopping"
            server = self._server
            connections = list(self._connections)
        if wait:
            self._stopped.wait()
            return
        assert server is not None
        try:
            self._shutdown(server, connections)
        finally:
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._state = "stopped"
            self._stopped.set()
        logger.info("local server stopped")

    def _shutdown(self, server: Server, connections: list[ServerConnection]) -> None:
        closers = [
            threading.Thread(
                target=_close_quietly, args=(connection,), name=f"rtsync-server-close-{n}", daemon=True
            )
            for n, connection in enumerate(connections, 1)
        ]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join()
        # A socket still here is in its opening handshake (or one arrived meanwhile): end it, or
        # its handler would wait for the handshake timeout (10 s), and websockets 17's shutdown()
        # with it.
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown_socket(sock)
        _shutdown_server(server)
        if self._accept_thread is not None:
            self._accept_thread.join()
        deadline = time.monotonic() + _THREAD_JOIN_TIMEOUT
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("local server: thread %s did not stop in time", thread.name)

    # -- internals ------------------------------------------------------------------------------

    def _adopt(self, thread: threading.Thread, role: str) -> None:
        """Name a thread the websockets library started for us and remember it for stop()."""
        thread.name = f"rtsync-server-{role}-{next(self._counter)}"
        self._track(thread)

    def _track(self, thread: threading.Thread) -> None:
        """Remember a server thread, so that stop() joins it and refuses to run on it."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def _select_subprotocol(
        self, connection: ServerConnection, subprotocols: Any
    ) -> Subprotocol | None:
        return Subprotocol("realtime") if "realtime" in subprotocols else None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if self._state != "running":
            error = _openai_error("The server is shutting down.", None, "server_error")
            return _json_response(503, "Service Unavailable", error)
        if path != PATH and path != TRANSLATION_PATH:
            return _json_response(404, "Not Found", _openai_error(f"Invalid URL (GET {path})", None))
        if self._api_key is not None:
            key = _presented_key(request)
            if key is None:
                return _json_response(
                    401,
                    "Unauthorized",
                    _openai_error(
                        "You didn't provide an API key. You need to provide your API key in an "
                        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                        "missing_api_key",
                    ),
                )
            if not hmac.compare_digest(key.encode(), self._api_key.encode()):
                return _json_response(
                    401,
                    "Unauthorized",
                    _openai_error(
                        "Incorrect API key provided. You can find your API key at "
                        "https://platform.openai.com/account/api-keys.",
                        "invalid_api_key",
                    ),
                )
        return None

    def _dialect_for(self, request: Request | None, query: dict[str, list[str]]) -> str | None:
        """The dialect of a new connection, or ``None`` when it must be refused (beta header, GA mode)."""
        beta_header = request is not None and _wants_beta(request)
        if self.dialect == "ga":
            return None if beta_header else "ga"
        if self.dialect == "beta" or beta_header:
            return "beta"
        if query.get("intent", [""])[0] == "transcription":
            return "ga"
        model = query.get("model", [""])[0]
        return "ga" if model and "-realtime-preview" not in model else "beta"

    def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        query = parse_qs(urlsplit(request.path).query if request is not None else "", keep_blank_values=True)
        model = query.get("model", [DEFAULT_MODEL])[0]
        dialect = self._dialect_for(request, query)
        if dialect is None:
            _refuse(connection, _BETA_DISABLED_MESSAGE, "beta_api_shape_disabled")
            return
        path = urlsplit(request.path).path if request is not None else PATH
        if path == TRANSLATION_PATH or query.get("intent", [""])[0] == "transcription":
            self._handle_other(connection, path, query, dialect)
            return
        if not is_realtime_model(model):
            _refuse(connection, f"The model '{model}' does not exist or you do not have access to it.",
                    "model_not_found")
            return
        faults = self._faults.attach(connection, self._track) if self._faults else None
        session = RealtimeSession(
            connection.send if faults is None else faults.send,
            model=model,
            text_delay=self.text_delay,
            rate_limits=self.rate_limits,
            on_thread=self._track,
            audio_pace=self.audio_pace,
            voice=self.voice,
            dialect=dialect,
        )
        with self._lock:
            self._connections.add(connection)
        try:
            session.start()
            if faults is not None:
                faults.started()
            for message in connection:
                if isinstance(message, str):
                    session.handle_text(message)
                else:
                    session.handle_binary(message)
        except ConnectionClosed:
            pass
        finally:
            if faults is not None:
                faults.close()
            session.close()
            with self._lock:
                self._connections.discard(connection)


    def _handle_other(self, connection: ServerConnection, path: str, query: dict[str, list[str]],
                      dialect: str) -> None:
        """A translation or transcription connection (no faults, no conversation)."""
        session: TranslationSession | TranscriptionSession
        if path == TRANSLATION_PATH:
            model = query.get("model", [""])[0]
            if not model.startswith("gpt-realtime-translate"):
                _refuse(connection, f"The model '{model}' does not exist or you do not have access to it.",
                        "model_not_found")
                return
            session = TranslationSession(connection.send, lambda: connection.close(1000, "session closed"),
                                         model=model, voice=self.voice)
        else:
            session = TranscriptionSession(connection.send, on_thread=self._track, dialect=dialect)
        with self._lock:
            self._connections.add(connection)
        try:
            session.start()
            for message in connection:
                if isinstance(message, str):
                    session.handle_text(message)
                else:
                    session.handle_binary(message)
        except ConnectionClosed:
            pass
        finally:
            session.close()
            with self._lock:
                self._connections.discard(connection)


_BETA_DISABLED_MESSAGE = "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."


def _wants_beta(request: Request) -> bool:
    """Whether the handshake asks for the beta protocol (header or browser subprotocol)."""
    if any("realtime=v1" in value for value in request.headers.get_all("OpenAI-Beta")):
        return True
    return any(
        protocol.strip() == "openai-beta.realtime-v1"
        for header in request.headers.get_all("Sec-WebSocket-Protocol")
        for protocol in header.split(",")
    )


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _shutdown_server(server: Server) -> None:
    """Stop listening, with the ``Server.shutdown()`` of any supported websockets version.

    websockets 17 and later also close the connections still open (code and reason as given)
    and wait for their handlers; 13 to 16 only close the listening socket and take no argument.
    Either way :meth:`LocalServer._shutdown` has already closed the connections it knows and
    joins every server thread afterwards.
    """
    if _SHUTDOWN_TAKES_CLOSE_CODE:
        server.shutdown(code=1001, reason="server shutting down")
    else:
        server.shutdown()


_SHUTDOWN_TAKES_CLOSE_CODE = "code" in inspect.signature(Server.shutdown).parameters


def _shutdown_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed, or the peer is gone
        pass


def _close_quietly(connection: ServerConnection) -> None:
    try:
        connection.close(1001, "server shutting down")
    except Exception:  # the peer may already be gone
        logger.debug("local server: closing a connection failed", exc_info=True)


def serve(host: str = "127.0.0.1", port: int = 8765, **opts: Any) -> None:
    """Run a :class:`LocalServer` in the foreground until Ctrl-C.

    Prints the URL to connect to, then blocks; a ``KeyboardInterrupt`` stops the server and
    returns.

    Args:
        host: interface to bind.
        port: TCP port (0 picks a free one).
        **opts: further :class:`LocalServer` options (``api_key``, ``text_delay``, ...).
    """
    server = LocalServer(host, port, **opts).start()
    run_until_interrupted(server, f"rtsync local Realtime server listening on {server.url}  (Ctrl-C to stop)")


def _refuse(connection: ServerConnection, message: str, code: str) -> None:
    """End a connection the way the live service refuses one: an ``error``, then close 4000."""
    try:
        connection.send(json.dumps(error_event(message, code=code)))
        connection.close(4000, f"invalid_request_error.{code}")
    except ConnectionClosed:
        pass


def run_until_interrupted(server: LocalServer, announce: str | None = None) -> None:
    """Block until Ctrl-C (``KeyboardInterrupt``) or SIGTERM, then stop ``server`` (a started server).

    SIGTERM (``kill``, a service manager) gets the same clean stop as Ctrl-C when this runs on
    the main thread; the previous SIGTERM handler is restored afterwards.

    Args:
        server: the started server to stop.
        announce: a line to print once both signals are handled, so that whoever reads it (a
            user, a script waiting for the URL) may stop the server from then on.
    """
    # The handler only records the signal: it runs on the main thread between two bytecodes,
    # possibly while that thread holds a lock inside threading.Event.wait, so setting an Event
    # from it can deadlock (seen once: serve hung on SIGTERM during a full test run).
    signals: list[int] = []
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: signals.append(signum))
    try:
        if announce is not None:
            print(announce, flush=True)
        while not signals:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
