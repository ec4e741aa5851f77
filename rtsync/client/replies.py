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

__all__ = ["BENIGN_ERROR_CODES", "FunctionCall", "Reply", "ReplyCollector", "reply_from", "server_error"]


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
        self.text: list[str] = []
        self.transcript: list[str] = []
        self.audio: list[str] = []
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
                self.text, self.transcript, self.audio = [], [], []
            if getattr(ev, "response_id", None) == rid:
                t = ev.type
                if t == "response.text.delta":
                    self.text.append(ev.delta)  # type: ignore[attr-defined]
                elif t == "response.audio_transcript.delta":
                    self.transcript.append(ev.delta)  # type: ignore[attr-defined]
                elif t == "response.audio.delta":
                    self.audio.append(ev.delta)  # type: ignore[attr-defined]
                return
        t = ev.type
        if t == "response.done" or t == "error" or t == "rtsync.close" or t == "rtsync.disconnected":
            with self._lock:
                self._check_locked()

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
