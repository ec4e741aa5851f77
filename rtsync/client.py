"""``RealtimeClient``: the synchronous, threaded facade over one Realtime session.

Threads (per client):

* ``rtsync-reader`` receives frames, parses them into events and queues them in batches; it
  never runs user code;
* ``rtsync-dispatch`` runs every callback, in arrival order, one at a time (unless
  ``dispatch="pump"``: then a GUI loop calls :meth:`RealtimeClient.dispatch_pending` and the
  callbacks run on that loop's thread).

``send`` and the typed senders may be called from any thread, callbacks included.
"""

from __future__ import annotations

import base64
import enum
import itertools
import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

import attrs

from rtsync._log import logger, redact, register_secret
from rtsync.conversation import Conversation
from rtsync.dispatch import HandlerRegistry, PumpDispatcher, ThreadDispatcher, Waiter, event_key
from rtsync.errors import (
    AuthenticationError,
    BetaShapeDisabledError,
    ClosedError,
    ModelNotFoundError,
    RealtimeError,
    ResponseFailed,
    ServerError,
    WaitTimeout,
)
from rtsync.events import client as ce
from rtsync.events import server as se
from rtsync.events._base import UNSET, Event
from rtsync.events.codec import dump_value, parse_event, warm_loaders
from rtsync.events.local import CloseEvent, DisconnectedEvent, ReconnectedEvent
from rtsync.events.models import Item, Response, ResponseCreateParams, Session, Tool, Usage
from rtsync.transport import Transport, build_url

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "FunctionCall", "RealtimeClient", "Reply", "choose_dialect"]

DEFAULT_MODEL = "gpt-realtime"
DIALECTS = ("auto", "beta", "ga")
_BETA_MODEL_PREFIXES = ("gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview")


def choose_dialect(model: str | None, url: str) -> str:
    """What ``dialect="auto"`` picks: ``"beta"`` for the preview model ids
    (``gpt-4o-realtime-preview``, ``gpt-4o-mini-realtime-preview`` and their dated versions) and
    for Azure's older ``/openai/realtime?api-version=...`` URL; ``"ga"`` otherwise."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.path.rstrip("/").endswith("/openai/realtime") and "api-version" in query:
        return "beta"
    name = model or (query.get("model") or query.get("deployment") or [""])[0]
    return "beta" if name.startswith(_BETA_MODEL_PREFIXES) else "ga"
DEFAULT_URL = "wss://api.openai.com/v1/realtime"

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from rtsync.tools import ToolRegistry, ToolRunner


class State(enum.Enum):
    """Lifecycle of a client: UNOPENED -> OPEN (<-> RECONNECTING) -> CLOSING -> CLOSED."""

    UNOPENED = "unopened"
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


@attrs.define(kw_only=True)
class FunctionCall:
    """A function call the model made in a response.

    Attributes:
        name: the tool name.
        call_id: the id to answer with a ``function_call_output`` item.
        arguments: the arguments as JSON text, exactly as the model wrote them.
        item_id: the conversation item holding the call.
    """

    name: str
    call_id: str
    arguments: str
    item_id: str = ""

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON (raises ``ValueError`` when they are not valid JSON)."""
        return json.loads(self.arguments) if self.arguments else {}


@attrs.define(kw_only=True)
class Reply:
    """What :meth:`RealtimeClient.ask` returns: one finished response, gathered.

    Attributes:
        text: the text output (concatenated ``response.text.delta``).
        transcript: the transcript of the audio output.
        audio: the audio output as pcm16 samples (int16 numpy array; empty if none).
        function_calls: the function calls in the response, in output order.
        usage: token usage from ``response.done``.
        status: ``completed``, ``cancelled``, ``incomplete`` or ``failed``.
        response: the wire ``Response`` object of ``response.done``.
        response_id: the response id.
        item_ids: the ids of the output items.
    """

    text: str = ""
    transcript: str = ""
    audio: Any = None
    function_calls: list[FunctionCall] = attrs.field(factory=list)
    usage: Usage | None = None
    status: str = ""
    response: Response | None = None
    response_id: str = ""
    item_ids: list[str] = attrs.field(factory=list)

    def __str__(self) -> str:
        return self.text or self.transcript


class _ReplyCollector:
    """Gathers one response on the dispatcher thread (an internal hook)."""

    def __init__(self, request_ids: set[str], create_id: str | None = None,
                 gate: _ResponseGate | None = None) -> None:
        self.request_ids = request_ids
        self.create_id = create_id  # the response.create this reply answers (gated)
        self.gate = gate
        self.dispatcher: Any = None
        self.seq = 0  # delivery number of the response.done
        self.response_id: str | None = None
        self.text: list[str] = []
        self.transcript: list[str] = []
        self.audio: list[str] = []
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.final: se.ResponseDone | None = None
        self.armed = False

    def __call__(self, ev: Event) -> None:
        if self.done.is_set():
            return
        t = ev.type
        if t == "error":
            info = getattr(ev, "error", None)
            eid = getattr(info, "event_id", None)
            if eid in self.request_ids:
                if (self.gate is not None and eid == self.create_id
                        and getattr(info, "code", None) == "conversation_already_has_active_response"):
                    return  # the gate sends the create again after the active response
                self.error = _server_error(ev)
                self.done.set()
            return
        if t == "rtsync.close" or t == "rtsync.disconnected":
            reason = f": {ev.reason}" if ev.reason else ""  # type: ignore[attr-defined]
            self.error = ClosedError(f"connection closed before the response finished (code "
                                     f"{ev.code}{reason})", code=ev.code, reason=ev.reason)  # type: ignore[attr-defined]
            self.done.set()
            return
        if not self.armed:
            return
        if self.response_id is None:
            if t == "response.created" and (self.gate is None or self.gate.created_for == self.create_id):
                self.response_id = getattr(ev.response, "id", None)  # type: ignore[attr-defined]
            return
        if getattr(ev, "response_id", None) == self.response_id:
            if t == "response.text.delta":
                self.text.append(ev.delta)  # type: ignore[attr-defined]
            elif t == "response.audio_transcript.delta":
                self.transcript.append(ev.delta)  # type: ignore[attr-defined]
            elif t == "response.audio.delta":
                self.audio.append(ev.delta)  # type: ignore[attr-defined]
        elif t == "response.done" and getattr(ev.response, "id", None) == self.response_id:  # type: ignore[attr-defined]
            self.final = ev  # type: ignore[assignment]
            d = self.dispatcher
            self.seq = d.seq + 1 if d is not None else 0  # hooks run before the count moves on
            self.done.set()


def _server_error(ev: Event) -> ServerError:
    info = getattr(ev, "error", None)
    get = (lambda k: getattr(info, k, None) or None) if info is not None else (lambda k: None)
    return ServerError(
        redact(get("message") or "server error"),
        type=get("type"), code=get("code"), param=get("param"), event_id=get("event_id"), event=ev,
    )

#: Server error codes that only say "nothing to do": logged at debug level, never raised by the
#: response bookkeeping (they are still delivered to ``error`` callbacks).
BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active", "conversation_already_has_active_response"})


#: Server error codes after which reconnecting cannot help.
FATAL_ERROR_CODES = frozenset({"beta_api_shape_disabled", "model_not_found", "invalid_api_key",
                               "insufficient_quota"})
# close codes that say the peers disagree on the protocol: reconnecting would fail the same way
_FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})


def _client_to_ga() -> Callable[[dict[str, Any]], dict[str, Any]]:
    global _TO_GA
    if _TO_GA is None:
        from rtsync.events.dialect import client_to_ga

        _TO_GA = client_to_ga
    return _TO_GA


_TO_GA: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # loaded with the first GA send


class _Aborted(Exception):
    """close() was called while a new connection was being opened."""


class _Out:
    """The reader's queue when reconnection/renewal is on: decides what a close means."""

    __slots__ = ("_client", "_gen", "_held", "_put")

    def __init__(self, client: RealtimeClient, gen: int, hold: bool = False) -> None:
        self._client = client
        self._gen = gen
        self._put = client._queue.put
        #: batches kept back until :meth:`release` (a new connection's session.created must not
        #: reach the dispatcher, and reset the conversation, before the switch to it)
        self._held: list[list[Event]] | None = [] if hold else None

    def release(self) -> None:
        held, self._held = self._held, None
        for batch in held or ():
            self.put(batch)

    def put(self, batch: list[Event]) -> None:
        if self._held is not None:
            self._held.append(batch)
            return
        last = batch[-1] if batch else None
        if last.__class__ is CloseEvent:
            action = self._client._transport_ended(self._gen, last)  # type: ignore[arg-type]
            if action == "retry":
                batch[-1] = DisconnectedEvent(code=last.code, reason=last.reason, error=last.error)  # type: ignore[union-attr]
            elif action == "swallow":
                batch.pop()
                if not batch:
                    return
        self._put(batch)


class _ResponseGate:
    """One response at a time in the default conversation: ``response.create`` waits its turn.

    State changes come from the dispatcher thread (:meth:`on_event`); :meth:`submit` is called
    from any thread. The lock is held while sending so that queued creates go out in order.
    """

    def __init__(self, send: Callable[[Event], str]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._queue: deque[Event] = deque()
        self.busy = False  # a response is running, or a create for one is in flight
        self.finished = 0  # responses of the default conversation that ended
        self.active_id: str | None = None
        self._in_flight: Event | None = None  # the create sent and not yet answered
        #: the event_id of the response.create that the latest response.created answered
        #: (None for a response the client did not request, e.g. server VAD's)
        self.created_for: str | None = None

    def submit(self, ev: Event) -> None:
        with self._lock:
            if self.busy or self._queue:
                self._queue.append(ev)
                logger.debug("rtsync: response.create %s queued behind response %s", ev.event_id, self.active_id)
                return
            self.busy = True
            self._in_flight = ev
            try:
                self._send(ev)
            except BaseException:
                self.busy = False
                self._in_flight = None
                raise

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def lock(self) -> threading.Lock:
        """Held while a create is sent, so a connection switch under it never splits one."""
        return self._lock

    def quiet_locked(self) -> bool:
        """No response running, none requested, none queued (call with :attr:`lock` held)."""
        return not self.busy and not self._queue

    def _in_flight_id(self) -> str | None:
        ev = self._in_flight
        return None if ev is None else ev.event_id  # type: ignore[no-any-return]

    def _next_locked(self) -> None:
        self.busy = False
        self._in_flight = None
        while self._queue:
            ev = self._queue.popleft()
            self.busy = True
            self._in_flight = ev
            try:
                self._send(ev)
                return
            except ClosedError:
                self._queue.clear()
            except Exception:
                logger.warning("rtsync: sending a queued response.create failed", exc_info=True)
            self.busy = False
            self._in_flight = None

    def on_event(self, ev: Event) -> None:
        t = ev.type
        if t == "response.created":
            resp = getattr(ev, "response", None)
            if getattr(resp, "conversation_id", UNSET) is None:
                return  # out of band: runs beside the default conversation
            with self._lock:
                self.busy = True
                self.created_for = self._in_flight_id()
                self._in_flight = None
                rid = getattr(resp, "id", None)
                self.active_id = rid if isinstance(rid, str) else None
        elif t == "response.done":
            resp = getattr(ev, "response", None)
            rid = getattr(resp, "id", None)
            with self._lock:
                if self.active_id is not None and rid != self.active_id:
                    return  # another (out-of-band) response ended
                self.finished += 1
                self.active_id = None
                self._next_locked()
        elif t == "error":
            info = getattr(ev, "error", None)
            eid = getattr(info, "event_id", None)
            with self._lock:
                if eid is None or eid != self._in_flight_id():
                    return
                if getattr(info, "code", None) == "conversation_already_has_active_response":
                    # a response we did not ask for (server VAD) won the race: ours is sent
                    # again (same event_id) after that response's response.done
                    if self._in_flight is not None:
                        self._queue.appendleft(self._in_flight)
                    self._in_flight = None
                    self.busy = True
                    logger.debug("rtsync: response.create %s deferred behind an active response", eid)
                    return
                self._next_locked()
        elif t == "rtsync.close" or t == "rtsync.disconnected":
            with self._lock:
                self._queue.clear()
                self.busy = False
                self.active_id = None
                self._in_flight = None


class RealtimeClient:
    """A connection to a Realtime server, with callbacks.

    Args:
        model: the model, merged into ``url``'s query as ``model=`` (replacing one there).
        api_key: the key; ``OPENAI_API_KEY`` when not given. May be omitted for a local server.
        url: the full WebSocket endpoint; other query parameters in it are kept.
        headers: extra handshake headers.
        dialect: the wire protocol: ``"beta"`` (2024-10-01, ``OpenAI-Beta: realtime=v1``),
            ``"ga"`` (today's service; no beta header), or ``"auto"`` (see
            :func:`choose_dialect`; the choice is logged, and a server that refuses the beta
            shape with ``beta_api_shape_disabled`` gets one more try in GA). Either way the API
            speaks the beta vocabulary: events are translated both ways (``event.wire`` holds
            the frame as received), so a script runs unchanged against both.
        dispatch: ``"thread"`` (callbacks on the ``rtsync-dispatch`` thread) or ``"pump"``
            (callbacks run only inside :meth:`dispatch_pending`, e.g. from a Tk ``after`` loop).
        connect_timeout: seconds allowed for the handshake and the first ``session.created``.
        ping_interval: send a WebSocket ping this often (seconds) while open; ``None`` turns
            keepalive off.
        ping_timeout: a peer that has sent nothing for this long after a ping is dead: the
            connection is dropped and ``rtsync.close`` comes with code 1006.
        max_audio_items: bound :attr:`conversation`'s memory: keep output audio samples only for
            the most recent N items with audio (``None`` keeps all).
        max_audio_seconds: keep at most this much output audio in :attr:`conversation` (1 minute,
            about 2.9 MB, by default; the oldest items' audio goes first; ``None``: no limit).
        record: write every sent and received event to this JSON-lines file (audio beside it as
            WAV; see :mod:`rtsync.record`). The key is never written.
        reconnect: when the connection drops (or the server closes it for a reason that is not
            fatal), connect again with backoff (0.25 s doubling to 8 s, ``max_reconnect_attempts``
            tries), send the session configuration (every ``session.update`` field sent so far)
            and the tools again, and deliver ``rtsync.reconnected``. ``rtsync.disconnected``
            comes first; ``send`` raises :class:`ClosedError` in between. A refused key, an
            unknown model or ``beta_api_shape_disabled`` are never retried.
        renew_before: open a fresh session this many seconds before the current one's
            ``expires_at`` (make before break: the old connection closes once the new one is
            configured), then deliver ``rtsync.reconnected`` with ``reason="renewed"``. The
            switch waits for a quiet point, for at most ``renew_before / 2`` seconds: responses
            running or queued and tool calls under way finish in the old session, and
            :meth:`ask`/:meth:`create_response` from other threads wait until the switch, so a
            ``response.create`` never lands in a session that lacks the message it answers.
        replay_text_items: on reconnect/renewal, re-create the conversation's text messages
            (user, assistant and system text, and assistant audio transcripts as text) in the new
            session, so the model keeps the context.
        insecure_disable_tls_verification: turn off certificate checks (never do this against
            the real service; it is logged as a warning).

    The key never appears in logs, reprs or exception messages.

    Example::

        with RealtimeClient(url=server.url) as client:
            client.on("response.text.delta", lambda ev: print(ev.delta, end=""))
            print(client.ask("hello").text)
    """

    def __init__(
        self,
        model: str | None = DEFAULT_MODEL,
        api_key: str | None = None,
        url: str = DEFAULT_URL,
        *,
        headers: dict[str, str] | None = None,
        dialect: str = "auto",
        dispatch: str = "thread",
        connect_timeout: float = 15.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 10.0,
        max_audio_items: int | None = None,
        max_audio_seconds: float | None = 60.0,
        record: str | os.PathLike[str] | None = None,
        reconnect: bool = False,
        max_reconnect_attempts: int = 6,
        renew_before: float | None = None,
        replay_text_items: bool = False,
        insecure_disable_tls_verification: bool = False,
    ) -> None:
        if dispatch not in ("thread", "pump"):
            raise ValueError(f"dispatch must be 'thread' or 'pump', got {dispatch!r}")
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {', '.join(map(repr, DIALECTS))}, got {dialect!r}")
        self.model = model
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or None
        register_secret(self._api_key)
        self.url = build_url(url, model) if model else url
        self._auto_dialect = dialect == "auto"
        #: the dialect on the wire: ``"beta"`` or ``"ga"`` (``"auto"`` resolved).
        self.dialect = choose_dialect(model, self.url) if dialect == "auto" else dialect
        if self._auto_dialect:
            logger.info("rtsync: dialect 'auto' chose %r for model %r", self.dialect, model)
        self._extra_headers = dict(headers or {})
        for v in self._extra_headers.values():
            if "bearer" in v.lower() or len(v) >= 20:
                register_secret(v.split()[-1] if v.split() else v)
        self._dispatch_mode = dispatch
        self._connect_timeout = connect_timeout
        self._sslopt: dict[str, Any] = {}
        if insecure_disable_tls_verification:
            import ssl

            logger.warning("rtsync: TLS certificate verification is DISABLED for %s", redact(self.url))
            self._sslopt = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        self._state = State.UNOPENED
        self._state_lock = threading.Lock()
        self._registry = HandlerRegistry()
        #: The conversation as the server holds it, built from the events (readable from any
        #: thread; see :class:`rtsync.Conversation`).
        self.conversation = Conversation(max_audio_items=max_audio_items, max_audio_seconds=max_audio_seconds)
        self._gate = _ResponseGate(self.send)
        self._tool_registry: ToolRegistry | None = None  # created by the first add_tool
        self._tool_runner: ToolRunner | None = None
        # the client's own per-type bookkeeping, run before the callbacks of each event
        table: dict[str, list[Callable[[Event], None]]] = {}
        for types, fn in (
            (("session.created", "session.updated", "rtsync.close", "rtsync.disconnected", "error"), self._track),
            (("response.created", "response.done", "error", "rtsync.close", "rtsync.disconnected"),
             self._gate.on_event),
            (self.conversation.event_types, self.conversation.apply),
            (("response.done",), self._feed_tools),
        ):
            for t in types:
                table.setdefault(t, []).append(fn)
        self._internal = {t: tuple(fns) for t, fns in table.items()}
        self._hooks: list[Callable[[Event], None]] = [self._bookkeeping]
        self._ping = (ping_interval, ping_timeout)
        self._marks = threading.local()  # per thread: delivery number at the latest send/wait_for
        if max_reconnect_attempts < 1:
            raise ValueError("max_reconnect_attempts must be at least 1")
        self._reconnect = reconnect
        self._max_attempts = max_reconnect_attempts
        self._renew_before = renew_before
        self._replay_text = replay_text_items
        self._session_config: dict[str, Any] = {}  # every session.update field sent, merged
        self._gen = 0  # which transport is current (an older one's close is not the end)
        self._fatal = False  # a fatal server error was seen: never reconnect
        self._stop = threading.Event()  # set by close(): stop reconnecting / renewing
        # Held by a renewal while it waits for the old session to go quiet, and by ask() and
        # create_response() around what they send: a message and the response.create that
        # answers it always reach the same session.
        self._switch_lock = threading.Lock()
        self._disconnect_seen = threading.Event()
        self._helper: threading.Thread | None = None  # rtsync-reconnect / rtsync-renew
        self._record_path = record
        self._recorder: Any = None
        self._queue: queue.SimpleQueue[list[Event]] = queue.SimpleQueue()
        self._transport: Transport | None = None
        self._dispatcher: ThreadDispatcher | PumpDispatcher | None = None
        self._id_prefix = "evt_" + os.urandom(4).hex() + "_"
        self._ids = itertools.count(1)
        self.session: Session | None = None
        self.session_id: str | None = None
        self._close_event: CloseEvent | None = None
        self._seen_session: str | None = None

    @classmethod
    def azure(
        cls,
        endpoint: str,
        deployment: str,
        api_key: str | None = None,
        token: str | None = None,
        api_version: str | None = None,
        **options: Any,
    ) -> RealtimeClient:
        """A client for Azure OpenAI (not connected yet).

        Args:
            endpoint: ``https://<resource>.openai.azure.com`` (or its ``wss://`` form, or the
                bare resource host).
            deployment: the deployment name.
            api_key: the resource key, sent as the ``api-key`` header (``AZURE_OPENAI_API_KEY``
                when neither it nor ``token`` is given).
            token: a Microsoft Entra bearer token instead of a key.
            api_version: ``None`` for the GA endpoint
                (``wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>``); a
                preview version such as ``"2025-04-01-preview"`` for the older beta-protocol
                endpoint (``/openai/realtime?api-version=...&deployment=...``).
            options: other :class:`RealtimeClient` keyword arguments (``dialect`` defaults to
                ``"ga"``, or ``"beta"`` with ``api_version``).
        """
        from urllib.parse import urlencode, urlsplit

        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        scheme = "ws" if parts.scheme in ("http", "ws") else "wss"
        base = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        if api_version is None:
            url = f"{base}/openai/v1/realtime?{urlencode({'model': deployment})}"
            options.setdefault("dialect", "ga")
        else:
            url = f"{base}/openai/realtime?{urlencode({'api-version': api_version, 'deployment': deployment})}"
            options.setdefault("dialect", "beta")
        headers = dict(options.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        else:
            key = api_key or os.environ.get("AZURE_OPENAI_API_KEY")
            if key:
                headers["api-key"] = key
        register_secret(token)
        register_secret(api_key)
        return cls(model=None, api_key="", url=url, headers=headers, **options)

    # -- representation ----------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"<RealtimeClient {self._state.value} model={self.model!r} dialect={self.dialect} "
                f"url={redact(self.url)!r}>")

    @property
    def state(self) -> str:
        """``unopened``, ``connecting``, ``open``, ``closing`` or ``closed``."""
        return self._state.value

    @property
    def is_open(self) -> bool:
        """True while the connection is open."""
        return self._state is State.OPEN

    # -- lifecycle ---------------------------------------------------------------------------
    def _handshake_headers(self) -> dict[str, str]:
        h = {"OpenAI-Beta": "realtime=v1"} if self.dialect == "beta" else {}
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        h.update(self._extra_headers)
        return h

    def connect(self) -> RealtimeClient:
        """Open the connection; return once ``session.created`` has arrived.

        ``session.created`` (and anything before it) is delivered to callbacks registered
        before ``connect``. Returns the client itself, so ``RealtimeClient(...).connect()``
        chains.

        Raises:
            AuthenticationError: the key was refused.
            ModelNotFoundError: the server does not know the model.
            NetworkError: refused, unreachable, timed out.
            TLSError: the TLS handshake failed.
            ConnectError: any other refusal.
            RuntimeError: the client was already opened once.
        """
        with self._state_lock:
            if self._state is not State.UNOPENED:
                raise RuntimeError(
                    f"cannot connect a client that is {self._state.value}; create a new RealtimeClient"
                )
            self._state = State.CONNECTING
        warm_loaders()  # no event waits for its class's loader to be compiled on the reader thread
        transport = self._new_transport(0)
        try:
            try:
                first = transport.connect()
            except BetaShapeDisabledError:
                if not (self._auto_dialect and self.dialect == "beta"):
                    raise
                logger.warning("rtsync: the server refused the beta protocol; connecting again in GA")
                self.dialect = "ga"
                transport = self._new_transport(0)
                first = transport.connect()
        except BaseException:
            with self._state_lock:
                self._state = State.CLOSED
            raise
        if self._auto_dialect:
            first = self._confirm_dialect(first, transport)
        self._transport = transport
        if self._record_path is not None:
            from rtsync.record import Recorder

            self._recorder = Recorder(self._record_path, url=redact(self.url), model=self.model or "",
                                      dialect=self.dialect)
            self._hooks.append(self._recorder.received)
        if self._dispatch_mode == "thread":
            self._dispatcher = ThreadDispatcher(self._queue, self._registry, self._hooks)
        else:
            self._dispatcher = PumpDispatcher(self._queue, self._registry, self._hooks)
        session = getattr(first, "session", None)
        if isinstance(session, Session):
            self.session = session
            self.session_id = session.id if isinstance(session.id, str) else None
        with self._state_lock:
            self._state = State.OPEN
        transport.start_reader()
        self._dispatcher.start()
        logger.info("rtsync: connected to %s (session %s)", redact(self.url), self.session_id)
        if self._has_tools():
            self._send_tools()
        self._schedule_renewal()
        return self

    def _confirm_dialect(self, first: Event, transport: Transport) -> Event:
        """``dialect="auto"``: follow the shape of ``session.created`` when it disagrees with the
        guess (a GA session has a ``type`` and nested ``audio``; a beta one has neither)."""
        raw = first.wire.get("session") if isinstance(first.wire, dict) else None
        if not isinstance(raw, dict):
            return first
        ga_shape = "type" in raw and ("audio" in raw or "output_modalities" in raw)
        beta_shape = "type" not in raw and ("modalities" in raw or "voice" in raw or "input_audio_format" in raw)
        found = "ga" if ga_shape else "beta" if beta_shape else self.dialect
        if found != self.dialect:
            logger.info("rtsync: the server's session.created is in the %s shape; speaking %s", found, found)
            self.dialect = found
            transport.dialect = found
            first = parse_event(first.wire, found)  # for self.session
        return first

    def _new_transport(self, gen: int, out: Any = None) -> Transport:
        if out is None:
            out = self._queue if not (self._reconnect or self._renew_before is not None) else _Out(self, gen)
        return Transport(self.url, self._handshake_headers(), out,
                         connect_timeout=self._connect_timeout, sslopt=self._sslopt,
                         ping_interval=self._ping[0], ping_timeout=self._ping[1], dialect=self.dialect)

    # -- reconnection and renewal (opt in) ---------------------------------------------------------
    def _transport_ended(self, gen: int, ev: CloseEvent) -> str:
        """Reader thread of transport ``gen``: is its close ``final``, a ``retry``, or ``swallow``ed?"""
        with self._state_lock:
            if gen != self._gen:
                return "swallow"  # a renewed-away connection
            if self._state is not State.OPEN or not self._reconnect or ev.initiated_by_client or self._fatal:
                return "final"
            if ev.code in _FATAL_CLOSE_CODES or any(r in (ev.reason or "") for r in FATAL_ERROR_CODES):
                return "final"
            self._state = State.RECONNECTING
            self._disconnect_seen.clear()
            self._start_helper("rtsync-reconnect", self._reconnect_loop, ev)
            return "retry"

    def _start_helper(self, name: str, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._helper = t

    def _reconnect_loop(self, ev: CloseEvent) -> None:
        logger.warning("rtsync: connection lost (code %s: %s); reconnecting", ev.code, redact(ev.reason))
        delay, attempt = 0.25, 0
        error: BaseException | None = ev.error
        while attempt < self._max_attempts and not self._stop.wait(delay):
            attempt += 1
            try:
                self._disconnect_seen.wait(2.0)  # the old connection's events are applied
                self._switch_to_new_session("reconnected", attempt)
                return
            except (AuthenticationError, ModelNotFoundError) as exc:
                error = exc
                logger.error("rtsync: reconnect refused: %s", redact(exc))
                break
            except (RealtimeError, OSError) as exc:
                error = exc
                logger.warning("rtsync: reconnect attempt %d failed: %s", attempt, redact(exc))
                delay = min(delay * 2, 8.0)
            except _Aborted:
                break
        by_client = self._stop.is_set()
        reason = "closed by client" if by_client else (
            f"{ev.reason or 'connection lost'}; reconnecting failed after {attempt} attempt(s)")
        with self._state_lock:
            if self._state is State.RECONNECTING:
                self._state = State.CLOSED
        self._queue.put([CloseEvent(code=1000 if by_client else ev.code, reason=reason,
                                    error=None if by_client else error, initiated_by_client=by_client)])

    def _switch_to_new_session(self, why: str, attempt: int) -> None:
        """Open a new connection, make it current, configure it, announce it (helper thread).

        A renewal switches at a quiet point: it blocks new ``ask()``/``create_response()`` calls
        (``_switch_lock``) and waits, for at most half of ``renew_before``, until the responses
        and tool calls already under way have finished on the old session. A response.create
        queued there then never moves to a session that lacks the items it answers.
        """
        gen = self._gen + 1
        out = _Out(self, gen, hold=True)
        transport = self._new_transport(gen, out)
        first = transport.connect()
        renewing = why == "renewed"
        gate, quiet = self._gate, True
        with self._switch_lock:
            if renewing:
                quiet = self._wait_until_quiet(time.monotonic() + (self._renew_before or 0.0) / 2)
            with gate.lock:  # no response.create is half sent while the transports swap
                items = self._text_items() if self._replay_text else []
                with self._state_lock:
                    if self._stop.is_set():
                        transport.close(1000, "", timeout=1.0)
                        raise _Aborted()
                    old, old_session = self._transport, self.session_id
                    self._gen, self._transport = gen, transport
                    session = getattr(first, "session", None)
                    if isinstance(session, Session):
                        self.session = session
                        self.session_id = session.id if isinstance(session.id, str) else None
                    self._state = State.OPEN
        out.release()
        transport.start_reader()
        if renewing and old is not None:
            if not quiet:
                logger.warning("rtsync: renewing while a response is still running; requests queued behind it "
                               "go to the new session")
                # the response running at the switch finishes on the old connection (its events
                # still arrive through the old reader) before that connection closes
                waited, target = 0.0, gate.finished + 1
                while gate.busy and gate.finished < target and waited < 30.0 and not self._stop.wait(0.02):
                    waited += 0.02
            old.close(1000, "session renewed", timeout=2.0)
        if self._session_config:
            self.update_session(dict(self._session_config))
        elif self._has_tools():
            self._send_tools()
        for role, text in items:
            factory = {"user": Item.user_text, "assistant": Item.assistant_text, "system": Item.system_text}[role]
            self.create_item(factory(text))
        logger.info("rtsync: %s (session %s, %d attempt(s))", why, self.session_id, attempt)
        self._queue.put([ReconnectedEvent(reason=why, attempts=attempt, session_id=self.session_id,
                                          previous_session_id=old_session, replayed_items=len(items))])
        self._schedule_renewal()

    def _wait_until_quiet(self, deadline: float) -> bool:
        """Renewal helper: wait until no response or tool call is under way; False at the deadline."""
        gate, runner = self._gate, self._tool_runner
        while True:
            with gate.lock:
                if gate.quiet_locked() and (runner is None or runner.pending == 0):
                    return True
            if time.monotonic() >= deadline or self._stop.wait(0.005):
                return False

    def _text_items(self) -> list[tuple[str, str]]:
        out = []
        for e in self.conversation.items:
            if e.type == "message" and e.role in ("user", "assistant", "system") and e.status != "in_progress":
                # (an assistant message cut off by the drop is left out)
                text = e.text or e.heard_transcript or e.transcript or e.input_transcript
                if text:
                    out.append((str(e.role), text))
        return out

    def _schedule_renewal(self) -> None:
        if self._renew_before is None or self._stop.is_set():
            return
        expires = getattr(self.session, "expires_at", None)
        if not isinstance(expires, (int, float)) or expires <= 0:
            logger.info("rtsync: the session has no expires_at; it will not be renewed")
            return
        delay = max(0.0, expires - self._renew_before - time.time())
        self._start_helper("rtsync-renew", self._renew_after, delay)

    def _renew_after(self, delay: float) -> None:
        if self._stop.wait(delay):
            return
        for attempt in range(1, self._max_attempts + 1):
            if self._state is not State.OPEN:
                return
            try:
                self._switch_to_new_session("renewed", attempt)
                return
            except _Aborted:
                return
            except (RealtimeError, OSError) as exc:
                logger.warning("rtsync: renewing the session failed (attempt %d): %s", attempt, redact(exc))
                if self._stop.wait(min(0.25 * 2 ** attempt, 8.0)):
                    return

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection and stop the client's threads.

        Idempotent and safe from any thread. From a non-callback thread it returns once no
        rtsync thread of this client is alive (each is joined for up to ``timeout`` seconds).
        Called inside a callback, it returns at once; the dispatcher then delivers what had
        already arrived, the ``rtsync.close`` event last, and ends when the current callback
        returns.
        """
        self._stop.set()
        with self._state_lock:
            if self._state in (State.CLOSING, State.CLOSED):
                already = True
            else:
                already = False
                was_open = self._state is State.OPEN
                self._state = State.CLOSING
        joined: set[threading.Thread] = set()
        while True:  # a reconnect thread may hand over to a renewal thread
            helper = self._helper
            if helper is None or helper in joined or helper is threading.current_thread():
                break
            helper.join(timeout)
            joined.add(helper)
        if not already:
            transport = self._transport
            if transport is not None and was_open:
                transport.close(1000, "", timeout=min(timeout, 2.0))
        self._join(timeout)
        runner = self._tool_runner
        if runner is not None:
            runner.close(wait=not self._on_dispatcher_thread())
        rec = self._recorder
        if rec is not None and not self._on_dispatcher_thread():
            rec.close()

    def _join(self, timeout: float) -> None:
        me = threading.current_thread()
        transport = self._transport
        if transport is not None and transport.reader is not None and transport.reader is not me:
            transport.reader.join(timeout)
            if transport.reader.is_alive():
                logger.warning("rtsync: reader thread still alive %.1f s after close()", timeout)
        d = self._dispatcher
        if isinstance(d, ThreadDispatcher) and d.thread.is_alive() and d.thread is not me:
            d.thread.join(timeout)
            if d.thread.is_alive():
                logger.warning("rtsync: a callback is still running %.1f s after close(); "
                               "the dispatcher ends when it returns", timeout)
        with self._state_lock:
            if transport is None or transport.reader is None or not transport.reader.is_alive():
                self._state = State.CLOSED

    def __enter__(self) -> RealtimeClient:
        if self._state is State.UNOPENED:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_dispatcher_thread(self) -> bool:
        d = self._dispatcher
        return d is not None and d.thread_ident == threading.get_ident()

    # -- internal state hook (dispatcher thread) ---------------------------------------------
    def _bookkeeping(self, ev: Event) -> None:
        fns = self._internal.get(ev.type)
        if fns is not None:
            for fn in fns:
                try:
                    fn(ev)
                except Exception:  # a bug of ours: never stop delivery for it
                    logger.exception("rtsync internal handler %r failed on %s", fn, ev.type)

    def _track(self, ev: Event) -> None:
        t = ev.type
        if t == "session.updated" or t == "session.created":
            s = getattr(ev, "session", None)
            if isinstance(s, Session):
                self.session = s
                if t == "session.created":
                    sid = s.id if isinstance(s.id, str) else None
                    if self._seen_session not in (None, sid):
                        self.conversation.reset()  # a new server session starts empty
                    self._seen_session = sid
        elif t == "rtsync.disconnected":
            d = self._dispatcher
            if d is not None:
                d.fail_waiters(ClosedError(f"connection lost (code {ev.code}); reconnecting",  # type: ignore[attr-defined]
                                           code=ev.code, reason=ev.reason))  # type: ignore[attr-defined]
            self._disconnect_seen.set()
        elif t == "rtsync.close":
            self._close_event = ev  # type: ignore[assignment]
            with self._state_lock:
                if self._state is not State.CLOSED:
                    self._state = State.CLOSING if self._state is State.CLOSING else State.CLOSED
        elif t == "error":
            info = getattr(ev, "error", None)
            if getattr(info, "code", None) in FATAL_ERROR_CODES:
                self._fatal = True
            if getattr(info, "code", None) in BENIGN_ERROR_CODES:
                logger.debug("rtsync: benign server error %s", getattr(info, "code", None))
            elif logger.isEnabledFor(20):
                logger.info("rtsync: server error %s: %s", getattr(info, "code", None),
                            redact(getattr(info, "message", "")))

    # -- callbacks -----------------------------------------------------------------------------
    @overload
    def on(self, event: str | type[Event], fn: None = None) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str | type[Event], fn: F) -> F: ...

    def on(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> Any:
        """Register ``fn(event)`` for an event type, an event class, or ``"*"`` (every event).

        Without ``fn``, returns a decorator. Server events and rtsync's own events
        (``rtsync.close``, ``rtsync.callback_error``, ``rtsync.protocol_error``) register the
        same way. An unknown server event goes to callbacks of its type string, of
        ``UnknownEvent`` and of ``"*"``.

        Called on: the ``rtsync-dispatch`` thread (or the thread calling
        :meth:`dispatch_pending` with ``dispatch="pump"``), one event at a time, in arrival
        order. A callback that raises is logged and reported as ``rtsync.callback_error``.
        """
        key = event_key(event)
        if fn is None:
            def deco(f: F) -> F:
                self._registry.add(key, f)
                return f
            return deco
        self._registry.add(key, fn)
        return fn

    @overload
    def once(self, event: str | type[Event], fn: None = None) -> Callable[[F], F]: ...
    @overload
    def once(self, event: str | type[Event], fn: F) -> F: ...

    def once(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> Any:
        """Like :meth:`on`, but the callback is removed before its first call.

        Called on: the same thread as :meth:`on` callbacks.
        """
        key = event_key(event)
        if fn is None:
            def deco(f: F) -> F:
                self._registry.add(key, f, once=True)
                return f
            return deco
        self._registry.add(key, fn, once=True)
        return fn

    def off(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> int:
        """Unregister ``fn`` (or every callback, when ``fn`` is None) for ``event``.

        Returns:
            How many registrations were removed.
        """
        return self._registry.remove(event_key(event), fn)

    def dispatch_pending(self, max_events: int | None = None, max_seconds: float | None = None) -> int:
        """Deliver the events that have arrived, on the calling thread (``dispatch="pump"`` only).

        Args:
            max_events: at most this many events in this call.
            max_seconds: stop after this long (checked between events).

        Returns:
            How many events were delivered.
        """
        d = self._dispatcher
        if not isinstance(d, PumpDispatcher):
            if self._dispatch_mode != "pump":
                raise RuntimeError("dispatch_pending() needs RealtimeClient(..., dispatch='pump')")
            return 0
        return d.dispatch_pending(max_events, max_seconds)

    # -- function tools ------------------------------------------------------------------------
    @property
    def tools(self) -> ToolRegistry:
        """The registered function tools (see :meth:`add_tool`)."""
        if self._tool_registry is None:
            from rtsync.tools import ToolRegistry

            self._tool_registry = ToolRegistry()
        return self._tool_registry

    def _has_tools(self) -> bool:
        return self._tool_registry is not None and len(self._tool_registry) > 0

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Tool:
        """Register ``fn`` as a function tool the model may call; returns its :class:`Tool`.

        The JSON schema comes from ``fn``'s type hints and docstring (see
        :func:`rtsync.tools.function_schema`) unless ``parameters`` is given. The tools go to
        the server in ``session.update``: on :meth:`connect`, and at once when the client is
        already open. A tool of the same name is replaced.

        When a response ends with function calls to registered tools, each call runs on an
        ``rtsync-tool-N`` worker thread (never on the reader or dispatcher thread) with its
        arguments checked against the schema; its result (or ``{"error": ...}`` when it raised)
        goes back as a ``function_call_output`` item, and exactly one ``response.create``
        follows the last output of that response (queued while another response runs). Calls to
        names that are not registered are left to the application.
        """
        tool = self.tools.add(fn, name=name, description=description, parameters=parameters)
        if self._tool_runner is None:
            from rtsync.tools import ToolRunner

            self._tool_runner = ToolRunner(
                self.tools,
                lambda call_id, output: self.create_item(Item.function_output(call_id, output)),
                self._create_follow_up,
                registered_only=True,
            )
        if self._state is State.OPEN:
            self._send_tools()
        return tool

    @overload
    def tool(self, fn: F) -> F: ...
    @overload
    def tool(self, *, name: str | None = None, description: str | None = None,
             parameters: Mapping[str, Any] | None = None) -> Callable[[F], F]: ...

    def tool(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Decorator form of :meth:`add_tool`: ``@client.tool`` or ``@client.tool(name=...)``.

        The function is returned unchanged; it runs on an ``rtsync-tool-N`` worker thread.
        """
        from rtsync.tools import tool_decorator

        return tool_decorator(self.add_tool, fn, name=name, description=description, parameters=parameters)

    def remove_tool(self, name: str) -> bool:
        """Unregister a tool (and tell an open session); ``False`` when there was none."""
        removed = self.tools.remove(name)
        if removed and self._state is State.OPEN:
            self._send_tools()
        return removed

    def _send_tools(self) -> None:
        self.send(ce.SessionUpdate(session=Session(tools=self.tools.tools())))

    def _feed_tools(self, ev: Event) -> None:
        runner = self._tool_runner
        if runner is not None and ev.type == "response.done":
            resp = getattr(ev, "response", None)
            if getattr(resp, "conversation_id", UNSET) is None:
                return  # out-of-band calls are the application's to answer
            runner.on_event(ev)

    # -- sending -----------------------------------------------------------------------------
    def new_event_id(self) -> str:
        """A fresh client event id (unique within this client)."""
        return f"{self._id_prefix}{next(self._ids)}"

    def send(self, event: Event | dict[str, Any]) -> str:
        """Send a client event (an event object or its wire dict). Safe from any thread.

        An unset ``event_id`` is filled in (on the event object itself too).

        Returns:
            The ``event_id`` sent; a server ``error`` caused by it carries the same id.

        Raises:
            ClosedError: the client is not open.
        """
        if self._state is not State.OPEN:
            raise ClosedError(f"cannot send: the client is {self._state.value}",
                              code=self._close_event.code if self._close_event else None,
                              reason=self._close_event.reason if self._close_event else None)
        if isinstance(event, Event):
            if event.event_id is UNSET:
                event.event_id = self.new_event_id()
            eid = event.event_id
            payload = event.to_dict()
        elif isinstance(event, dict):
            if "type" not in event:
                raise ValueError("an event dict needs a 'type'")
            if "event_id" not in event:
                event = {**event, "event_id": self.new_event_id()}
            eid = event["event_id"]
            payload = event
        else:
            raise TypeError(f"send() takes an event or a dict, got {type(event).__name__}")
        if payload.get("type") == "session.update" and isinstance(payload.get("session"), dict):
            self._session_config.update(payload["session"])
        wire = payload if self.dialect == "beta" else _client_to_ga()(payload)
        text = json.dumps(wire, separators=(",", ":"), ensure_ascii=False)
        d = self._dispatcher
        if d is not None:
            self._marks.seq = d.seq  # wait_for on this thread looks at what is delivered from now
        assert self._transport is not None
        rec = self._recorder
        if rec is not None:
            rec.sent(payload)
        self._transport.send_text(text)
        return str(eid)

    def update_session(self, session: Session | dict[str, Any] | None = None, **fields: Any) -> str:
        """Send ``session.update`` with ``session`` and/or keyword fields (e.g. ``voice="alloy"``)."""
        s = _session_from(session, fields)
        if isinstance(s.tools, list) and self._has_tools():
            named = {getattr(t, "name", None) for t in s.tools}
            s.tools = [*s.tools, *(t for t in self.tools.tools() if t.name not in named)]
        return self.send(ce.SessionUpdate(session=s))

    def append_audio(self, audio: Any) -> str:
        """Send ``input_audio_buffer.append`` with pcm16 ``bytes`` or an int16 numpy array."""
        if isinstance(audio, (bytes, bytearray, memoryview)):
            raw = bytes(audio)
        elif hasattr(audio, "dtype") and hasattr(audio, "tobytes"):
            if str(audio.dtype) not in ("int16", ">i2", "<i2"):
                raise TypeError(f"audio array must be int16 pcm, got dtype {audio.dtype}; "
                                "convert float audio with rtsync.audio.float_to_pcm16")
            raw = audio.astype("<i2", copy=False).tobytes()
        else:
            raise TypeError(f"append_audio() takes pcm16 bytes or an int16 array, got {type(audio).__name__}")
        return self.send(ce.InputAudioBufferAppend(audio=base64.b64encode(raw).decode("ascii")))

    def commit_audio(self) -> str:
        """Send ``input_audio_buffer.commit`` (turn buffered audio into a user item)."""
        return self.send(ce.InputAudioBufferCommit())

    def clear_audio(self) -> str:
        """Send ``input_audio_buffer.clear``."""
        return self.send(ce.InputAudioBufferClear())

    def create_item(self, item: Item | dict[str, Any] | str, previous_item_id: str | None = UNSET) -> str:
        """Send ``conversation.item.create``; a plain string becomes a user text message."""
        if isinstance(item, str):
            obj = Item.user_text(item)
        elif isinstance(item, dict):
            obj = Item.from_dict(item)
        else:
            obj = item
        return self.send(ce.ConversationItemCreate(item=obj, previous_item_id=previous_item_id))

    def truncate_item(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> str:
        """Send ``conversation.item.truncate`` (cut an assistant audio item at ``audio_end_ms``)."""
        return self.send(ce.ConversationItemTruncate(item_id=item_id, content_index=content_index,
                                                     audio_end_ms=int(audio_end_ms)))

    def delete_item(self, item_id: str) -> str:
        """Send ``conversation.item.delete``."""
        return self.send(ce.ConversationItemDelete(item_id=item_id))

    def retrieve_item(self, item_id: str) -> str:
        """Send ``conversation.item.retrieve`` (later beta); the item comes back in ``conversation.item.retrieved``."""
        return self.send(ce.ConversationItemRetrieve(item_id=item_id))

    def create_response(self, response: ResponseCreateParams | dict[str, Any] | None = None, **params: Any) -> str:
        """Send ``response.create``; ``response`` and/or keyword params override session settings."""
        obj: ResponseCreateParams | None
        obj = ResponseCreateParams.from_dict(response) if isinstance(response, dict) else response
        if params:
            base = obj.to_dict() if isinstance(obj, ResponseCreateParams) else {}
            base.update(_plain(params))
            obj = ResponseCreateParams.from_dict(base)
        ev = ce.ResponseCreate(response=obj if obj is not None else UNSET, event_id=self.new_event_id())
        if self._on_dispatcher_thread():  # a callback must not wait for a renewal that waits for it
            self._submit_response(ev)
        else:
            with self._switch_lock:
                self._submit_response(ev)
        return str(ev.event_id)

    def _create_follow_up(self) -> None:
        """The tool runner's ``response.create`` after a response's function outputs: it must not
        wait for a renewal, which itself waits for the tool calls under way."""
        self._submit_response(ce.ResponseCreate(event_id=self.new_event_id()))

    def _submit_response(self, ev: ce.ResponseCreate) -> bool:
        """Send ``ev`` now or after the active response; returns whether it went through the gate."""
        if self._state is not State.OPEN:
            self.send(ev)  # raises ClosedError
        if getattr(ev.response, "conversation", UNSET) == "none":
            self.send(ev)  # out of band: never waits for, nor blocks, the default conversation
            return False
        self._gate.submit(ev)
        return True

    @property
    def response_active(self) -> bool:
        """True while a response of the default conversation runs or a ``response.create`` for one
        is in flight; :meth:`create_response` then queues its request until ``response.done``."""
        return self._gate.busy

    @property
    def active_response_id(self) -> str | None:
        """The id of the response running in the default conversation, if any."""
        return self._gate.active_id

    @property
    def queued_responses(self) -> int:
        """``response.create`` requests waiting for the active response to finish."""
        return self._gate.queued

    def cancel_response(self, response_id: str | None = None) -> str:
        """Send ``response.cancel`` (for ``response_id``, or the active response)."""
        return self.send(ce.ResponseCancel(response_id=response_id if response_id else UNSET))

    # -- blocking helpers -----------------------------------------------------------------------
    def _check_can_block(self, what: str) -> None:
        if self._on_dispatcher_thread():
            raise RuntimeError(
                f"{what}() called from a callback would wait for events that only this thread "
                "delivers; call it from another thread"
            )

    def wait_for(
        self,
        event: str | type[Event],
        predicate: Callable[[Any], bool] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Block until an event of that type (matching ``predicate``) is delivered; return it.

        The events that count are those delivered after this thread's latest :meth:`send` (or
        after the latest event a ``wait_for`` on this thread returned, whichever is later), so
        ``client.send(...)`` followed by ``client.wait_for(...)`` cannot miss a fast answer; a
        thread that never sent waits for events delivered after the call. The look-back reaches
        the latest 256 events. The predicate runs on the dispatcher thread after the event's
        callbacks (or on the calling thread, for an event already delivered).

        Raises:
            WaitTimeout: nothing matched within ``timeout`` seconds.
            ClosedError: the connection ended first (or was already closed).
            RuntimeError: called from a callback (it would deadlock).
        """
        self._check_can_block("wait_for")
        d = self._dispatcher
        if d is None:
            raise ClosedError(f"cannot wait: the client is {self._state.value}")
        w = Waiter(event_key(event), predicate)
        marks = self._marks
        since = getattr(marks, "seq", None)
        d.add_waiter(w, since)
        if not w.done.wait(timeout):
            d.remove_waiter(w)
            marks.seq = max(since or 0, d.seq)
            raise WaitTimeout(f"no {event_key(event)!r} event within {timeout:g} s")
        if w.error is not None:
            raise w.error
        marks.seq = w.seq
        return w.event

    def ask(self, text: str, *, timeout: float | None = None, raise_on_incomplete: bool = False,
            **response_options: Any) -> Reply:
        """Send a user message and ``response.create``, wait for ``response.done``, return the reply.

        Text-only output is requested unless ``modalities`` is given. Other keyword arguments
        are ``response.create`` options (``instructions``, ``voice``, ``metadata``, ...).

        Raises:
            ServerError: the server answered one of these requests with an ``error``.
            ResponseFailed: the response ended ``failed`` (or ``incomplete`` with
                ``raise_on_incomplete=True``); ``.reply`` holds what arrived.
            ClosedError: the connection ended first.
            WaitTimeout: no ``response.done`` within ``timeout`` seconds.
        """
        self._check_can_block("ask")
        opts = dict(response_options)
        opts.setdefault("modalities", ["text"])
        item_ev = ce.ConversationItemCreate(item=Item.user_text(text), event_id=self.new_event_id())
        params = ResponseCreateParams.from_dict(_plain(opts))
        resp_ev = ce.ResponseCreate(response=params, event_id=self.new_event_id())
        oob = opts.get("conversation") == "none"
        collector = _ReplyCollector({item_ev.event_id, resp_ev.event_id}, resp_ev.event_id,
                                    None if oob else self._gate)
        d = self._dispatcher
        if d is None:
            raise ClosedError(f"cannot ask: the client is {self._state.value}")
        collector.dispatcher = d
        d.add_hook(collector)
        try:
            # the message and its response.create reach the same session (a renewal holds this
            # lock while the old session finishes what it has; the wait counts against timeout)
            started = time.monotonic()
            if not self._switch_lock.acquire(timeout=-1 if timeout is None else timeout):
                raise WaitTimeout(f"a session renewal did not finish within {timeout:g} s")
            try:
                self.send(item_ev)
                collector.armed = True
                self._submit_response(resp_ev)
            finally:
                self._switch_lock.release()
            remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            if not collector.done.wait(remaining):
                raise WaitTimeout(f"no response.done within {timeout:g} s")
        finally:
            d.remove_hook(collector)
        if collector.seq:  # a wait_for after ask() looks at what came after its response.done
            self._marks.seq = max(getattr(self._marks, "seq", 0) or 0, collector.seq)
        if collector.error is not None:
            raise collector.error
        return self._reply_from(collector, raise_on_incomplete)

    def _reply_from(self, c: _ReplyCollector, raise_on_incomplete: bool) -> Reply:
        assert c.final is not None
        resp = c.final.response
        calls: list[FunctionCall] = []
        item_ids: list[str] = []
        text = "".join(c.text)
        transcript = "".join(c.transcript)
        if isinstance(resp, Response) and isinstance(resp.output, list):
            for item in resp.output:
                if not isinstance(item, Item):
                    continue
                if isinstance(item.id, str):
                    item_ids.append(item.id)
                if item.type == "function_call":
                    calls.append(FunctionCall(name=str(item.name or ""), call_id=str(item.call_id or ""),
                                              arguments=item.arguments if isinstance(item.arguments, str) else "",
                                              item_id=str(item.id or "")))
        audio: Any = None
        if c.audio:
            import numpy as np

            raw = b"".join(base64.b64decode(a) for a in c.audio if isinstance(a, str))
            audio = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
        status = resp.status if isinstance(resp, Response) and isinstance(resp.status, str) else ""
        reply = Reply(
            text=text, transcript=transcript, audio=audio, function_calls=calls,
            usage=resp.usage if isinstance(resp, Response) and isinstance(resp.usage, Usage) else None,
            status=status, response=resp if isinstance(resp, Response) else None,
            response_id=c.response_id or "", item_ids=item_ids,
        )
        if status == "failed" or (raise_on_incomplete and status == "incomplete"):
            details = resp.status_details if isinstance(resp, Response) else None
            err = getattr(details, "error", None)
            raise ResponseFailed(
                redact(getattr(err, "message", None) or f"response {reply.response_id} ended {status}"),
                reply=reply, type=getattr(err, "type", None) or status, code=getattr(err, "code", None)
                or getattr(details, "reason", None),
            )
        return reply


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: dump_value(v) for k, v in d.items()}


def _session_from(session: Session | dict[str, Any] | None, fields: dict[str, Any]) -> Session:
    if isinstance(session, Session):
        base = session.to_dict()
    elif isinstance(session, dict):
        base = dict(session)
    elif session is None:
        base = {}
    else:
        raise TypeError(f"session must be a Session or a dict, got {type(session).__name__}")
    base.update(_plain(fields))
    s: Session = Session.from_dict(base)
    return s

