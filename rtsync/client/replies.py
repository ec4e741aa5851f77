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
from rtsync.errors import ClosedError, ResponseFailed, ServerError
from rtsync.events import server as se
from rtsync.events._base import Event
from rtsync.events.models import Item, Response, Usage

if TYPE_CHECKING:
    from rtsync.client.responses import ResponseGate

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
    """Gathers one response on the dispatcher thread (an internal hook)."""

    def __init__(self, request_ids: set[str], create_id: str | None = None,
                 gate: ResponseGate | None = None) -> None:
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
                self.error = server_error(ev)
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


def server_error(ev: Event) -> ServerError:
    """The :class:`ServerError` that an ``error`` event stands for (its message redacted)."""
    info = getattr(ev, "error", None)
    get = (lambda k: getattr(info, k, None) or None) if info is not None else (lambda k: None)
    return ServerError(
        redact(get("message") or "server error"),
        type=get("type"), code=get("code"), param=get("param"), event_id=get("event_id"), event=ev,
    )

#: Server error codes that only say "nothing to do": logged at debug level, never raised by the
#: response bookkeeping (they are still delivered to ``error`` callbacks).
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
