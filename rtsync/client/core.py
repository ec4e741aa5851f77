"""The facade: :class:`RealtimeClient` (connect/close, callbacks, senders, ``wait_for``, ``ask``).

What it keeps lives beside it: replies (:mod:`rtsync.client.replies`), the response queue
(:mod:`rtsync.client.responses`), reconnection (:mod:`rtsync.client.reconnect`), the endpoint
(:mod:`rtsync.client.endpoint`). See :mod:`rtsync.client` for the threads.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

from rtsync._log import logger, redact, register_secret
from rtsync.client.endpoint import (
    DEFAULT_MODEL,
    DEFAULT_URL,
    DIALECTS,
    _reparse,
    azure_endpoint,
    choose_dialect,
    handshake_headers,
    session_dialect,
)
from rtsync.client.reconnect import FATAL_ERROR_CODES, ReconnectPolicy, _Out, _ReconnectMixin, _resolve_policy
from rtsync.client.replies import BENIGN_ERROR_CODES, Reply, ReplyCollector, reply_from
from rtsync.client.requests import EVENT_TYPES as REQUEST_EVENT_TYPES
from rtsync.client.requests import RequestBook
from rtsync.client.responses import ResponseGate
from rtsync.client.senders import SendersMixin, _plain
from rtsync.client.state import State
from rtsync.client.tooling import ToolsMixin
from rtsync.conversation import Conversation
from rtsync.dispatch import HandlerRegistry, PumpDispatcher, ThreadDispatcher, Waiter, event_key
from rtsync.errors import BetaShapeDisabledError, ClosedError, WaitTimeout
from rtsync.events import client as ce
from rtsync.events._base import Event
from rtsync.events.codec import warm_loaders
from rtsync.events.local import CloseEvent
from rtsync.events.models import Item, ResponseCreateParams, Session
from rtsync.transport import Transport, build_url

if TYPE_CHECKING:
    from rtsync.tools import ToolRegistry, ToolRunner

__all__ = ["RealtimeClient"]

F = TypeVar("F", bound=Callable[..., Any])


class RealtimeClient(SendersMixin, ToolsMixin, _ReconnectMixin):
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
        reconnect: ``True`` (reconnect after a drop with the default :class:`ReconnectPolicy`),
            ``False`` (the default: a drop ends the client), or a :class:`ReconnectPolicy` for
            backoff, attempts, renewal before expiry and replay of text items. The preferred
            spelling: ``reconnect=ReconnectPolicy(renew_before=60, replay_text_items=True)``.
        max_reconnect_attempts: older spelling of ``ReconnectPolicy(max_attempts=...)`` (6 when
            not given); only with ``reconnect=True``/``False``.
        renew_before: older spelling of ``ReconnectPolicy(renew_before=...)``; with
            ``reconnect=False`` it renews without reconnecting after drops.
        replay_text_items: older spelling of ``ReconnectPolicy(replay_text_items=...)``.
        insecure_disable_tls_verification: turn off certificate checks (never do this against
            the real service; it is logged as a warning).

    The key never appears in logs, reprs or exception messages.

    Requests: ``send`` and every typed sender return a :class:`~rtsync.client.requests.Request`,
    the ``event_id`` string sent, whose ``wait(timeout=None)`` returns the server event that
    answers it, or raises :class:`~rtsync.errors.ServerError` when the server answered it with an
    ``error`` (``ClosedError`` when the connection ended first, ``WaitTimeout`` on timeout):

    ===================================  ======================================================
    sender                               ``wait()`` returns
    ===================================  ======================================================
    :meth:`update_session`               ``session.updated``
    :meth:`append_audio`                 ``None`` at once (the protocol has no answer)
    :meth:`commit_audio`                 ``input_audio_buffer.committed``
    :meth:`clear_audio`                  ``input_audio_buffer.cleared``
    :meth:`create_item`                  ``conversation.item.created`` (of ``request.item_id``)
    :meth:`truncate_item`                ``conversation.item.truncated``
    :meth:`delete_item`                  ``conversation.item.deleted``
    :meth:`retrieve_item`                ``conversation.item.retrieved``
    :meth:`create_response`              ``response.done`` of the response it made (also queued)
    :meth:`cancel_response`              ``response.done`` of the cancelled response
    ===================================  ======================================================

    The answer is taken when it is delivered, so it is never missed however early it comes;
    :mod:`rtsync.client.requests` says how each answer is matched. :meth:`ask` is built on these
    handles.

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
        reconnect: bool | ReconnectPolicy = False,
        insecure_disable_tls_verification: bool = False,
        max_reconnect_attempts: int | None = None,
        renew_before: float | None = None,
        replay_text_items: bool | None = None,
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
        self._gate = ResponseGate(self._send_unregistered)
        #: open requests and the events that answer them (see rtsync.client.requests)
        self._book = RequestBook(self._gate)
        self._order_lock = threading.Lock()  # held from opening a request to its frame being sent
        self._tool_registry: ToolRegistry | None = None  # created by the first add_tool
        self._tool_runner: ToolRunner | None = None
        self._tools_lock = threading.Lock()
        # the client's own per-type bookkeeping, run before the callbacks of each event
        table: dict[str, list[Callable[[Event], None]]] = {}
        ended = ("rtsync.close", "rtsync.disconnected")
        for types, fn in (
            # open requests fail first: _track lets a reconnection go on, which opens new ones
            (ended, self._book.on_event),
            (("session.created", "session.updated", "rtsync.close", "rtsync.disconnected", "error"), self._track),
            (("response.created", "response.done", "error", "rtsync.close", "rtsync.disconnected"),
             self._gate.on_event),
            (self.conversation.event_types, self.conversation.apply),
            (("response.done",), self._feed_tools),
            # after the gate: it reads gate.created_for
            (tuple(t for t in REQUEST_EVENT_TYPES if t not in ended), self._book.on_event),
        ):
            for t in types:
                table.setdefault(t, []).append(fn)
        self._internal = {t: tuple(fns) for t, fns in table.items()}
        self._hooks: list[Callable[[Event], None]] = [self._bookkeeping]
        self._ping = (ping_interval, ping_timeout)
        self._marks = threading.local()  # per thread: delivery number at the latest send/wait_for
        self._policy: ReconnectPolicy | None = _resolve_policy(
            reconnect, max_reconnect_attempts, renew_before, replay_text_items)
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
        self._item_ids = itertools.count(1)
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
        url, dialect, az_headers = azure_endpoint(endpoint, deployment, api_key, token, api_version)
        options.setdefault("dialect", dialect)
        headers = {**(options.pop("headers", None) or {}), **az_headers}
        register_secret(token)
        register_secret(api_key)
        return cls(model=None, api_key="", url=url, headers=headers, **options)

    # -- representation ----------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"<RealtimeClient {self._state.value} model={self.model!r} dialect={self.dialect} "
                f"url={redact(self.url)!r}>")

    @property
    def state(self) -> str:
        """Where the client is in its lifecycle (the value of a :class:`rtsync.client.State`):

        * ``"unopened"``: created; :meth:`connect` not called yet.
        * ``"connecting"``: :meth:`connect` is opening the WebSocket and waiting for
          ``session.created``.
        * ``"open"``: connected; ``send`` and the typed senders work.
        * ``"reconnecting"``: the connection dropped and the reconnection policy is opening a
          new one (between ``rtsync.disconnected`` and ``rtsync.reconnected``); ``send`` raises
          :class:`~rtsync.errors.ClosedError`.
        * ``"closing"``: :meth:`close` was called, or the connection ended and ``rtsync.close``
          has not been delivered yet; the threads are winding down.
        * ``"closed"``: over for good; a client is never opened twice.
        """
        return self._state.value

    @property
    def reconnect_policy(self) -> ReconnectPolicy | None:
        """The reconnection and renewal policy in force (``None``: neither reconnect nor renew)."""
        return self._policy

    @property
    def is_open(self) -> bool:
        """True while the connection is open."""
        return self._state is State.OPEN

    # -- lifecycle ---------------------------------------------------------------------------
    def _handshake_headers(self) -> dict[str, str]:
        return handshake_headers(self.dialect, self._api_key, self._extra_headers)

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
        found = session_dialect(first, self.dialect)
        if found != self.dialect:
            logger.info("rtsync: the server's session.created is in the %s shape; speaking %s", found, found)
            self.dialect = found
            transport.dialect = found
            first = _reparse(first, found)  # for self.session
        return first

    def _new_transport(self, gen: int, out: Any = None) -> Transport:
        if out is None:
            out = self._queue if self._policy is None else _Out(self, gen)
        return Transport(self.url, self._handshake_headers(), out,
                         connect_timeout=self._connect_timeout, sslopt=self._sslopt,
                         ping_interval=self._ping[0], ping_timeout=self._ping[1], dialect=self.dialect)

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
        return self._registry.register(event, fn)

    @overload
    def once(self, event: str | type[Event], fn: None = None) -> Callable[[F], F]: ...
    @overload
    def once(self, event: str | type[Event], fn: F) -> F: ...

    def once(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> Any:
        """Like :meth:`on`, but the callback is removed before its first call.

        Called on: the same thread as :meth:`on` callbacks.
        """
        return self._registry.register(event, fn, once=True)

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

        To wait for the answer to a request of your own, prefer the handle the sender returned
        (``client.update_session(...).wait()``): it also raises the server's refusal of that
        request, where ``wait_for`` would wait for the event type until the timeout.

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
        are ``response.create`` options (``instructions``, ``voice``, ``metadata``,
        ``reasoning={"effort": "high"}``, ``parallel_tool_calls``...; see
        :meth:`create_response`).

        A reasoning model may answer with a preamble message (``phase: "commentary"``) before
        the answer: ``reply.text``/``reply.transcript`` hold the answer, ``reply.preamble`` the
        preamble and ``reply.messages`` each message (see :class:`~rtsync.client.Reply`).

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
        d = self._dispatcher
        if d is None:
            raise ClosedError(f"cannot ask: the client is {self._state.value}")
        collector = ReplyCollector()
        collector.dispatcher = d
        d.add_hook(collector)
        try:
            # the message and its response.create reach the same session (a renewal holds this
            # lock while the old session finishes what it has; the wait counts against timeout)
            started = time.monotonic()
            if not self._switch_lock.acquire(timeout=-1 if timeout is None else timeout):
                raise WaitTimeout(f"a session renewal did not finish within {timeout:g} s")
            try:
                collector.watch(self.send(item_ev))
                self._submit_response(resp_ev, lambda req: collector.watch(req, response=True))
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
        return reply_from(collector, raise_on_incomplete)
