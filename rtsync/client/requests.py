"""Request handles: what ``send`` and the typed senders return, and the book that answers them.

A :class:`Request` stands for the ``event_id`` it sent (it *is* that string: equal to it, same
hash) and can be waited on. The client's :class:`RequestBook` resolves every open request on
the dispatcher thread, in arrival order, as the answering event is delivered (before the
callbacks of that event run), so an answer that arrives before :meth:`Request.wait` is called
is never missed.

Which event answers which request (the client sees the beta vocabulary in both dialects):

==============================  ==========================================  =====================
request                         answer (what ``wait()`` returns)             matched by
==============================  ==========================================  =====================
``session.update``              ``session.updated``                         order
``transcription_session.update`` ``transcription_session.updated``          order
``input_audio_buffer.append``   none: ``wait()`` returns ``None`` at once   --
``input_audio_buffer.commit``   ``input_audio_buffer.committed``            order
``input_audio_buffer.clear``    ``input_audio_buffer.cleared``              order
``output_audio_buffer.clear``   ``output_audio_buffer.cleared``             order
``conversation.item.create``    ``conversation.item.created``               item id
``conversation.item.truncate``  ``conversation.item.truncated``             item id
``conversation.item.delete``    ``conversation.item.deleted``               item id
``conversation.item.retrieve``  ``conversation.item.retrieved``             item id
``response.create``             ``response.done`` of the response it made   response id
``response.cancel``             ``response.done`` of the cancelled response response id
any other type                  none: ``wait()`` returns ``None`` at once   --
==============================  ==========================================  =====================

* An ``error`` event whose ``event_id`` is the request's answers it too: ``wait()`` raises
  :class:`~rtsync.errors.ServerError` (type, code, message, param, event_id). The one exception
  is ``conversation_already_has_active_response`` for a ``response.create`` of
  ``create_response``/``ask``: the client sends that create again after the active response
  (see :mod:`rtsync.client.responses`), so the handle keeps waiting for its response.
* ``conversation.item.create`` without an item id gets one from the client (``item_...``), so
  that its answer is found by id among the items responses add; ``request.item_id`` has it.
* ``response.create`` from ``create_response`` (queued or not) is matched through the response
  queue, which knows which create each ``response.created`` answers; one sent with plain
  ``send`` (and out-of-band ones, ``conversation: "none"``) takes the next ``response.created``
  of its kind (default conversation, or out of band) that no queued create claims.
  ``request.response_id`` is set once the response was created.
* ``response.cancel`` without a ``response_id`` targets the response the client knew to be
  running when it was sent, or, if none was known, the next ``response.done``. No response
  running on the server: ``ServerError`` with code ``response_cancel_not_active``.
* "Order": the n-th such answer answers the n-th such request still open. Answers the server
  sends on its own count too (``input_audio_buffer.committed`` of server VAD, say).
* The connection ends (or drops, under a reconnection policy) before the answer: ``wait()``
  raises :class:`~rtsync.errors.ClosedError`.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from rtsync.client.replies import server_error
from rtsync.errors import ClosedError, WaitTimeout
from rtsync.events._base import UNSET, Event

if TYPE_CHECKING:
    from rtsync.client.responses import ResponseGate

__all__ = ["ANSWERS", "Request", "RequestBook"]

#: client event type -> the server event type that answers it (the table in the module docstring).
ANSWERS: dict[str, str] = {
    "session.update": "session.updated",
    "transcription_session.update": "transcription_session.updated",
    "input_audio_buffer.commit": "input_audio_buffer.committed",
    "input_audio_buffer.clear": "input_audio_buffer.cleared",
    "output_audio_buffer.clear": "output_audio_buffer.cleared",
    "conversation.item.create": "conversation.item.created",
    "conversation.item.truncate": "conversation.item.truncated",
    "conversation.item.delete": "conversation.item.deleted",
    "conversation.item.retrieve": "conversation.item.retrieved",
    "response.create": "response.done",
    "response.cancel": "response.done",
}
_BY_ORDER = frozenset({"session.updated", "transcription_session.updated", "input_audio_buffer.committed",
                       "input_audio_buffer.cleared", "output_audio_buffer.cleared"})
_BY_ITEM = frozenset({"conversation.item.created", "conversation.item.truncated", "conversation.item.deleted",
                      "conversation.item.retrieved"})
#: the event types the book looks at (the client feeds it only these)
EVENT_TYPES = (*_BY_ORDER, *_BY_ITEM, "response.created", "response.done", "error", "rtsync.close",
               "rtsync.disconnected")
_RETRIED = "conversation_already_has_active_response"


class Request(str):
    """A request sent to the server: the ``event_id`` string it went with, and a way to wait for
    the answer.

    It compares equal to and hashes like that ``event_id`` (it is a ``str``), so code that keeps
    the return value of ``send`` as a string works unchanged. See :mod:`rtsync.client.requests`
    for which server event answers which request.

    Attributes:
        type: the client event type sent (``"session.update"``, ...).
        expects: the server event type that answers it, or ``None`` when the protocol has no
            answer for it (``input_audio_buffer.append``, unknown types).
        item_id: the item a ``conversation.item.*`` request is about (for
            ``conversation.item.create``, the item's id, filled in by the client when absent).
        response_id: for ``response.create``, the id of the response it made, once
            ``response.created`` has been delivered; for ``response.cancel``, the response it
            targets when that was known.
    """

    type: str
    expects: str | None = None
    item_id: str | None = None
    response_id: str | None = None
    # class-level defaults: a request without an answer (an audio append, many per second)
    # sets only its type
    _can_block: Callable[[str], None] | None = None
    _done: threading.Event | None = None
    _event: Event | None = None
    _error: BaseException | None = None
    _gated = False
    _oob = False

    def __new__(cls, event_id: str, type: str, expects: str | None = None, *, item_id: str | None = None,
                can_block: Callable[[str], None] | None = None) -> Request:
        self = super().__new__(cls, event_id)
        self.type = type
        if expects is not None:
            self.expects = expects
            self._done = threading.Event()
            self._can_block = can_block
        if item_id is not None:
            self.item_id = item_id
        return self

    @property
    def event_id(self) -> str:
        """The ``event_id`` sent (the same string as the request itself)."""
        return str(self)

    def done(self) -> bool:
        """True once the request was answered (or failed); always True without an answer."""
        d = self._done
        return d is None or d.is_set()

    def wait(self, timeout: float | None = None) -> Event | None:
        """Block until the server answers this request; return the answering event.

        Returns at once when the answer was already delivered. For a request without an answer
        in the protocol (``expects is None``: ``input_audio_buffer.append``, unknown types) it
        returns ``None`` at once; a server ``error`` about such a request reaches ``error``
        callbacks only.

        Raises:
            ServerError: the server answered this request with an ``error`` (carrying its
                ``event_id``), with its type, code, message and param.
            WaitTimeout: no answer within ``timeout`` seconds (also a ``TimeoutError``).
            ClosedError: the connection ended (or dropped) before the answer.
            RuntimeError: called from a callback before the answer arrived (the answer is
                delivered by the thread that runs callbacks, so it would wait for itself).
        """
        d = self._done
        if d is None:
            return None
        if not d.is_set():
            if self._can_block is not None:
                self._can_block("Request.wait")
            if not d.wait(timeout):
                raise WaitTimeout(f"no answer to {self.type} {str(self)!r} within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self._event

    @property
    def error(self) -> BaseException | None:
        """The exception :meth:`wait` raises (``ServerError``/``ClosedError``), once known; else ``None``."""
        return self._error

    # -- set by the book, on the dispatcher thread ------------------------------------------------
    def _resolve(self, ev: Event) -> None:
        if self._done is not None and not self._done.is_set():
            self._event = ev
            self._done.set()

    def _fail(self, exc: BaseException) -> None:
        if self._done is not None and not self._done.is_set():
            self._error = exc
            self._done.set()


class RequestBook:
    """The client's open requests and the events that answer them.

    :meth:`add` is called from any thread before the request's frame is sent; :meth:`on_event`
    from the dispatcher thread for the types in :data:`EVENT_TYPES` (a dict lookup away from
    every other event). One short lock guards the tables.
    """

    def __init__(self, gate: ResponseGate) -> None:
        self._gate = gate
        self._lock = threading.Lock()
        self._open: dict[str, Request] = {}  # every open request, by event_id
        self._by_order: dict[str, deque[Request]] = {t: deque() for t in _BY_ORDER}
        self._by_item: dict[tuple[str, str], deque[Request]] = {}
        self._ungated: deque[Request] = deque()  # response.create sent with send(), default conversation
        self._oob: deque[Request] = deque()  # out-of-band response.create
        self._by_response: dict[str, list[Request]] = {}  # response.done answers (creates and cancels)
        self._next_done: list[Request] = []  # cancels without a known target
        self._ended: ClosedError | None = None  # set when the connection ended: new requests fail at once

    def add(self, req: Request, *, gated: bool = False, oob: bool = False) -> None:
        """Open ``req`` (before its frame goes out)."""
        expects = req.expects
        if expects is None:
            return
        req._gated, req._oob = gated, oob
        with self._lock:
            if self._ended is not None:
                req._fail(self._ended)
                return
            self._open[str(req)] = req
            if expects in _BY_ORDER:
                self._by_order[expects].append(req)
            elif expects in _BY_ITEM:
                self._by_item.setdefault((expects, req.item_id or ""), deque()).append(req)
            elif req.type == "response.create":
                if oob:
                    self._oob.append(req)
                elif not gated:
                    self._ungated.append(req)
            elif req.type == "response.cancel":
                target = req.response_id or self._gate.active_id
                if target:
                    req.response_id = target
                    self._by_response.setdefault(target, []).append(req)
                else:
                    self._next_done.append(req)

    def discard(self, req: Request, exc: BaseException) -> None:
        """Close ``req`` with ``exc`` (its frame could not be sent)."""
        with self._lock:
            self._open.pop(str(req), None)
        req._fail(exc)

    def revive(self) -> None:
        """A new connection is open (reconnected): requests may be opened again."""
        with self._lock:
            self._ended = None

    # -- dispatcher thread ---------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        t = ev.type
        if t in _BY_ORDER:
            with self._lock:
                q = self._by_order[t]
                while q:
                    req = q.popleft()
                    if not req.done():
                        self._answer(req, ev)
                        return
        elif t in _BY_ITEM:
            if t == "conversation.item.created" or t == "conversation.item.retrieved":
                item_id = getattr(getattr(ev, "item", None), "id", None)
            else:
                item_id = getattr(ev, "item_id", None)
            if not isinstance(item_id, str):
                return
            with self._lock:
                iq = self._by_item.get((t, item_id))
                while iq:
                    req = iq.popleft()
                    if not req.done():
                        self._answer(req, ev)
                        break
                if iq is not None and not iq:
                    del self._by_item[(t, item_id)]
        elif t == "response.created":
            self._created(ev)
        elif t == "response.done":
            rid = getattr(getattr(ev, "response", None), "id", None)
            with self._lock:
                waiting = self._by_response.pop(rid, ()) if isinstance(rid, str) else ()
                nexts, self._next_done = self._next_done, []
                for req in (*waiting, *nexts):
                    self._answer(req, ev)
        elif t == "error":
            self._error(ev)
        elif t == "rtsync.close" or t == "rtsync.disconnected":
            code, reason = getattr(ev, "code", None), getattr(ev, "reason", None)
            why = "closed" if t == "rtsync.close" else "lost (reconnecting)"
            exc = ClosedError(f"connection {why} before the server answered (code {code}"
                              f"{': ' + reason if reason else ''})", code=code, reason=reason)
            with self._lock:
                self._ended = exc
                pending = list(self._open.values())
                self._open.clear()
                for q in self._by_order.values():
                    q.clear()
                self._by_item.clear()
                self._ungated.clear()
                self._oob.clear()
                self._by_response.clear()
                self._next_done = []
            for req in pending:
                req._fail(exc)

    def _answer(self, req: Request, ev: Event) -> None:
        """(lock held)"""
        self._open.pop(str(req), None)
        req._resolve(ev)

    def _created(self, ev: Event) -> None:
        resp = getattr(ev, "response", None)
        rid = getattr(resp, "id", None)
        if not isinstance(rid, str):
            return
        oob = getattr(resp, "conversation_id", UNSET) is None
        with self._lock:
            req: Request | None = None
            if oob:
                q = self._oob
            else:
                claimed = self._gate.created_for  # set by the gate for this very event
                req = self._open.get(claimed) if claimed is not None else None
                if req is not None and (not req._gated or req.response_id is not None):
                    req = None
                q = self._ungated if req is None and claimed is None else deque()
            while req is None and q:
                cand = q.popleft()
                if not cand.done():
                    req = cand
            if req is not None:
                req.response_id = rid
                self._by_response.setdefault(rid, []).append(req)

    def _error(self, ev: Event) -> None:
        info = getattr(ev, "error", None)
        eid = getattr(info, "event_id", None)
        if not isinstance(eid, str):
            return
        with self._lock:
            req = self._open.get(eid)
            if req is None:
                return
            if req._gated and getattr(info, "code", None) == _RETRIED:
                # sent again after the active response: forget a response wrongly taken for its own
                rid = req.response_id
                if rid is not None:
                    waiting = self._by_response.get(rid)
                    if waiting is not None and req in waiting:
                        waiting.remove(req)
                    req.response_id = None
                return
            del self._open[eid]
        req._fail(server_error(ev))


def _new_item_id(prefix: str, n: int) -> str:
    """A client-made item id (``item_<prefix><n>``; at most 32 characters)."""
    return f"item_{prefix}{n}"


def _item_id_of(payload: dict[str, Any]) -> str | None:
    """The item id a ``conversation.item.*`` request payload names."""
    if payload.get("type") == "conversation.item.create":
        item = payload.get("item")
        iid = item.get("id") if isinstance(item, dict) else None
    else:
        iid = payload.get("item_id")
    return iid if isinstance(iid, str) else None


def _unanswered(event_id: str, type: str) -> Request:
    """A :class:`Request` for a client event without an answer (the fast path of audio appends)."""
    req = str.__new__(Request, event_id)
    req.type = type
    return req
