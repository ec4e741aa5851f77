"""What ``ask`` returns and how it is gathered: :class:`Reply`, :class:`FunctionCall`, the collector.

A :class:`ReplyCollector` is an internal dispatcher hook: it gathers the text, transcript and
audio deltas of one response (on the dispatcher thread) until its ``response.done``;
:func:`reply_from` turns what it gathered into a :class:`Reply`.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import TYPE_CHECKING, Any

import attrs

from rtsync._log import redact
from rtsync.errors import ResponseFailed, ServerError
from rtsync.events import server as se
from rtsync.events._base import Event
from rtsync.events.models import Item, Response, Usage

if TYPE_CHECKING:
    from rtsync.client.requests import Request

__all__ = [
    "BENIGN_ERROR_CODES",
    "FunctionCall",
    "Reply",
    "ReplyCollector",
    "ReplyMessage",
    "reply_from",
    "server_error",
]

#: The ``phase`` of a preamble message (reasoning models); the answer's is ``"final_answer"``.
_COMMENTARY = "commentary"


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
class ReplyMessage:
    """One output message of a response (a reasoning model's preamble, or an answer).

    Attributes:
        item_id: the conversation item of the message.
        phase: ``"commentary"`` (a preamble), ``"final_answer"``, or ``None`` when the server
            gave none (models without reasoning).
        text: its text output (its ``response.text.delta``, joined).
        transcript: the transcript of its audio.
        audio: its audio as pcm16 samples (int16 numpy array), or ``None``.
    """

    item_id: str
    phase: str | None = None
    text: str = ""
    transcript: str = ""
    audio: Any = None

    @property
    def is_preamble(self) -> bool:
        """True for a ``commentary`` message."""
        return self.phase == _COMMENTARY


@attrs.define(kw_only=True)
class Reply:
    """What :meth:`RealtimeClient.ask` returns: one finished response, gathered.

    A reasoning model (``gpt-realtime-2*``) may answer with several messages in one response: a
    short preamble (``phase: "commentary"``, "Let me check.") and then the answer (``phase:
    "final_answer"``). ``text`` and ``transcript`` hold the answer, ``preamble`` the preamble,
    ``messages`` each message apart, and ``audio`` everything spoken, in order.

    Attributes:
        text: the answer's text output: the text of every message whose phase is not
            ``commentary``, joined.
        transcript: the transcript of the answer's audio (messages whose phase is not
            ``commentary``).
        preamble: the text (or, for audio, the transcript) of the ``commentary`` messages;
            ``""`` when there is none.
        messages: every output message, in output order (:class:`ReplyMessage`).
        audio: all the audio output as pcm16 samples (int16 numpy array; ``None`` if none),
            preamble and answer in the order they were spoken.
        function_calls: the function calls in the response, in output order.
        usage: token usage from ``response.done``.
        status: ``completed``, ``cancelled``, ``incomplete`` or ``failed``.
        response: the wire ``Response`` object of ``response.done``.
        response_id: the response id.
        item_ids: the ids of the output items.
    """

    text: str = ""
    transcript: str = ""
    preamble: str = ""
    messages: list[ReplyMessage] = attrs.field(factory=list)
    audio: Any = None
    function_calls: list[FunctionCall] = attrs.field(factory=list)
    usage: Usage | None = None
    status: str = ""
    response: Response | None = None
    response_id: str = ""
    item_ids: list[str] = attrs.field(factory=list)

    def __str__(self) -> str:
        return self.text or self.transcript


class _Gathered:
    """The deltas of one output item (dispatcher thread only)."""

    __slots__ = ("audio", "phase", "text", "transcript")

    def __init__(self) -> None:
        self.phase: str | None = None
        self.text: list[str] = []
        self.transcript: list[str] = []
        self.audio: list[str] = []


def _samples(chunks: list[str]) -> Any:
    """base64 pcm16 chunks as one int16 array (``None`` for no chunks)."""
    if not chunks:
        return None
    import numpy as np

    raw = b"".join(base64.b64decode(a) for a in chunks if isinstance(a, str))
    return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")


class ReplyCollector:
    """Gathers one response for ``ask`` (an internal dispatcher hook), built on request handles.

    :meth:`watch` the requests ``ask`` sent (the response's first, before it is sent): the
    collector finishes when one of them failed (``ServerError``/``ClosedError``) or when the
    response request was answered by its ``response.done``. Deltas are gathered for the
    response the response request made (``request.response_id``, set by the client's request
    book before this hook sees the event).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.response_request: Request | None = None
        self.dispatcher: Any = None
        self.seq = 0  # delivery number of the response.done
        self.response_id: str | None = None
        self.parts: dict[str, _Gathered] = {}  # per output item, in order of first appearance
        self.audio: list[str] = []  # every audio delta of the response, in arrival order
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.final: se.ResponseDone | None = None

    def watch(self, req: Request, response: bool = False) -> None:
        """Finish when ``req`` fails (or, with ``response``, when it is answered)."""
        with self._lock:
            self.requests.append(req)
            if response:
                self.response_request = req
            self._check_locked()

    def __call__(self, ev: Event) -> None:
        if self.done.is_set():
            return
        req = self.response_request
        rid = req.response_id if req is not None else None
        if rid is not None:
            if rid != self.response_id:  # (first sight, or a response wrongly taken for ours)
                self.response_id = rid
                self.parts, self.audio = {}, []
            if getattr(ev, "response_id", None) == rid:
                t = ev.type
                if t == "response.text.delta":
                    self._part(ev.item_id).text.append(ev.delta)  # type: ignore[attr-defined]
                elif t == "response.audio_transcript.delta":
                    self._part(ev.item_id).transcript.append(ev.delta)  # type: ignore[attr-defined]
                elif t == "response.audio.delta":
                    self._part(ev.item_id).audio.append(ev.delta)  # type: ignore[attr-defined]
                    self.audio.append(ev.delta)  # type: ignore[attr-defined]
                elif t == "response.output_item.added" or t == "response.output_item.done":
                    item = getattr(ev, "item", None)
                    if isinstance(item, Item) and item.type == "message" and isinstance(item.id, str):
                        part = self._part(item.id)
                        if isinstance(item.phase, str):
                            part.phase = item.phase
                return
        t = ev.type
        if t == "response.done" or t == "error" or t == "rtsync.close" or t == "rtsync.disconnected":
            with self._lock:
                self._check_locked()

    def _part(self, item_id: Any) -> _Gathered:
        key = item_id if isinstance(item_id, str) else ""
        part = self.parts.get(key)
        if part is None:
            part = self.parts[key] = _Gathered()
        return part

    def _check_locked(self) -> None:
        if self.done.is_set():
            return
        for r in self.requests:
            if r.error is not None:
                self.error = r.error
                self.done.set()
                return
        req = self.response_request
        if req is not None and req.done():
            self.final = req._event  # type: ignore[assignment]
            self.response_id = req.response_id
            d = self.dispatcher
            if d is not None:  # hooks run before the count moves on
                self.seq = d.seq + 1 if d.thread_ident == threading.get_ident() else d.seq
            self.done.set()


def server_error(ev: Event) -> ServerError:
    """The :class:`ServerError` that an ``error`` event stands for (its message redacted)."""
    info = getattr(ev, "error", None)
    get = (lambda k: getattr(info, k, None) or None) if info is not None else (lambda k: None)
    return ServerError(
        redact(get("message") or "server error"),
        type=get("type"), code=get("code"), param=get("param"), event_id=get("event_id"), event=ev,
    )

#: Server error codes that only say "nothing to do": logged at debug level, never raised by
#: ``ask`` (they are still delivered to ``error`` callbacks, and the ``wait()`` of the request
#: they answer raises them: a ``response.cancel`` with nothing to cancel, say).
BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active", "conversation_already_has_active_response"})




def reply_from(c: ReplyCollector, raise_on_incomplete: bool) -> Reply:
    """The :class:`Reply` of a finished collector (raises :class:`ResponseFailed` for a failed
    response, and for an incomplete one with ``raise_on_incomplete``)."""
    assert c.final is not None
    resp = c.final.response
    calls: list[FunctionCall] = []
    item_ids: list[str] = []
    done_items: dict[str, Item] = {}
    if isinstance(resp, Response) and isinstance(resp.output, list):
        for item in resp.output:
            if not isinstance(item, Item):
                continue
            if isinstance(item.id, str):
                item_ids.append(item.id)
                if item.type == "message":
                    done_items[item.id] = item
            if item.type == "function_call":
                calls.append(FunctionCall(name=str(item.name or ""), call_id=str(item.call_id or ""),
                                          arguments=item.arguments if isinstance(item.arguments, str) else "",
                                          item_id=str(item.id or "")))
    messages = _messages(c.parts, done_items, item_ids)
    answer = [m for m in messages if m.phase != _COMMENTARY]
    status = resp.status if isinstance(resp, Response) and isinstance(resp.status, str) else ""
    reply = Reply(
        text="".join(m.text for m in answer), transcript="".join(m.transcript for m in answer),
        preamble="".join(m.text or m.transcript for m in messages if m.phase == _COMMENTARY),
        messages=messages, audio=_samples(c.audio), function_calls=calls,
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


def _messages(parts: dict[str, _Gathered], done: dict[str, Item], order: list[str]) -> list[ReplyMessage]:
    """The output messages: those of ``response.done`` in output order, then any other item
    that streamed text or audio (a response cut short); deltas first, the final item's content
    where no delta came."""
    ids = [i for i in order if i in done] + [i for i in parts if i not in done]
    out = []
    for item_id in ids:
        part = parts.get(item_id) or _Gathered()
        item = done.get(item_id)
        phase = item.phase if item is not None and isinstance(item.phase, str) else part.phase
        text = "".join(part.text)
        transcript = "".join(part.transcript)
        if item is not None and not part.text and not part.transcript and isinstance(item.content, list):
            for p in item.content:
                p_text, p_transcript = getattr(p, "text", None), getattr(p, "transcript", None)
                if isinstance(p_text, str):
                    text += p_text
                elif isinstance(p_transcript, str):
                    transcript += p_transcript
        out.append(ReplyMessage(item_id=item_id, phase=phase, text=text, transcript=transcript,
                                audio=_samples(part.audio)))
    return out
