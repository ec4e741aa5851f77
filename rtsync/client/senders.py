"""Sending: ``send`` and the typed senders of ``RealtimeClient``, each returning a :class:`Request`.

A mixin of :class:`~rtsync.client.RealtimeClient`. Every sender is safe from any thread
(callbacks included) and returns a :class:`~rtsync.client.requests.Request` handle: the
``event_id`` string it sent, with ``wait()`` for the server's answer (see
:mod:`rtsync.client.requests` for which event answers which request).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from typing import TYPE_CHECKING, Any, Callable

import attrs

from rtsync.client.endpoint import _client_to_beta, _client_to_ga
from rtsync.client.requests import ANSWERS, Request, RequestBook, _item_id_of, _unanswered
from rtsync.client.state import State
from rtsync.errors import ClosedError
from rtsync.events import client as ce
from rtsync.events._base import UNSET, Event
from rtsync.events.codec import dump_value
from rtsync.events.local import CloseEvent
from rtsync.events.models import Item, ResponseCreateParams, Session

if TYPE_CHECKING:
    from rtsync.client.responses import ResponseGate
    from rtsync.dispatch import PumpDispatcher, ThreadDispatcher
    from rtsync.tools import ToolRegistry
    from rtsync.transport import Transport

__all__ = ["SendersMixin"]


class SendersMixin:
    """``send``, the typed senders and the response queue's public face."""

    if TYPE_CHECKING:  # provided by RealtimeClient
        _state: State
        _close_event: CloseEvent | None
        _id_prefix: str
        _ids: itertools.count[int]
        _item_ids: itertools.count[int]
        _session_config: dict[str, Any]
        _dispatcher: ThreadDispatcher | PumpDispatcher | None
        _marks: threading.local
        _transport: Transport | None
        _recorder: Any
        _gate: ResponseGate
        _book: RequestBook
        _order_lock: threading.Lock
        _switch_lock: threading.Lock
        dialect: str

        @property
        def tools(self) -> ToolRegistry: ...
        def _has_tools(self) -> bool: ...
        def _on_dispatcher_thread(self) -> bool: ...
        def _check_can_block(self, what: str) -> None: ...

    def new_event_id(self) -> str:
        """A fresh client event id (unique within this client)."""
        return f"{self._id_prefix}{next(self._ids)}"

    def _closed_error(self) -> ClosedError:
        return ClosedError(f"cannot send: the client is {self._state.value}",
                           code=self._close_event.code if self._close_event else None,
                           reason=self._close_event.reason if self._close_event else None)

    def _payload(self, event: Event | dict[str, Any]) -> dict[str, Any]:
        """The wire dict of ``event`` with its ``event_id`` (and a created item's id) filled in."""
        if isinstance(event, Event):
            if event.event_id is UNSET:
                event.event_id = self.new_event_id()
            if isinstance(event, ce.ConversationItemCreate) and isinstance(event.item, Item) \
                    and event.item.id is UNSET:
                event.item = attrs.evolve(event.item, id=self._new_item_id())  # the caller's Item stays as it was
            payload: dict[str, Any] = event.to_dict()
            return payload
        if isinstance(event, dict):
            if "type" not in event:
                raise ValueError("an event dict needs a 'type'")
            if "event_id" not in event:
                event = {**event, "event_id": self.new_event_id()}
            if event["type"] == "conversation.item.create":
                item = event.get("item")
                if isinstance(item, dict) and "id" not in item:
                    event = {**event, "item": {**item, "id": self._new_item_id()}}
            return event
        raise TypeError(f"send() takes an event or a dict, got {type(event).__name__}")

    def _new_item_id(self) -> str:
        return f"item_{self._id_prefix[4:]}{next(self._item_ids)}"

    def _send_payload(self, payload: dict[str, Any]) -> None:
        """Put one client event on the wire (the state was checked)."""
        if payload.get("type") == "session.update" and isinstance(payload.get("session"), dict):
            self._session_config.update(payload["session"])
        wire = _client_to_beta()(payload) if self.dialect == "beta" else _client_to_ga()(payload)
        text = json.dumps(wire, separators=(",", ":"), ensure_ascii=False)
        d = self._dispatcher
        if d is not None:
            self._marks.seq = d.seq  # wait_for on this thread looks at what is delivered from now
        assert self._transport is not None
        rec = self._recorder
        if rec is not None:
            rec.sent(payload)
        self._transport.send_text(text)

    def _request(self, payload: dict[str, Any]) -> Request:
        kind = str(payload.get("type"))
        expects = ANSWERS.get(kind)
        req = Request(str(payload["event_id"]), kind, expects,
                      item_id=_item_id_of(payload) if kind.startswith("conversation.item.") else None,
                      can_block=self._check_can_block if expects is not None else None)
        if kind == "response.cancel" and isinstance(payload.get("response_id"), str):
            req.response_id = payload["response_id"]
        return req

    def _send_unregistered(self, event: Event) -> str:
        """Send without opening a request (the response queue's sends: their request is open)."""
        if self._state is not State.OPEN:
            raise self._closed_error()
        payload = self._payload(event)
        self._send_payload(payload)
        return str(payload["event_id"])

    def send(self, event: Event | dict[str, Any]) -> Request:
        """Send a client event (an event object or its wire dict). Safe from any thread.

        An unset ``event_id`` is filled in (on the event object itself too), and so is the item
        id of a ``conversation.item.create`` (on a copy of the item), so that its answer can be
        told from the items responses add.

        Returns:
            A :class:`~rtsync.client.requests.Request`: the ``event_id`` sent (a ``str``; a
            server ``error`` caused by it carries the same id), whose ``wait()`` returns the
            server event that answers it. A ``response.create`` sent here bypasses the response
            queue (use :meth:`create_response` for that).

        Raises:
            ClosedError: the client is not open.
        """
        if self._state is not State.OPEN:
            raise self._closed_error()
        payload = self._payload(event)
        kind = payload.get("type")
        if kind not in ANSWERS:  # no answer in the protocol (audio appends): nothing to open
            self._send_payload(payload)
            return _unanswered(str(payload["event_id"]), str(kind))
        req = self._request(payload)
        oob = req.type == "response.create" and _out_of_band(payload.get("response"))
        with self._order_lock:  # answers matched in order see the requests in wire order
            self._book.add(req, oob=oob)
            try:
                self._send_payload(payload)
            except BaseException as exc:
                self._book.discard(req, exc if isinstance(exc, ClosedError) else ClosedError(str(exc)))
                raise
        return req

    def update_session(self, session: Session | dict[str, Any] | None = None, **fields: Any) -> Request:
        """Send ``session.update`` with ``session`` and/or keyword fields (e.g. ``voice="alloy"``).

        The fields are those of :class:`~rtsync.events.models.Session`, in rtsync's (beta)
        vocabulary; the GA wire shape is made for you. Those of today's service too:

        * ``reasoning={"effort": "minimal"|"low"|"medium"|"high"|"xhigh"}`` and
          ``parallel_tool_calls=True/False`` (reasoning models, ``gpt-realtime-2*``);
        * ``voice="marin"`` or a custom voice ``voice={"id": "voice_..."}``;
        * ``input_audio_noise_reduction={"type": "near_field"|"far_field", "strength": 0.8}``;
        * ``input_audio_transcription={"model": ..., "language": ..., "prompt": ..., "delay":
          ..., "keywords": [...], "languages": [...]}``;
        * ``turn_detection={"type": "server_vad", ..., "idle_timeout_ms": 6000}``;
        * ``truncation="auto"|"disabled"|{...}``, ``prompt={"id": ...}``, ``tracing="auto"|{...}``.

        On a beta connection the fields that protocol has no place for (``reasoning``,
        ``parallel_tool_calls``, ``truncation``, ``prompt``, a custom voice object, ``strength``,
        ``delay``/``keywords``/``languages``, ``idle_timeout_ms``) are left out, each with one
        :class:`~rtsync.events.dialect.DroppedFieldWarning`; on GA, ``temperature`` is.

        Returns:
            The request; its ``wait()`` returns ``session.updated`` or raises ``ServerError``
            when the server refused the update (an unknown voice, say).
        """
        s = _session_from(session, fields)
        if isinstance(s.tools, list) and self._has_tools():
            named = {getattr(t, "name", None) for t in s.tools}
            s.tools = [*s.tools, *(t for t in self.tools.tools() if t.name not in named)]
        return self.send(ce.SessionUpdate(session=s))

    def append_audio(self, audio: Any) -> Request:
        """Send ``input_audio_buffer.append`` with pcm16 ``bytes`` or an int16 numpy array.

        Returns:
            The request. The protocol has no answer for an append: its ``wait()`` returns
            ``None`` at once (a refusal reaches ``error`` callbacks only).
        """
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

    def commit_audio(self) -> Request:
        """Send ``input_audio_buffer.commit`` (turn buffered audio into a user item); answered by
        ``input_audio_buffer.committed``."""
        return self.send(ce.InputAudioBufferCommit())

    def clear_audio(self) -> Request:
        """Send ``input_audio_buffer.clear``; answered by ``input_audio_buffer.cleared``."""
        return self.send(ce.InputAudioBufferClear())

    def create_item(self, item: Item | dict[str, Any] | str, previous_item_id: str | None = UNSET) -> Request:
        """Send ``conversation.item.create``; a plain string becomes a user text message.

        Returns:
            The request; ``request.item_id`` is the item's id (given, or made by the client) and
            ``wait()`` returns its ``conversation.item.created``.
        """
        if isinstance(item, str):
            obj = Item.user_text(item)
        elif isinstance(item, dict):
            obj = Item.from_dict(item)
        else:
            obj = item
        return self.send(ce.ConversationItemCreate(item=obj, previous_item_id=previous_item_id))

    def truncate_item(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> Request:
        """Send ``conversation.item.truncate`` (cut an assistant audio item at ``audio_end_ms``);
        answered by ``conversation.item.truncated``."""
        return self.send(ce.ConversationItemTruncate(item_id=item_id, content_index=content_index,
                                                     audio_end_ms=int(audio_end_ms)))

    def delete_item(self, item_id: str) -> Request:
        """Send ``conversation.item.delete``; answered by ``conversation.item.deleted``."""
        return self.send(ce.ConversationItemDelete(item_id=item_id))

    def retrieve_item(self, item_id: str) -> Request:
        """Send ``conversation.item.retrieve`` (later beta); the item comes back in
        ``conversation.item.retrieved``, which the request's ``wait()`` returns."""
        return self.send(ce.ConversationItemRetrieve(item_id=item_id))

    def create_response(self, response: ResponseCreateParams | dict[str, Any] | None = None,
                        **params: Any) -> Request:
        """Send ``response.create``; ``response`` and/or keyword params override session settings.

        The params are those of :class:`~rtsync.events.models.ResponseCreateParams`:
        ``modalities``, ``instructions``, ``voice`` (a name or ``{"id": ...}``), ``tools``,
        ``tool_choice``, ``metadata``, ``conversation="none"`` (out of band), ``input`` (items,
        or references ``{"type": "item_reference", "id": ...}`` to items of the conversation),
        and for reasoning models ``reasoning={"effort": ...}`` and ``parallel_tool_calls``
        (left out, with a one-time warning, on a beta connection).

        While a response of the default conversation runs, the request is queued and sent after
        its ``response.done`` (see :attr:`response_active`).

        Returns:
            The request (at once, even when queued); its ``wait()`` returns the ``response.done``
            of the response it made, and ``request.response_id`` is that response's id once it
            was created.
        """
        obj: ResponseCreateParams | None
        obj = ResponseCreateParams.from_dict(response) if isinstance(response, dict) else response
        if params:
            base = obj.to_dict() if isinstance(obj, ResponseCreateParams) else {}
            base.update(_plain(params))
            obj = ResponseCreateParams.from_dict(base)
        ev = ce.ResponseCreate(response=obj if obj is not None else UNSET, event_id=self.new_event_id())
        if self._on_dispatcher_thread():  # a callback must not wait for a renewal that waits for it
            return self._submit_response(ev)
        with self._switch_lock:
            return self._submit_response(ev)

    def _create_follow_up(self) -> None:
        """The tool runner's ``response.create`` after a response's function outputs: it must not
        wait for a renewal, which itself waits for the tool calls under way."""
        self._submit_response(ce.ResponseCreate(event_id=self.new_event_id()))

    def _submit_response(self, ev: ce.ResponseCreate,
                         before_send: Callable[[Request], None] | None = None) -> Request:
        """Send ``ev`` now or after the active response (out of band: now); return its request
        (handed to ``before_send`` first, before the frame goes out)."""
        if self._state is not State.OPEN:
            raise self._closed_error()
        oob = getattr(ev.response, "conversation", UNSET) == "none"
        req = Request(str(ev.event_id), "response.create", "response.done", can_block=self._check_can_block)
        if before_send is not None:
            before_send(req)
        try:
            if oob:  # never waits for, nor blocks, the default conversation
                with self._order_lock:
                    self._book.add(req, oob=True)
                    self._send_unregistered(ev)
            else:
                self._book.add(req, gated=True)
                self._gate.submit(ev)
        except BaseException as exc:
            self._book.discard(req, exc if isinstance(exc, ClosedError) else ClosedError(str(exc)))
            raise
        return req

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

    def cancel_response(self, response_id: str | None = None) -> Request:
        """Send ``response.cancel`` (for ``response_id``, or the active response).

        Returns:
            The request; its ``wait()`` returns the cancelled response's ``response.done``
            (status ``cancelled``, or ``completed`` when it finished first), or raises
            ``ServerError`` with code ``response_cancel_not_active`` when no response was running.
        """
        return self.send(ce.ResponseCancel(response_id=response_id if response_id else UNSET))


def _out_of_band(params: Any) -> bool:
    return isinstance(params, dict) and params.get("conversation") == "none"


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
