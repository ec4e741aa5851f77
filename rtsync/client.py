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
from typing import Any, Callable, TypeVar, overload

import attrs

from rtsync._log import logger, redact, register_secret
from rtsync.dispatch import HandlerRegistry, PumpDispatcher, ThreadDispatcher, Waiter, event_key
from rtsync.errors import ClosedError, ResponseFailed, ServerError, WaitTimeout
from rtsync.events import client as ce
from rtsync.events import server as se
from rtsync.events._base import UNSET, Event
from rtsync.events.codec import dump_value
from rtsync.events.local import CloseEvent
from rtsync.events.models import Item, Response, ResponseCreateParams, Session, Usage
from rtsync.transport import Transport, build_url

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "FunctionCall", "RealtimeClient", "Reply"]

DEFAULT_MODEL = "gpt-4o-realtime-preview-2024-10-01"
DEFAULT_URL = "wss://api.openai.com/v1/realtime"

F = TypeVar("F", bound=Callable[..., Any])


class State(enum.Enum):
    """Lifecycle of a client: UNOPENED -> OPEN -> CLOSING -> CLOSED."""

    UNOPENED = "unopened"
    CONNECTING = "connecting"
    OPEN = "open"
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

    def __init__(self, request_ids: set[str]) -> None:
        self.request_ids = request_ids
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
                self.error = _server_error(ev)
                self.done.set()
            return
        if t == "rtsync.close":
            reason = f": {ev.reason}" if ev.reason else ""  # type: ignore[attr-defined]
            self.error = ClosedError(f"connection closed before the response finished (code "
                                     f"{ev.code}{reason})", code=ev.code, reason=ev.reason)  # type: ignore[attr-defined]
            self.done.set()
            return
        if not self.armed:
            return
        if self.response_id is None:
            if t == "response.created":
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
            self.done.set()


def _server_error(ev: Event) -> ServerError:
    info = getattr(ev, "error", None)
    get = (lambda k: getattr(info, k, None) or None) if info is not None else (lambda k: None)
    return ServerError(
        redact(get("message") or "server error"),
        type=get("type"), code=get("code"), param=get("param"), event_id=get("event_id"), event=ev,
    )


class RealtimeClient:
    """A connection to a Realtime server, with callbacks.

    Args:
        model: the model, merged into ``url``'s query as ``model=`` (replacing one there).
        api_key: the key; ``OPENAI_API_KEY`` when not given. May be omitted for a local server.
        url: the full WebSocket endpoint; other query parameters in it are kept.
        headers: extra handshake headers.
        dispatch: ``"thread"`` (callbacks on the ``rtsync-dispatch`` thread) or ``"pump"``
            (callbacks run only inside :meth:`dispatch_pending`, e.g. from a Tk ``after`` loop).
        connect_timeout: seconds allowed for the handshake and the first ``session.created``.
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
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        url: str = DEFAULT_URL,
        *,
        headers: dict[str, str] | None = None,
        dispatch: str = "thread",
        connect_timeout: float = 15.0,
        insecure_disable_tls_verification: bool = False,
    ) -> None:
        if dispatch not in ("thread", "pump"):
            raise ValueError(f"dispatch must be 'thread' or 'pump', got {dispatch!r}")
        self.model = model
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or None
        register_secret(self._api_key)
        self.url = build_url(url, model)
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
        self._hooks: list[Callable[[Event], None]] = [self._track]
        self._queue: queue.SimpleQueue[list[Event]] = queue.SimpleQueue()
        self._transport: Transport | None = None
        self._dispatcher: ThreadDispatcher | PumpDispatcher | None = None
        self._id_prefix = "evt_" + os.urandom(4).hex() + "_"
        self._ids = itertools.count(1)
        self.session: Session | None = None
        self.session_id: str | None = None
        self._close_event: CloseEvent | None = None

    # -- representation ----------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<RealtimeClient {self._state.value} model={self.model!r} url={redact(self.url)!r}>"

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
        h = {"OpenAI-Beta": "realtime=v1"}
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
        transport = Transport(self.url, self._handshake_headers(), self._queue,
                              connect_timeout=self._connect_timeout, sslopt=self._sslopt)
        try:
            first = transport.connect()
        except BaseException:
            with self._state_lock:
                self._state = State.CLOSED
            raise
        self._transport = transport
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
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection and stop the client's threads.

        Idempotent and safe from any thread. From a non-callback thread it returns once no
        rtsync thread of this client is alive (each is joined for up to ``timeout`` seconds).
        Called inside a callback, it returns at once; the dispatcher then delivers what had
        already arrived, the ``rtsync.close`` event last, and ends when the current callback
        returns.
        """
        with self._state_lock:
            if self._state in (State.CLOSING, State.CLOSED):
                already = True
            else:
                already = False
                was_open = self._state is State.OPEN
                self._state = State.CLOSING
        if not already:
            transport = self._transport
            if transport is not None and was_open:
                transport.close(1000, "", timeout=min(timeout, 2.0))
        self._join(timeout)

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
    def _track(self, ev: Event) -> None:
        t = ev.type
        if t == "session.updated" or t == "session.created":
            s = getattr(ev, "session", None)
            if isinstance(s, Session):
                self.session = s
        elif t == "rtsync.close":
            self._close_event = ev  # type: ignore[assignment]
            with self._state_lock:
                if self._state is not State.CLOSED:
                    self._state = State.CLOSING if self._state is State.CLOSING else State.CLOSED
        elif t == "error":
            info = getattr(ev, "error", None)
            if logger.isEnabledFor(20):
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
            text = event.to_json()
        elif isinstance(event, dict):
            if "type" not in event:
                raise ValueError("an event dict needs a 'type'")
            if "event_id" not in event:
                event = {**event, "event_id": self.new_event_id()}
            eid = event["event_id"]
            text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        else:
            raise TypeError(f"send() takes an event or a dict, got {type(event).__name__}")
        assert self._transport is not None
        self._transport.send_text(text)
        return str(eid)

    def update_session(self, session: Session | dict[str, Any] | None = None, **fields: Any) -> str:
        """Send ``session.update`` with ``session`` and/or keyword fields (e.g. ``voice="alloy"``)."""
        s = _session_from(session, fields)
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
        return self.send(ce.ResponseCreate(response=obj if obj is not None else UNSET))

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

        Only events delivered after the call count. The predicate runs on the dispatcher
        thread, after the event's callbacks.

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
        d.add_waiter(w)
        if not w.done.wait(timeout):
            d.remove_waiter(w)
            raise WaitTimeout(f"no {event_key(event)!r} event within {timeout:g} s")
        if w.error is not None:
            raise w.error
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
        collector = _ReplyCollector({item_ev.event_id, resp_ev.event_id})
        d = self._dispatcher
        if d is None:
            raise ClosedError(f"cannot ask: the client is {self._state.value}")
        d.add_hook(collector)
        try:
            self.send(item_ev)
            collector.armed = True
            self.send(resp_ev)
            if not collector.done.wait(timeout):
                raise WaitTimeout(f"no response.done within {timeout:g} s")
        finally:
            d.remove_hook(collector)
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

