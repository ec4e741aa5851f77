"""Per-connection state of the local server: applies client events and emits server events.

One :class:`RealtimeSession` lives for one WebSocket connection. The connection's receive loop
hands it every frame (:meth:`RealtimeSession.handle_text` / :meth:`RealtimeSession.handle_binary`);
replies go out through the ``send_text`` callable given to the constructor. Responses stream
from their own thread (named ``rtsync-server-response-N``) while the receive loop goes on, so all
state changes and all sends happen under one lock: the order of events on the wire always matches
the order of the state changes they describe.

Errors in client events never end the session: they are reported as ``error`` events (REFERENCE
§5.8 shape) and the session goes on. A bug in the server itself is logged and reported as a
``server_error``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtsync.audio.formats import FORMAT_RATES, bytes_per_ms, decode_audio, encode_audio
from rtsync.events import dialect
from rtsync.server import model as fake_model
from rtsync.server import voice as fake_voice
from rtsync.server.vad import EnergyVad

__all__ = [
    "CLIENT_EVENT_TYPES",
    "DEFAULT_INSTRUCTIONS",
    "ClientError",
    "Conversation",
    "RealtimeSession",
    "error_event",
    "new_id",
]

logger = logging.getLogger("rtsync.server")

_BASE62 = string.ascii_letters + string.digits

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

_AUDIO_FORMATS = tuple(FORMAT_RATES)  # pcm16, g711_ulaw, g711_alaw
_MAX_APPEND_BYTES = 15 * 1024 * 1024
_MIN_COMMIT_MS = 100.0
_MAX_IDLE_BUFFER_MS = 60_000.0  # with server VAD on and nobody speaking, older audio is dropped
_AUDIO_CHUNK_MS = 100
_SESSION_SECONDS = 1800

_SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
    "create_response": True,
    "interrupt_response": True,
}
_SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}
_TURN_DETECTION_KEYS = {
    "server_vad": {*_SERVER_VAD_DEFAULTS, "idle_timeout_ms"},
    "semantic_vad": set(_SEMANTIC_VAD_DEFAULTS),
}

# session.update keys the server accepts; id/object/expires_at are server-owned.
_SESSION_KEYS = {
    "model",
    "modalities",
    "instructions",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "turn_detection",
    "tools",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
    "input_audio_noise_reduction",
    "speed",
    "tracing",
    "include",
    "client_secret",
}
_RESPONSE_KEYS = {
    "modalities",
    "instructions",
    "voice",
    "output_audio_format",
    "tools",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
    "max_output_tokens",
    "conversation",
    "metadata",
    "input",
}
_ITEM_KEYS = {"id", "object", "type", "status", "role", "content", "call_id", "name", "arguments", "output"}

_RATE_REQUESTS = 20_000
_RATE_TOKENS = 15_000_000


def new_id(prefix: str, length: int = 21) -> str:
    """Return an id shaped like the real service's: ``prefix_`` + ``length`` base62 characters.

    Args:
        prefix: ``event``, ``item``, ``resp``, ``sess``, ``conv`` or ``call``.
        length: number of random characters (21, or 16 for ``call``).
    """
    return prefix + "_" + "".join(secrets.choice(_BASE62) for _ in range(length))


class ClientError(Exception):
    """A client event was rejected; becomes an ``error`` event.

    Args:
        message: human-readable message.
        code: machine-readable code, or ``None``.
        param: dotted path of the offending field, or ``None``.
        type: error type, ``invalid_request_error`` unless stated.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type


class _Gone(Exception):
    """The connection is closed; nothing more can be sent."""


def error_event(
    message: str,
    *,
    code: str | None,
    param: str | None = None,
    event_id: str | None = None,
    type: str = "invalid_request_error",
) -> dict[str, Any]:
    """Build a complete ``error`` server event.

    Args:
        message: human-readable message.
        code: error code or ``None``.
        param: offending field or ``None``.
        event_id: the client event id that caused the error, if known.
        type: error type.

    Returns:
        The event, with a fresh server ``event_id``.
    """
    return {
        "type": "error",
        "event_id": new_id("event"),
        "error": {
            "type": type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    }


# ---------------------------------------------------------------------------------------------
# validation helpers


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value"


def _type_error(param: str, expected: str, value: Any) -> ClientError:
    return ClientError(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        code="invalid_type",
        param=param,
    )


def _missing(param: str) -> ClientError:
    return ClientError(
        f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
    )


def _unknown(param: str) -> ClientError:
    return ClientError(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)


def _quote_list(values: tuple[str, ...] | list[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _bad_value(param: str, value: Any, supported: tuple[str, ...] | list[str]) -> ClientError:
    return ClientError(
        f"Invalid value: '{value}'. Supported values are: {_quote_list(supported)}.",
        code="invalid_value",
        param=param,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_str(param: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error(param, "a string", value)
    return value


def _check_number(param: str, value: Any, low: float, high: float) -> float:
    if not _is_number(value):
        raise _type_error(param, "a decimal", value)
    if value < low:
        raise ClientError(
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            code="decimal_below_min_value",
            param=param,
        )
    if value > high:
        raise ClientError(
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            code="decimal_above_max_value",
            param=param,
        )
    return float(value)


def _check_modalities(param: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(param, "an array of strings", value)
    for entry in value:
        if entry not in ("text", "audio"):
            raise _bad_value(param, entry, ("text", "audio"))
    if set(value) not in ({"text"}, {"text", "audio"}):
        raise ClientError(
            f"Invalid modalities: {value!r}. Supported combinations are: ['text'] and "
            "['audio', 'text'].",
            code="invalid_value",
            param=param,
        )
    return list(value)


def _check_format(param: str, value: Any) -> str:
    _check_str(param, value)
    if value not in _AUDIO_FORMATS:
        raise _bad_value(param, value, _AUDIO_FORMATS)
    return str(value)


def _check_token_cap(param: str, value: Any) -> int | str:
    if value == "inf":
        return "inf"
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(param, "an integer or 'inf'", value)
    if not 1 <= value <= 4096:
        raise ClientError(
            f"Invalid '{param}': expected an integer between 1 and 4096 or 'inf', "
            f"but got {value} instead.",
            code="invalid_value",
            param=param,
        )
    return value


def _check_tools(param: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _type_error(param, "an array of objects", value)
    tools = []
    for index, tool in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(tool, dict):
            raise _type_error(where, "an object", tool)
        tool = dict(tool)
        tool.setdefault("type", "function")
        if tool["type"] != "function":
            raise _bad_value(f"{where}.type", tool["type"], ("function",))
        if "name" not in tool:
            raise _missing(f"{where}.name")
        _check_str(f"{where}.name", tool["name"])
        tools.append(tool)
    return tools


def _check_tool_choice(param: str, value: Any) -> str | dict[str, Any]:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise _bad_value(param, value, ("auto", "none", "required"))
        return value
    if isinstance(value, dict):
        if value.get("type") != "function":
            raise _bad_value(f"{param}.type", value.get("type"), ("function",))
        return dict(value)
    raise _type_error(param, "a string or an object", value)


def _check_turn_detection(param: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _type_error(param, "an object", value)
    kind = value.get("type", "server_vad")
    if kind not in _TURN_DETECTION_KEYS:
        raise _bad_value(f"{param}.type", kind, ("server_vad", "semantic_vad"))
    for key in value:
        if key not in _TURN_DETECTION_KEYS[kind]:
            raise _unknown(f"{param}.{key}")
    merged = dict(_SERVER_VAD_DEFAULTS if kind == "server_vad" else _SEMANTIC_VAD_DEFAULTS)
    merged.update(value)
    merged["type"] = kind
    if "threshold" in value:
        _check_number(f"{param}.threshold", value["threshold"], 0.0, 1.0)
    for key in ("prefix_padding_ms", "silence_duration_ms"):
        if key in value and (not isinstance(value[key], int) or isinstance(value[key], bool)):
            raise _type_error(f"{param}.{key}", "an integer", value[key])
    for key in ("create_response", "interrupt_response"):
        if key in value and not isinstance(value[key], bool):
            raise _type_error(f"{param}.{key}", "a boolean", value[key])
    return merged


def _check_optional_object(param: str, value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise _type_error(param, "an object", value)
    return None if value is None else dict(value)


def _check_metadata(param: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _type_error(param, "an object", value)
    if len(value) > 16:
        raise ClientError(
            f"Invalid '{param}': too many keys. Expected at most 16 keys, but got {len(value)}.",
            code="invalid_value",
            param=param,
        )
    for key, entry in value.items():
        if not isinstance(entry, str):
            raise _type_error(f"{param}.{key}", "a string", entry)
        if len(key) > 64 or len(entry) > 512:
            raise ClientError(
                f"Invalid '{param}.{key}': keys are limited to 64 characters and values to 512.",
                code="invalid_value",
                param=f"{param}.{key}",
            )
    return dict(value)


#: The checker of each session field that ``session.update`` and ``response.create`` share:
#: ``check(param, value)`` returns the normalised value or raises a ClientError naming ``param``.
_FIELD_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "modalities": _check_modalities,
    "instructions": _check_str,
    "voice": _check_str,
    "input_audio_format": _check_format,
    "output_audio_format": _check_format,
    "input_audio_transcription": _check_optional_object,
    "turn_detection": _check_turn_detection,
    "tools": _check_tools,
    "tool_choice": _check_tool_choice,
    "temperature": lambda param, value: _check_number(param, value, 0.6, 1.2),
    "max_response_output_tokens": _check_token_cap,
}


def _validate_session(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``session.update`` payload; return the normalised changes (nothing applied yet)."""
    for key in changes:
        if key not in _SESSION_KEYS:
            raise _unknown(f"session.{key}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        param = f"session.{key}"
        if key in ("model", "client_secret"):
            continue  # the model is fixed by the URL; client_secret only matters over REST
        check = _FIELD_CHECKS.get(key)
        if check is not None:
            out[key] = check(param, value)
        elif key == "input_audio_noise_reduction":
            reduction = _check_optional_object(param, value)
            if reduction is not None and reduction.get("type") not in ("near_field", "far_field"):
                raise _bad_value(f"{param}.type", reduction.get("type"), ("near_field", "far_field"))
            out[key] = reduction
        elif key == "speed":
            out[key] = _check_number(param, value, 0.25, 1.5)
        elif key == "tracing":
            if value is not None and value != "auto" and not isinstance(value, dict):
                raise _type_error(param, "'auto' or an object", value)
            out[key] = value
        elif key == "include":
            if value is not None and not isinstance(value, list):
                raise _type_error(param, "an array of strings", value)
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# conversation


@dataclass
class _ItemInfo:
    """What the server knows about an item beyond its wire form."""

    audio: bytes | None = None  # input audio bytes of a user audio message
    audio_seconds: float | None = None  # duration of that input audio
    audio_ms: int | None = None  # length of model output audio (assistant audio items only)
    words: list[str] | None = None  # transcript words of model output audio
    word_ends_ms: list[float] | None = None  # where each of those words ends in the audio
    truncated_ms: int | None = None  # audio_end_ms of the last truncation


class Conversation:
    """The ordered item list of the default conversation.

    Items are kept in their server (wire) form; side information such as input audio bytes or
    the length of generated audio lives in a separate table keyed by item id.
    """

    def __init__(self) -> None:
        self.id = new_id("conv")
        self.items: list[dict[str, Any]] = []
        self.info: dict[str, _ItemInfo] = {}

    def find(self, item_id: str) -> dict[str, Any] | None:
        """Return the item with ``item_id``, or ``None``."""
        for item in self.items:
            if item["id"] == item_id:
                return item
        return None

    def last_id(self) -> str | None:
        """Return the id of the last item, or ``None`` for an empty conversation."""
        return self.items[-1]["id"] if self.items else None

    def insert(
        self, item: dict[str, Any], previous_item_id: str | None = None, info: _ItemInfo | None = None
    ) -> str | None:
        """Insert ``item`` after ``previous_item_id`` (``None``: append, ``"root"``: at the start).

        Returns:
            The id of the item now before it, or ``None`` if it is first.

        Raises:
            ClientError: ``previous_item_id`` names no item.
        """
        if previous_item_id is None:
            position = len(self.items)
        elif previous_item_id == "root":
            position = 0
        else:
            for index, existing in enumerate(self.items):
                if existing["id"] == previous_item_id:
                    position = index + 1
                    break
            else:
                raise ClientError(
                    f"Error adding item: the previous item with id '{previous_item_id}' "
                    "does not exist.",
                    code="invalid_value",
                    param="previous_item_id",
                )
        self.items.insert(position, item)
        self.info[item["id"]] = info or _ItemInfo()
        return self.items[position - 1]["id"] if position > 0 else None

    def delete(self, item_id: str) -> None:
        """Remove the item with ``item_id``.

        Raises:
            ClientError: no such item (code ``item_delete_invalid_item_id``).
        """
        for index, item in enumerate(self.items):
            if item["id"] == item_id:
                del self.items[index]
                self.info.pop(item_id, None)
                return
        raise ClientError(
            f"Error deleting item: the item with id '{item_id}' does not exist.",
            code="item_delete_invalid_item_id",
            param="item_id",
        )

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut the audio of an assistant audio item at ``audio_end_ms`` (REFERENCE §7).

        The item's audio length is ``info[item_id].audio_ms``, recorded while model audio output
        is generated (so a still-streaming item can be truncated up to the audio sent so far); an
        item without it is not model output audio and cannot be truncated. The transcript is cut
        to the words that end before ``audio_end_ms`` (word positions are estimated in proportion
        to their length in characters); the audio after the point is forgotten.

        Raises:
            ClientError: unknown item, not a model audio item, or ``audio_end_ms`` beyond the
                item's audio.
        """
        item = self.find(item_id)
        if item is None:
            raise ClientError(
                f"Error truncating item: the item with id '{item_id}' does not exist.",
                code="item_truncate_invalid_item_id",
                param="item_id",
            )
        info = self.info.setdefault(item_id, _ItemInfo())
        content = item.get("content") or []
        if (
            item.get("type") != "message"
            or item.get("role") != "assistant"
            or info.audio_ms is None
            or not 0 <= content_index < len(content)
            or content[content_index].get("type") != "audio"
        ):
            raise ClientError(
                "Only model output audio messages can be truncated",
                code="unsupported_content_type",
                param=None,
            )
        have = info.audio_ms
        if audio_end_ms > info.audio_ms:
            raise ClientError(
                f"Audio content of {info.audio_ms}ms is already shorter than {audio_end_ms}ms",
                code=None,
            )
        info.audio_ms = audio_end_ms
        info.truncated_ms = audio_end_ms
        content[content_index]["transcript"] = _cut_transcript(
            info, str(content[content_index].get("transcript") or ""), audio_end_ms, have
        )


def _cut_transcript(info: _ItemInfo, transcript: str, end_ms: int, have_ms: int) -> str:
    """The part of a spoken transcript heard up to ``end_ms`` (an estimate, by words)."""
    if info.words is not None and info.word_ends_ms is not None:
        kept = [w for w, end in zip(info.words, info.word_ends_ms, strict=True) if end <= end_ms + 1e-6]
        return "".join(kept)
    words = fake_model.split_words(transcript)
    if have_ms <= 0:
        return ""
    return "".join(words[: len(words) * end_ms // have_ms])


# ---------------------------------------------------------------------------------------------
# responses


@dataclass
class _Run:
    """One response being generated."""

    id: str
    response: dict[str, Any]
    outputs: list[fake_model.Output]
    in_conversation: bool
    cap: int | None
    input_text_tokens: int
    input_audio_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str = "client_cancelled"
    truncated: bool = False
    finished: bool = False
    output_tokens: int = 0
    output_audio_tokens: int = 0
    thread: threading.Thread | None = None


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
            for beta shapes the GA service refuses (:func:`rtsync.events.dialect.check_ga_client_event`)
            and translated to beta (:func:`~rtsync.events.dialect.client_from_ga`), and every
            outgoing event is translated to GA (:func:`~rtsync.events.dialect.server_to_ga_events`)
            at the two boundaries :meth:`handle_text` and :meth:`_send_event`; the session state
            itself stays beta.
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
        self._audio_pace = None if audio_pace is None else max(0.0, float(audio_pace))
        self._voice = fake_voice.resolve_voice(voice)
        self._vad = EnergyVad()
        self._vad_item_id: str | None = None
        self._vad_start_ms = 0.0
        self._buffer_start_ms = 0.0  # session clock of the first byte of the input buffer
        self._helpers: list[threading.Thread] = []  # transcription threads
        self._on_thread = on_thread
        self._text_delay = max(0.0, float(text_delay))
        self._rate_limits = rate_limits
        self._lock = threading.RLock()
        self._closed = False
        self.conversation = Conversation()
        self._audio = bytearray()
        self._runs: dict[str, _Run] = {}
        self._active: _Run | None = None  # the default-conversation response in flight
        self._run_count = 0
        self.session: dict[str, Any] = {
            "id": new_id("sess"),
            "object": "realtime.session",
            "expires_at": int(time.time()) + _SESSION_SECONDS,
            "input_audio_noise_reduction": None,
            "turn_detection": dict(_SERVER_VAD_DEFAULTS),
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
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "session.update": self._on_session_update,
            "transcription_session.update": self._on_transcription_session_update,
            "input_audio_buffer.append": self._on_audio_append,
            "input_audio_buffer.commit": self._on_audio_commit,
            "input_audio_buffer.clear": self._on_audio_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.truncate": self._on_item_truncate,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": self._on_item_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_output_audio_clear,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Send ``session.created``; the first event of every connection."""
        try:
            with self._lock:
                self._emit("session.created", session=self.session)
        except _Gone:
            pass

    def close(self) -> None:
        """Stop sending, cancel the responses in flight and wait for their threads to end.

        Idempotent. Must not be called from a response thread.
        """
        with self._lock:
            self._closed = True
            runs = list(self._runs.values())
            for run in runs:
                run.cancel.set()
            helpers = list(self._helpers)
        for run in runs:
            if run.thread is not None and run.thread is not threading.current_thread():
                run.thread.join()
        for helper in helpers:
            if helper is not threading.current_thread():
                helper.join()

    # -- input ----------------------------------------------------------------------------------

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
                    f"Invalid event: expected a JSON object, but got {_kind(data)}.",
                    code="invalid_event",
                )
            if isinstance(data.get("event_id"), str):
                event_id = data["event_id"]
            if "type" not in data:
                raise ClientError("The 'type' field is missing.", code="invalid_event")
            kind = data["type"]
            if not isinstance(kind, str):
                raise _type_error("type", "a string", kind)
            handler = self._handlers.get(kind)
            if handler is None:
                raise ClientError(
                    f"Invalid value: '{kind}'. Supported values are: "
                    f"{_quote_list(CLIENT_EVENT_TYPES)}.",
                    code="invalid_value",
                    param="type",
                )
            handler(data)
        except ClientError as exc:
            self._report(exc, event_id)
        except _Gone:
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

    # -- sending --------------------------------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "event_id": new_id("event"), **fields}
        self._send_event(event)

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
        error = dialect.check_ga_client_event(data)
        if error is not None:
            event_id = data.get("event_id")
            self._report(
                ClientError(error["message"], code=error["code"], param=error["param"], type=error["type"]),
                event_id if isinstance(event_id, str) else None,
            )
            return None
        beta = dialect.client_from_ga(data)
        if beta is data:
            return text
        session = beta.get("session")
        if beta.get("type") == "session.update" and isinstance(session, dict):
            # GA-only settings (truncation, reasoning, ...) are accepted and not emulated.
            beta["session"] = {k: v for k, v in session.items() if k not in dialect.GA_ONLY_SESSION_FIELDS}
        return json.dumps(beta, ensure_ascii=False)

    def _send_event(self, event: dict[str, Any]) -> None:
        if self._ga:
            texts = [json.dumps(e, ensure_ascii=False) for e in dialect.server_to_ga_events(event)]
        else:
            texts = [json.dumps(event, ensure_ascii=False)]
        with self._lock:
            if self._closed:
                raise _Gone()
            try:
                for text in texts:
                    self._send_text(text)
            except Exception as exc:
                self._closed = True
                raise _Gone() from exc

    def _report(self, exc: ClientError, event_id: str | None) -> None:
        try:
            self._send_event(
                error_event(
                    exc.message, code=exc.code, param=exc.param, event_id=event_id, type=exc.type
                )
            )
        except _Gone:
            pass

    # -- session --------------------------------------------------------------------------------

    def _on_session_update(self, event: dict[str, Any]) -> None:
        if "session" not in event:
            raise _missing("session")
        changes = event["session"]
        if not isinstance(changes, dict):
            raise _type_error("session", "an object", changes)
        valid = _validate_session(changes)
        with self._lock:
            self.session.update(valid)
            if not self._server_vad():
                self._vad.reset_speech()
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

    # -- input audio buffer ---------------------------------------------------------------------

    def _bytes_per_ms(self) -> int:
        return bytes_per_ms(str(self.session["input_audio_format"]))  # validated on session.update

    def _on_audio_append(self, event: dict[str, Any]) -> None:
        if "audio" not in event:
            raise _missing("audio")
        audio = _check_str("audio", event["audio"])
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ClientError(
                "Invalid 'audio': the value is not valid base64-encoded audio.",
                code="invalid_value",
                param="audio",
            ) from None
        if len(data) > _MAX_APPEND_BYTES:
            raise ClientError(
                f"Invalid 'audio': at most {_MAX_APPEND_BYTES} bytes of audio per event, "
                f"but got {len(data)}.",
                code="invalid_value",
                param="audio",
            )
        with self._lock:
            self._audio += data
            fmt = str(self.session["input_audio_format"])
            self._vad.push(decode_audio(data, fmt), FORMAT_RATES[fmt])
        self._run_vad()

    def _server_vad(self) -> dict[str, Any] | None:
        """The turn_detection settings when server VAD is on, else None."""
        settings = self.session.get("turn_detection")
        if isinstance(settings, dict) and settings.get("type") == "server_vad":
            return settings
        return None

    def _run_vad(self) -> None:
        """Feed the appended audio through the VAD and act on what it detects."""
        while True:
            interrupted: _Run | None = None
            respond = False
            with self._lock:
                settings = self._server_vad()
                if settings is None:
                    self._vad.skip()
                    return
                detected = self._vad.step(
                    float(settings.get("threshold", 0.5)),
                    int(settings.get("prefix_padding_ms", 300)),
                    int(settings.get("silence_duration_ms", 200)),
                )
                if detected is None:
                    self._trim_idle_buffer()
                    return
                if detected.kind == "started":
                    self._vad_item_id = new_id("item")
                    self._vad_start_ms = max(float(detected.ms), self._buffer_start_ms)
                    self._emit(
                        "input_audio_buffer.speech_started",
                        audio_start_ms=detected.ms,
                        item_id=self._vad_item_id,
                    )
                    run = self._active
                    if settings.get("interrupt_response", True) and run is not None and not run.finished:
                        run.reason = "turn_detected"
                        run.cancel.set()
                        interrupted = run
                else:
                    item_id = self._vad_item_id or new_id("item")
                    self._vad_item_id = None
                    self._emit("input_audio_buffer.speech_stopped", audio_end_ms=detected.ms, item_id=item_id)
                    audio = self._take_audio(self._vad_start_ms, float(detected.ms))
                    self._commit(audio, item_id)
                    respond = bool(settings.get("create_response", True))
            if interrupted is not None and interrupted.thread is not None:
                # Let the cancelled response finish its tail before anything else is sent.
                interrupted.thread.join()
            if respond:
                try:
                    self._on_response_create({"type": "response.create"})
                except ClientError as exc:  # e.g. a response still running (interrupt_response off)
                    logger.debug("local server: no automatic response: %s", exc.message)

    def _take_audio(self, start_ms: float, end_ms: float) -> bytes:
        """Remove and return the buffered audio between two session times; drop what is before."""
        fmt = str(self.session["input_audio_format"])
        per_ms = bytes_per_ms(fmt)
        width = 2 if fmt == "pcm16" else 1

        def offset(ms: float) -> int:
            n = round((ms - self._buffer_start_ms) * per_ms)
            n -= n % width
            return min(max(n, 0), len(self._audio))

        first, last = offset(start_ms), offset(end_ms)
        audio = bytes(self._audio[first:last])
        del self._audio[:last]
        self._buffer_start_ms += last / per_ms
        return audio

    def _trim_idle_buffer(self) -> None:
        """With server VAD on and no speech, keep at most a minute of input buffer."""
        if self._vad.speaking:
            return
        per_ms = self._bytes_per_ms()
        excess = len(self._audio) - int(_MAX_IDLE_BUFFER_MS * per_ms)
        if excess > 0:
            excess -= excess % (2 if per_ms == 48 else 1)
            del self._audio[:excess]
            self._buffer_start_ms += excess / per_ms

    def _empty_buffer(self) -> None:
        self._audio.clear()
        self._buffer_start_ms = self._vad.appended_ms
        self._vad.reset_speech()
        self._vad_item_id = None

    def _on_audio_commit(self, event: dict[str, Any]) -> None:
        with self._lock:
            ms = len(self._audio) / self._bytes_per_ms()
            if ms < _MIN_COMMIT_MS:
                raise ClientError(
                    "Error committing input audio buffer: buffer too small. Expected at least "
                    f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
                    code="input_audio_buffer_commit_empty",
                )
            audio = bytes(self._audio)
            item_id = self._vad_item_id or new_id("item")
            self._empty_buffer()
            self._commit(audio, item_id)

    def _commit(self, audio: bytes, item_id: str) -> None:
        """Turn ``audio`` into a user audio item (committed, item.created, transcription)."""
        seconds = len(audio) / self._bytes_per_ms() / 1000.0
        previous = self.conversation.last_id()
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        part: dict[str, Any] = {"type": "input_audio", "transcript": None}
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [part],
        }
        info = _ItemInfo(audio=audio, audio_seconds=seconds)
        previous = self.conversation.insert(item, None, info)
        self._emit("conversation.item.created", previous_item_id=previous, item=item)
        if self.session.get("input_audio_transcription"):
            helper = threading.Thread(
                target=self._transcribe,
                args=(item_id, part, seconds),
                name=f"rtsync-server-transcribe-{len(self._helpers) + 1}",
                daemon=True,
            )
            self._helpers = [t for t in self._helpers if t.is_alive()]
            self._helpers.append(helper)
            if self._on_thread is not None:
                self._on_thread(helper)
            helper.start()

    def _transcribe(self, item_id: str, part: dict[str, Any], seconds: float) -> None:
        """Input transcription (runs on its own thread, like the real service's ASR pass)."""
        transcript = f"[speech {seconds:.1f} s]"
        envelope = {"item_id": item_id, "content_index": 0}
        try:
            with self._lock:
                self._emit("conversation.item.input_audio_transcription.delta", **envelope, delta=transcript)
            with self._lock:
                part["transcript"] = transcript
                self._emit(
                    "conversation.item.input_audio_transcription.completed", **envelope, transcript=transcript
                )
        except _Gone:
            pass

    def _on_audio_clear(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._empty_buffer()
            self._emit("input_audio_buffer.cleared")

    # -- conversation items ---------------------------------------------------------------------

    def _normalise_item(self, raw: Any, param: str) -> tuple[dict[str, Any], _ItemInfo]:
        """Check a client item and return it in server form, plus its side information."""
        if not isinstance(raw, dict):
            raise _type_error(param, "an object", raw)
        for key in raw:
            if key not in _ITEM_KEYS:
                raise _unknown(f"{param}.{key}")
        if "type" not in raw:
            raise _missing(f"{param}.type")
        kind = raw["type"]
        if kind not in ("message", "function_call", "function_call_output"):
            raise _bad_value(f"{param}.type", kind, ("message", "function_call", "function_call_output"))
        item_id = raw.get("id")
        if item_id is None:
            item_id = new_id("item")
        elif not isinstance(item_id, str) or not item_id:
            raise _type_error(f"{param}.id", "a non-empty string", item_id)
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": kind,
            "status": "completed",
        }
        info = _ItemInfo()
        if kind == "message":
            if "role" not in raw:
                raise _missing(f"{param}.role")
            role = raw["role"]
            if role not in ("user", "assistant", "system"):
                raise _bad_value(f"{param}.role", role, ("user", "assistant", "system"))
            content = raw.get("content")
            if content is None:
                raise _missing(f"{param}.content")
            if not isinstance(content, list):
                raise _type_error(f"{param}.content", "an array of objects", content)
            allowed = {
                "user": ("input_text", "input_audio"),
                "assistant": ("text",),
                "system": ("input_text",),
            }
            parts = []
            for index, part in enumerate(content):
                where = f"{param}.content[{index}]"
                if not isinstance(part, dict):
                    raise _type_error(where, "an object", part)
                ptype = part.get("type")
                if ptype is None:
                    raise _missing(f"{where}.type")
                if ptype not in allowed[role]:
                    if len(allowed[role]) == 1:
                        raise ClientError(
                            f"Invalid value: '{ptype}'. Value must be '{allowed[role][0]}'.",
                            code="invalid_value",
                            param=f"{where}.type",
                        )
                    raise _bad_value(f"{where}.type", ptype, allowed[role])
                if ptype in ("input_text", "text"):
                    if "text" not in part:
                        raise _missing(f"{where}.text")
                    parts.append({"type": ptype, "text": _check_str(f"{where}.text", part["text"])})
                else:  # input_audio
                    transcript = part.get("transcript")
                    if transcript is not None:
                        _check_str(f"{where}.transcript", transcript)
                    if part.get("audio") is not None:
                        encoded = _check_str(f"{where}.audio", part["audio"])
                        try:
                            audio = base64.b64decode(encoded, validate=True)
                        except (binascii.Error, ValueError):
                            raise ClientError(
                                f"Invalid '{where}.audio': the value is not valid base64-encoded audio.",
                                code="invalid_value",
                                param=f"{where}.audio",
                            ) from None
                        info.audio = (info.audio or b"") + audio
                        info.audio_seconds = len(info.audio) / self._bytes_per_ms() / 1000.0
                    parts.append({"type": "input_audio", "transcript": transcript})
            item["role"] = role
            item["content"] = parts
        elif kind == "function_call":
            for key in ("name", "call_id"):
                if key not in raw:
                    raise _missing(f"{param}.{key}")
            item["name"] = _check_str(f"{param}.name", raw["name"])
            item["call_id"] = _check_str(f"{param}.call_id", raw["call_id"])
            item["arguments"] = _check_str(f"{param}.arguments", raw.get("arguments", ""))
        else:
            for key in ("call_id", "output"):
                if key not in raw:
                    raise _missing(f"{param}.{key}")
            item["call_id"] = _check_str(f"{param}.call_id", raw["call_id"])
            item["output"] = _check_str(f"{param}.output", raw["output"])
        return item, info

    def _on_item_create(self, event: dict[str, Any]) -> None:
        if "item" not in event:
            raise _missing("item")
        previous_item_id = event.get("previous_item_id")
        if previous_item_id is not None:
            _check_str("previous_item_id", previous_item_id)
        item, info = self._normalise_item(event["item"], "item")
        with self._lock:
            if self.conversation.find(item["id"]) is not None:
                raise ClientError(
                    f"Error adding item: an item with id '{item['id']}' already exists.",
                    code="invalid_value",
                    param="item.id",
                )
            if item["type"] == "function_call_output" and not any(
                other.get("type") == "function_call" and other.get("call_id") == item["call_id"]
                for other in self.conversation.items
            ):
                raise ClientError(
                    f"Tool call ID '{item['call_id']}' not found in conversation.",
                    code="invalid_tool_call_id",
                    param="item.call_id",
                )
            previous = self.conversation.insert(item, previous_item_id, info)
            self._emit("conversation.item.created", previous_item_id=previous, item=item)

    def _item_id(self, event: dict[str, Any]) -> str:
        if "item_id" not in event:
            raise _missing("item_id")
        return _check_str("item_id", event["item_id"])

    def _on_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        values = []
        for key in ("content_index", "audio_end_ms"):
            if key not in event:
                raise _missing(key)
            value = event[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise _type_error(key, "an integer", value)
            if value < 0:
                raise ClientError(
                    f"Invalid '{key}': integer below minimum value. Expected a value >= 0, "
                    f"but got {value} instead.",
                    code="integer_below_min_value",
                    param=key,
                )
            values.append(value)
        content_index, audio_end_ms = values
        with self._lock:
            self.conversation.truncate(item_id, content_index, audio_end_ms)
            self._emit(
                "conversation.item.truncated",
                item_id=item_id,
                content_index=content_index,
                audio_end_ms=audio_end_ms,
            )

    def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        with self._lock:
            self.conversation.delete(item_id)
            self._emit("conversation.item.deleted", item_id=item_id)

    def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        with self._lock:
            item = self.conversation.find(item_id)
            if item is None:
                raise ClientError(
                    f"Error retrieving item: the item with id '{item_id}' does not exist.",
                    code="item_retrieve_invalid_item_id",
                    param="item_id",
                )
            full = copy.deepcopy(item)
            info = self.conversation.info.get(item_id)
            if info is not None and info.audio is not None:
                for part in full.get("content") or []:
                    if part.get("type") == "input_audio":
                        part["audio"] = base64.b64encode(info.audio).decode("ascii")
                        break
            self._emit("conversation.item.retrieved", item=full)

    # -- responses ------------------------------------------------------------------------------

    def _on_response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise _type_error("response", "an object", params)
        for key in params:
            if key not in _RESPONSE_KEYS:
                raise _unknown(f"response.{key}")
        conversation = params.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise _bad_value("response.conversation", conversation, ("auto", "none"))
        in_conversation = conversation == "auto"
        with self._lock:
            session = dict(self.session)
        # the response's own settings override the session's, checked in this order
        for key in ("modalities", "instructions", "voice", "output_audio_format", "tools", "tool_choice",
                    "temperature"):
            if key in params:
                session[key] = _FIELD_CHECKS[key](f"response.{key}", params[key])
        modalities, instructions, voice = session["modalities"], session["instructions"], session["voice"]
        out_format, tools, tool_choice = session["output_audio_format"], session["tools"], session["tool_choice"]
        temperature = session["temperature"]
        cap_value = session["max_response_output_tokens"]
        for key in ("max_response_output_tokens", "max_output_tokens"):
            if key in params:
                cap_value = _check_token_cap(f"response.{key}", params[key])
        metadata = _check_metadata("response.metadata", params.get("metadata"))
        raw_input = params.get("input")
        if raw_input is not None and not isinstance(raw_input, list):
            raise _type_error("response.input", "an array of objects", raw_input)

        with self._lock:
            if in_conversation and self._active is not None:
                raise ClientError(
                    "Conversation already has an active response",
                    code="conversation_already_has_active_response",
                )
            audio_seconds = {
                item_id: info.audio_seconds
                for item_id, info in self.conversation.info.items()
                if info.audio_seconds is not None
            }
            if raw_input is None:
                context = list(self.conversation.items)
            else:
                context = self._resolve_input(raw_input, audio_seconds)
            outputs = fake_model.plan_reply(
                context, tools=tools, tool_choice=tool_choice, audio_seconds=audio_seconds
            )
            text_in, audio_in = fake_model.context_tokens(context, audio_seconds)
            text_in += fake_model.text_tokens(instructions)
            response_id = new_id("resp")
            response: dict[str, Any] = {
                "object": "realtime.response",
                "id": response_id,
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "conversation_id": self.conversation.id if in_conversation else None,
                "modalities": modalities,
                "voice": voice,
                "output_audio_format": out_format,
                "temperature": temperature,
                "max_output_tokens": cap_value,
                "usage": None,
                "metadata": metadata,
            }
            run = _Run(
                id=response_id,
                response=response,
                outputs=outputs,
                in_conversation=in_conversation,
                cap=cap_value if isinstance(cap_value, int) else None,
                input_text_tokens=text_in,
                input_audio_tokens=audio_in,
            )
            self._emit("response.created", response=response)
            if self._rate_limits:
                self._emit_rate_limits(run)
            self._runs[response_id] = run
            if in_conversation:
                self._active = run
            self._run_count += 1
            run.thread = threading.Thread(
                target=self._stream,
                args=(run,),
                name=f"rtsync-server-response-{self._run_count}",
                daemon=True,
            )
            if self._on_thread is not None:
                self._on_thread(run.thread)
            run.thread.start()

    def _resolve_input(
        self, raw_input: list[Any], audio_seconds: dict[str, float]
    ) -> list[dict[str, Any]]:
        context = []
        for index, raw in enumerate(raw_input):
            param = f"response.input[{index}]"
            if isinstance(raw, dict) and raw.get("type") == "item_reference":
                ref = raw.get("id")
                item = self.conversation.find(ref) if isinstance(ref, str) else None
                if item is None:
                    raise ClientError(
                        f"Invalid value: '{ref}'. No item with this id exists in the conversation.",
                        code="invalid_value",
                        param=f"{param}.id",
                    )
                context.append(item)
                continue
            item, info = self._normalise_item(raw, param)
            if info.audio_seconds is not None:
                audio_seconds[item["id"]] = info.audio_seconds
            context.append(item)
        return context

    def _emit_rate_limits(self, run: _Run) -> None:
        reserved = run.input_text_tokens + run.input_audio_tokens + 4096
        self._emit(
            "rate_limits.updated",
            rate_limits=[
                {"name": "requests", "limit": _RATE_REQUESTS, "remaining": _RATE_REQUESTS - 1,
                 "reset_seconds": 0.003},
                {"name": "tokens", "limit": _RATE_TOKENS, "remaining": _RATE_TOKENS - reserved,
                 "reset_seconds": round(reserved * 60 / _RATE_TOKENS, 3)},
            ],
        )

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        response_id = event.get("response_id")
        if response_id is not None:
            _check_str("response_id", response_id)
        with self._lock:
            run = self._runs.get(response_id) if response_id else self._active
            if run is None or run.finished:
                raise ClientError(
                    "Cancellation failed: no active response found", code="response_cancel_not_active"
                )
            run.reason = "client_cancelled"
            run.cancel.set()
        # Wait for the response to wind down, so that the events of the next client event come
        # after its response.done (and a new response.create finds no active response).
        if run.thread is not None:
            run.thread.join()

    # -- streaming (runs on the response thread) ------------------------------------------------

    def _wait(self, run: _Run) -> None:
        if self._text_delay:
            run.cancel.wait(self._text_delay)

    def _stream(self, run: _Run) -> None:
        try:
            for index, output in enumerate(run.outputs):
                if index:
                    self._wait(run)
                if run.cancel.is_set():
                    break
                if isinstance(output, fake_model.Message):
                    self._stream_message(run, index, output)
                else:
                    self._stream_call(run, index, output)
            self._finish(run)
        except _Gone:
            pass
        except Exception:
            logger.exception("local server: response %s failed", run.id)
            try:
                self._finish(run, failed=True)
            except _Gone:
                pass
        finally:
            with self._lock:
                run.finished = True
                self._runs.pop(run.id, None)
                if self._active is run:
                    self._active = None

    def _start_item(self, run: _Run, index: int, item: dict[str, Any]) -> bool:
        """Announce a new output item; False when the response was cancelled first."""
        with self._lock:
            if run.cancel.is_set():
                return False
            self._emit("response.output_item.added", response_id=run.id, output_index=index, item=item)
            if run.in_conversation:
                previous = self.conversation.insert(item)
                self._emit("conversation.item.created", previous_item_id=previous, item=item)
            return True

    def _stream_message(self, run: _Run, index: int, output: fake_model.Message) -> None:
        item: dict[str, Any] = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        envelope = {"response_id": run.id, "item_id": item["id"], "output_index": index, "content_index": 0}
        if not self._start_item(run, index, item):
            return
        chunks, run.truncated = fake_model.cap_chunks(fake_model.split_words(output.text), run.cap)
        if "audio" in run.response["modalities"]:
            self._stream_audio_part(run, index, item, envelope, chunks)
            return
        with self._lock:
            self._emit("response.content_part.added", **envelope, part={"type": "text", "text": ""})
        text = ""
        for number, chunk in enumerate(chunks):
            if number:
                self._wait(run)
            with self._lock:
                if run.cancel.is_set():
                    break
                self._emit("response.text.delta", **envelope, delta=chunk)
                text += chunk
        with self._lock:
            status = "incomplete" if run.cancel.is_set() or run.truncated else "completed"
            part = {"type": "text", "text": text}
            self._emit("response.text.done", **envelope, text=text)
            self._emit("response.content_part.done", **envelope, part=part)
            item["status"] = status
            item["content"] = [dict(part)]
            self._emit("response.output_item.done", response_id=run.id, output_index=index, item=item)
            run.response["output"].append(item)
            run.output_tokens += fake_model.text_tokens(text)

    def _stream_audio_part(
        self,
        run: _Run,
        index: int,
        item: dict[str, Any],
        envelope: dict[str, Any],
        words: list[str],
    ) -> None:
        """Stream an ``audio`` content part: audio deltas interleaved with transcript deltas."""
        text = "".join(words)
        fmt = str(run.response["output_audio_format"])
        samples = fake_voice.synthesize(text, self._voice) if text.strip() else None
        data = encode_audio(samples, fmt, fake_voice.RATE) if samples is not None else b""
        per_ms = bytes_per_ms(fmt)
        chunk_bytes = per_ms * _AUDIO_CHUNK_MS
        total_ms = len(data) / per_ms
        # Where each word starts and ends in the audio, in proportion to its length.
        total_chars = sum(len(w) for w in words) or 1
        starts: list[float] = []
        ends: list[float] = []
        done_chars = 0
        for word in words:
            starts.append(total_ms * done_chars / total_chars)
            done_chars += len(word)
            ends.append(total_ms * done_chars / total_chars)
        part: dict[str, Any] = {"type": "audio", "transcript": ""}
        info: _ItemInfo | None = None
        with self._lock:
            self._emit("response.content_part.added", **envelope, part=dict(part))
            item["content"] = [part]
            if run.in_conversation:
                info = self.conversation.info.get(item["id"])
                if info is not None:
                    info.words = list(words)
                    info.word_ends_ms = ends
        transcript = ""
        sent_words = 0
        sent_bytes = 0

        def send_words(until_ms: float) -> bool:
            nonlocal transcript, sent_words
            while sent_words < len(words) and starts[sent_words] < until_ms:
                if sent_words:
                    self._wait(run)
                with self._lock:
                    if run.cancel.is_set():
                        return False
                    word = words[sent_words]
                    self._emit("response.audio_transcript.delta", **envelope, delta=word)
                    transcript += word
                    sent_words += 1
                    if info is None or info.truncated_ms is None:
                        part["transcript"] = transcript
            return True

        for offset in range(0, len(data), chunk_bytes):
            chunk = data[offset:offset + chunk_bytes]
            if not send_words((offset + len(chunk)) / per_ms):
                break
            if offset and self._audio_pace:
                run.cancel.wait(self._audio_pace * len(chunk) / per_ms / 1000.0)
            with self._lock:
                if run.cancel.is_set():
                    break
                self._emit("response.audio.delta", **envelope, delta=base64.b64encode(chunk).decode("ascii"))
                sent_bytes += len(chunk)
                if info is not None and info.truncated_ms is None:
                    info.audio_ms = int(sent_bytes / per_ms)
        else:
            send_words(float("inf"))
        with self._lock:
            status = "incomplete" if run.cancel.is_set() or run.truncated else "completed"
            self._emit("response.audio.done", **envelope)
            self._emit("response.audio_transcript.done", **envelope, transcript=transcript)
            self._emit("response.content_part.done", **envelope, part={"type": "audio", "transcript": transcript})
            item["status"] = status
            self._emit(
                "response.output_item.done",
                response_id=run.id,
                output_index=index,
                item={**item, "content": [{"type": "audio", "transcript": transcript}]},
            )
            if info is None or info.truncated_ms is None:
                part["transcript"] = transcript
            else:  # truncated while streaming: keep what was heard
                part["transcript"] = _cut_transcript(info, transcript, info.truncated_ms, info.audio_ms or 0)
            run.response["output"].append(item)
            run.output_tokens += fake_model.text_tokens(transcript)
            run.output_audio_tokens += fake_model.audio_tokens(sent_bytes / per_ms / 1000.0)

    def _stream_call(self, run: _Run, index: int, output: fake_model.FunctionCall) -> None:
        item: dict[str, Any] = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": output.name,
            "call_id": new_id("call", 16),
            "arguments": "",
        }
        envelope = {
            "response_id": run.id,
            "item_id": item["id"],
            "output_index": index,
            "call_id": item["call_id"],
        }
        if not self._start_item(run, index, item):
            return
        arguments = ""
        for number, chunk in enumerate(fake_model.split_arguments(output.arguments)):
            if number:
                self._wait(run)
            with self._lock:
                if run.cancel.is_set():
                    break
                self._emit("response.function_call_arguments.delta", **envelope, delta=chunk)
                arguments += chunk
        with self._lock:
            self._emit(
                "response.function_call_arguments.done", **envelope, name=output.name, arguments=arguments
            )
            item["status"] = "incomplete" if run.cancel.is_set() else "completed"
            item["arguments"] = arguments
            self._emit("response.output_item.done", response_id=run.id, output_index=index, item=item)
            run.response["output"].append(item)
            run.output_tokens += fake_model.text_tokens(output.name) + fake_model.text_tokens(arguments)

    def _finish(self, run: _Run, failed: bool = False) -> None:
        with self._lock:
            response = run.response
            if failed:
                response["status"] = "failed"
                response["status_details"] = {
                    "type": "failed",
                    "error": {"type": "server_error", "code": None,
                              "message": "The server had an error while processing your request."},
                }
            elif run.cancel.is_set():
                response["status"] = "cancelled"
                response["status_details"] = {"type": "cancelled", "reason": run.reason}
            elif run.truncated:
                response["status"] = "incomplete"
                response["status_details"] = {"type": "incomplete", "reason": "max_output_tokens"}
            else:
                response["status"] = "completed"
            if response["status"] == "cancelled" and not response["output"]:
                text_in = audio_in = 0
            else:
                text_in, audio_in = run.input_text_tokens, run.input_audio_tokens
            output_total = run.output_tokens + run.output_audio_tokens
            response["usage"] = {
                "total_tokens": text_in + audio_in + output_total,
                "input_tokens": text_in + audio_in,
                "output_tokens": output_total,
                "input_token_details": {
                    "text_tokens": text_in,
                    "audio_tokens": audio_in,
                    "cached_tokens": 0,
                    "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
                },
                "output_token_details": {
                    "text_tokens": run.output_tokens,
                    "audio_tokens": run.output_audio_tokens,
                },
            }
            run.finished = True
            self._runs.pop(run.id, None)
            if self._active is run:
                self._active = None
            self._emit("response.done", response=response)
