"""Per-connection state of the local server: the table of client event handlers and the GA boundary.

One :class:`RealtimeSession` lives for one WebSocket connection. The connection's receive loop
hands it every frame (:meth:`RealtimeSession.handle_text` / :meth:`RealtimeSession.handle_binary`);
replies go out through the ``send_text`` callable given to the constructor. Responses stream
from their own thread (named ``rtsync-server-response-N``) while the receive loop goes on, so all
state changes and all sends happen under one lock: the order of events on the wire always matches
the order of the state changes they describe.

Errors in client events never end the session: they are reported as ``error`` events (REFERENCE
§5.8 shape) and the session goes on. A bug in the server itself is logged and reported as a
``server_error``.

The session keeps the table of handlers, one per client event type, and each handler lives
with the part of the server that owns its state:

* ``session.update``: here, checked by :mod:`rtsync.server.validation` (which also holds
  :class:`ClientError` and :func:`error_event`);
* ``input_audio_buffer.*``: :mod:`rtsync.server.input_audio` (the buffer, server VAD, input
  transcription);
* ``conversation.item.*``: :mod:`rtsync.server.items`, on the item store of
  :mod:`rtsync.server.store`;
* ``response.create``, ``response.cancel``: :mod:`rtsync.server.responses`, streamed by
  :mod:`rtsync.server.streaming` with the scripted model of :mod:`rtsync.server.model`;
* ``transcription_session.update``, ``output_audio_buffer.clear``: refused here, with an
  explanation.

The session state speaks the beta vocabulary. In GA mode the session is also the boundary:
incoming events are checked (:mod:`rtsync.server.ga_checks`) and translated to beta in
:meth:`RealtimeSession.handle_text`, outgoing ones translated to GA where they are sent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rtsync.events import dialect
from rtsync.server import voice as fake_voice
from rtsync.server.ga_checks import check_ga_client_event, ga_param
from rtsync.server.input_audio import InputAudio
from rtsync.server.items import ItemRequests
from rtsync.server.responses import Responses
from rtsync.server.store import ItemStore
from rtsync.server.validation import (
    SERVER_VAD_DEFAULTS,
    ClientError,
    check_session_update,
    error_event,
    kind_of,
    quote_list,
    type_error,
)
from rtsync.server.wire import Gone, new_id

__all__ = [
    "CLIENT_EVENT_TYPES",
    "DEFAULT_INSTRUCTIONS",
    "ClientError",
    "RealtimeSession",
    "error_event",
    "new_id",
]

logger = logging.getLogger("rtsync.server")

DEFAULT_INSTRUCTIONS = (
    "You are a helpful, witty, and friendly AI running on a local test server. "
    "Your answers follow a fixed script, so they are the same every time."
)

#: Client event types the server understands, in the order its error message lists them.
CLIENT_EVENT_TYPES = (
    "session.update",
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
)

_SESSION_SECONDS = 1800


class RealtimeSession:
    """Protocol state of one connection.

    Args:
        send_text: sends one text frame; may raise once the connection is gone. Only ever called
            with the session lock held, so calls never overlap.
        model: the model id from the URL.
        text_delay: seconds to wait between streamed deltas (0 = as fast as possible).
        rate_limits: emit ``rate_limits.updated`` after each ``response.created``.
        on_thread: called with every response or transcription thread before it starts (the
            server tracks them).
        audio_pace: ``None`` sends output audio as fast as possible; a number ``p`` waits
            ``p`` times the duration of each 100 ms audio chunk before the next one (1.0 = real
            time, 0.5 = twice real time).
        voice: ``"auto"``, ``"espeak"`` or ``"tone"`` (see :mod:`rtsync.server.voice`).
        dialect: ``"beta"`` (default) or ``"ga"``: in GA mode every incoming event is checked
            for beta shapes the GA service refuses (:func:`rtsync.server.ga_checks.check_ga_client_event`)
            and translated to beta (:func:`rtsync.events.dialect.client_from_ga`), and every
            outgoing event is translated to GA (:func:`rtsync.events.dialect.server_to_ga_events`)
            at the two boundaries (:meth:`handle_text` in, the one place where events are sent
            out); the session state itself stays beta.

    Attributes:
        session: the session settings, in beta shape (what ``session.created``/``.updated`` send).
        store: the items of the default conversation.
    """

    def __init__(
        self,
        send_text: Callable[[str], None],
        *,
        model: str,
        text_delay: float = 0.0,
        rate_limits: bool = True,
        on_thread: Callable[[threading.Thread], None] | None = None,
        audio_pace: float | None = None,
        voice: str = "auto",
        dialect: str = "beta",
    ) -> None:
        if dialect not in ("beta", "ga"):
            raise ValueError(f"dialect must be 'beta' or 'ga', not {dialect!r}")
        self._ga = dialect == "ga"
        self._send_text = send_text
        self._lock = threading.RLock()
        self._closed = False
        self.store = ItemStore()
        self.session: dict[str, Any] = {
            "id": new_id("sess"),
            "object": "realtime.session",
            "expires_at": int(time.time()) + _SESSION_SECONDS,
            "input_audio_noise_reduction": None,
            "turn_detection": dict(SERVER_VAD_DEFAULTS),
            "input_audio_format": "pcm16",
            "input_audio_transcription": None,
            "client_secret": None,
            "include": None,
            "model": model,
            "modalities": ["text", "audio"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "voice": "alloy",
            "output_audio_format": "pcm16",
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": None,
            "tools": [],
        }
        self._responses = Responses(
            self.session,
            self.store,
            self._lock,
            self._emit,
            on_thread=on_thread,
            rate_limits=rate_limits,
            text_delay=max(0.0, float(text_delay)),
            audio_pace=None if audio_pace is None else max(0.0, float(audio_pace)),
            voice=fake_voice.resolve_voice(voice),
        )
        self._input_audio = InputAudio(self.session, self.store, self._lock, self._emit, self._responses, on_thread)
        items = ItemRequests(self.session, self.store, self._lock, self._emit)
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "session.update": self._on_session_update,
            "transcription_session.update": self._on_transcription_session_update,
            "input_audio_buffer.append": self._input_audio.append,
            "input_audio_buffer.commit": self._input_audio.commit,
            "input_audio_buffer.clear": self._input_audio.clear,
            "conversation.item.create": items.create,
            "conversation.item.truncate": items.truncate,
            "conversation.item.delete": items.delete,
            "conversation.item.retrieve": items.retrieve,
            "response.create": self._responses.create,
            "response.cancel": self._responses.cancel,
            "output_audio_buffer.clear": self._on_output_audio_clear,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Send ``session.created``; the first event of every connection."""
        try:
            with self._lock:
                self._emit("session.created", session=self.session)
        except Gone:
            pass

    def close(self) -> None:
        """Stop sending, cancel the responses in flight and wait for their threads to end.

        Idempotent. Must not be called from a response thread.
        """
        with self._lock:
            self._closed = True
            responses = self._responses.cancel_all()
            helpers = self._input_audio.threads()
        for thread in responses:
            if thread is not threading.current_thread():
                thread.join()
        for helper in helpers:
            if helper is not threading.current_thread():
                helper.join()

    # -- input (the GA boundary in) -------------------------------------------------------------

    def handle_binary(self, data: bytes) -> None:
        """Report a binary frame with an ``invalid_event`` error; the protocol uses text frames.

        Args:
            data: the frame payload (ignored).
        """
        self._report(
            ClientError(
                "Expected a text WebSocket message; binary frames are not supported.",
                code="invalid_event",
            ),
            None,
        )

    def handle_text(self, text: str) -> None:
        """Parse and apply one client event; never raises.

        Args:
            text: the text frame as received.
        """
        if self._ga:
            translated = self._from_ga(text)
            if translated is None:
                return
            text = translated
        event_id: str | None = None
        try:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ClientError(
                    f"Invalid event: failed to parse JSON value. {exc}", code="invalid_json"
                ) from None
            if not isinstance(data, dict):
                raise ClientError(
                    f"Invalid event: expected a JSON object, but got {kind_of(data)}.",
                    code="invalid_event",
                )
            if isinstance(data.get("event_id"), str):
                event_id = data["event_id"]
            if "type" not in data:
                raise ClientError("The 'type' field is missing.", code="invalid_event")
            kind = data["type"]
            if not isinstance(kind, str):
                raise type_error("type", "a string", kind)
            handler = self._handlers.get(kind)
            if handler is None:
                raise ClientError(
                    f"Invalid value: '{kind}'. Supported values are: "
                    f"{quote_list(CLIENT_EVENT_TYPES)}.",
                    code="invalid_value",
                    param="type",
                )
            handler(data)
        except ClientError as exc:
            self._report(self._in_client_terms(exc), event_id)
        except Gone:
            pass
        except Exception:
            logger.exception("local server: error while handling a client event")
            self._report(
                ClientError(
                    "The server had an error while processing your request. Sorry about that! "
                    f"(include session ID in your message: {self.session['id']})",
                    type="server_error",
                ),
                event_id,
            )

    def _from_ga(self, text: str) -> str | None:
        """GA mode: a GA client frame as beta text, or ``None`` after reporting a GA refusal.

        Frames that are not JSON objects pass unchanged, for :meth:`handle_text` to report.
        """
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if not isinstance(data, dict):
            return text
        event_id = data.get("event_id")
        event_id = event_id if isinstance(event_id, str) else None
        try:
            error = check_ga_client_event(data)
            beta = dialect.client_from_ga(data) if error is None else None
        except Exception as exc:  # a field of the wrong JSON type where the GA shape has an object or a string
            logger.debug("local server: unreadable GA %r event: %r", data.get("type"), exc)
            self._report(ClientError(f"Invalid event: the {data.get('type')!r} event has a field of the wrong "
                                     "type and could not be read.", code="invalid_value"), event_id)
            return None
        if error is not None:
            self._report(
                ClientError(error["message"], code=error["code"], param=error["param"], type=error["type"]),
                event_id,
            )
            return None
        if beta is data:
            return text
        return json.dumps(beta, ensure_ascii=False)

    # -- output (the GA boundary out) -----------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "event_id": new_id("event"), **fields}
        self._send_event(event)

    def _send_event(self, event: dict[str, Any]) -> None:
        if self._ga:
            texts = [json.dumps(e, ensure_ascii=False) for e in dialect.server_to_ga_events(event)]
        else:
            texts = [json.dumps(event, ensure_ascii=False)]
        with self._lock:
            if self._closed:
                raise Gone()
            try:
                for text in texts:
                    self._send_text(text)
            except Exception as exc:
                self._closed = True
                raise Gone() from exc

    def _in_client_terms(self, exc: ClientError) -> ClientError:
        """``exc`` as the client's dialect names its field: the checks speak beta, so a GA
        client is told the GA place (``session.voice`` -> ``session.audio.output.voice``)."""
        if not self._ga or exc.param is None or ga_param(exc.param) == exc.param:
            return exc
        where = ga_param(exc.param)
        return ClientError(exc.message.replace(f"'{exc.param}", f"'{where}"), code=exc.code, param=where, type=exc.type)

    def _report(self, exc: ClientError, event_id: str | None) -> None:
        try:
            self._send_event(
                error_event(
                    exc.message, code=exc.code, param=exc.param, event_id=event_id, type=exc.type
                )
            )
        except Gone:
            pass

    # -- session settings --------------------------------------------------------------------------------

    def _on_session_update(self, event: dict[str, Any]) -> None:
        with self._lock:
            current = dict(self.session)
        valid = check_session_update(event, ga=self._ga, current=current)
        with self._lock:
            self.session.update(valid)
            self._input_audio.settings_changed()
            self._emit("session.updated", session=self.session)

    def _on_transcription_session_update(self, event: dict[str, Any]) -> None:
        raise ClientError(
            "transcription_session.update is only supported on transcription sessions "
            "(?intent=transcription); this is a realtime session. Use session.update instead.",
            code="invalid_value",
            param="type",
        )

    def _on_output_audio_clear(self, event: dict[str, Any]) -> None:
        raise ClientError(
            "output_audio_buffer.clear is only supported over WebRTC. Over a WebSocket, send "
            "response.cancel and conversation.item.truncate instead.",
            code="invalid_value",
            param="type",
        )
