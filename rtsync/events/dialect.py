"""Translation between rtsync's beta vocabulary and the GA wire protocol, both directions.

rtsync's event classes, typed senders and user API speak the 2024-10-01 beta vocabulary. The
live service now accepts only the GA protocol (``shared/protocol/GA.md``): the same event
names for client events with reshaped payloads, several renamed server events, a nested
session object and new content type names. Everything that knows the difference is here, so
that nothing above the codec needs to.

All functions are pure: they never modify their argument (they build new dicts, sharing
unchanged values such as base64 strings) and may return the argument itself when there is
nothing to change.

Client side (what a client sends / receives):
    :func:`client_to_ga`
        beta client event dict -> GA client event dict. ``session.update``: nested GA session
        (``type: "realtime"``, ``output_modalities``, ``audio.input.{format, transcription,
        turn_detection, noise_reduction}``, ``audio.output.{format, voice, speed}``,
        ``max_output_tokens``); ``transcription_session.update`` -> ``session.update`` with
        ``type: "transcription"``; ``response.create``: ``output_modalities``,
        ``audio.output.{voice, format}``, ``max_output_tokens``, items of ``input`` translated;
        ``conversation.item.create``: content ``text`` -> ``output_text``, ``audio`` ->
        ``output_audio``. Fields with no GA equivalent (``temperature``, the server-owned
        ``id``/``object``/``expires_at``/``client_secret`` of a session, ``modalities`` of a
        transcription session) are dropped, with one :class:`DroppedFieldWarning` (and one
        ``rtsync`` logger warning) per field name per process. Every other event passes
        through. Input already in GA shape comes back unchanged (the function is idempotent),
        so a user may send native GA events.
    :func:`event_from_ga` (also :func:`server_from_ga`; used by ``parse_event(data,
    dialect="ga")``)
        GA event dict -> typed event in the beta vocabulary. ``response.output_text.*`` ->
        ``response.text.*``, ``response.output_audio.*`` -> ``response.audio.*``,
        ``response.output_audio_transcript.*`` -> ``response.audio_transcript.*``,
        ``conversation.item.added`` -> ``conversation.item.created`` (the beta event sent when
        an item enters the conversation), ``conversation.item.done`` -> its own class
        :class:`~rtsync.events.ga.ConversationItemDone`; a GA ``session`` becomes a beta
        :class:`~rtsync.events.models.Session` (``session.created/updated`` of a transcription
        session become ``transcription_session.created/updated``); items get ``text``/``audio``
        content types; response objects get ``modalities``, ``voice``, ``output_audio_format``.
        GA-only events keep their names and get the classes of :mod:`rtsync.events.ga`. GA
        client events (a recorded GA session, say) are translated with :func:`client_from_ga`.
        A translated event's ``type`` and ``to_dict()`` are beta; ``event.wire`` is the GA
        dict. GA fields without a beta name stay as they are (kept in ``extra_fields``).

Server side (what rtsync's local server receives / sends in GA mode):
    :func:`client_from_ga`
        GA client event dict -> the beta dict the local server handles (the inverse of
        :func:`client_to_ga`; GA-only fields are kept under their GA names, see
        :data:`GA_ONLY_SESSION_FIELDS`).
    :func:`server_to_ga`
        beta server event dict -> GA server event dict (the inverse of the renames and
        reshapes above). :func:`server_to_ga_events` also adds the GA-only
        ``conversation.item.done`` where the GA server sends it.
    :func:`check_ga_client_event`
        the error the GA service gives for a beta-shaped client event (missing
        ``session.type``, beta field names, string audio formats...), or ``None``.

Audio formats: ``pcm16`` <-> ``{"type": "audio/pcm", "rate": 24000}``, ``g711_ulaw`` <->
``{"type": "audio/pcmu"}``, ``g711_alaw`` <-> ``{"type": "audio/pcma"}``. Modalities:
``["text", "audio"]`` (or ``["audio"]``) <-> ``["audio"]`` (GA audio output always carries its
transcript), ``["text"]`` <-> ``["text"]``.
"""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from rtsync.events import server as _server
from rtsync.events._base import Event
from rtsync.events.codec import event_class, loader, parse_event

__all__ = [
    "GA_ONLY_SESSION_FIELDS",
    "GA_TO_BETA_NAMES",
    "DroppedFieldWarning",
    "check_ga_client_event",
    "client_from_ga",
    "client_to_ga",
    "event_from_ga",
    "format_from_ga",
    "format_to_ga",
    "item_from_ga",
    "item_to_ga",
    "reset_drop_warnings",
    "server_from_ga",
    "server_to_ga",
    "server_to_ga_events",
    "session_from_ga",
    "session_to_ga",
]

logger = logging.getLogger("rtsync.dialect")

Json = dict[str, Any]

#: Session fields of the GA protocol that the beta protocol does not have.
GA_ONLY_SESSION_FIELDS = frozenset({"type", "truncation", "reasoning", "parallel_tool_calls", "prompt"})


class DroppedFieldWarning(UserWarning):
    """A beta field with no GA equivalent was left out of a GA event (issued once per field)."""


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _drop(name: str) -> None:
    """Warn, once per process and field name, that ``name`` was dropped."""
    with _warned_lock:
        if name in _warned:
            return
        _warned.add(name)
    message = f"'{name}' has no equivalent in the GA Realtime protocol and was not sent"
    logger.warning("%s", message)
    warnings.warn(message, DroppedFieldWarning, stacklevel=4)


def reset_drop_warnings() -> None:
    """Forget which dropped fields were already warned about (so the next drop warns again)."""
    with _warned_lock:
        _warned.clear()


# -- audio formats and modalities -----------------------------------------------------------------

_FORMAT_TO_GA: dict[str, Json] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
    # GA type names given as plain strings are completed too (the service wants an object).
    "audio/pcm": {"type": "audio/pcm", "rate": 24000},
    "audio/pcmu": {"type": "audio/pcmu"},
    "audio/pcma": {"type": "audio/pcma"},
}
_FORMAT_FROM_GA = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def format_to_ga(value: Any) -> Any:
    """A beta audio format name (``"pcm16"``...) as a GA format object; other values as they are."""
    if isinstance(value, str):
        ga = _FORMAT_TO_GA.get(value)
        return dict(ga) if ga is not None else value
    return value


def format_from_ga(value: Any) -> Any:
    """A GA format object as the beta name; ``audio/pcm`` at another rate stays an object."""
    if isinstance(value, dict):
        name = _FORMAT_FROM_GA.get(value.get("type"))  # type: ignore[arg-type]
        if name is None or set(value) - {"type", "rate"}:
            return value
        if name == "pcm16" and value.get("rate", 24000) != 24000:
            return value
        return name
    return value


def _modalities_to_ga(value: Any) -> Any:
    if isinstance(value, list) and "audio" in value:
        return ["audio"]
    return value


def _modalities_from_ga(value: Any) -> Any:
    if isinstance(value, list) and value == ["audio"]:
        return ["text", "audio"]
    return value


def _merge(base: Json, over: Any) -> Json:
    """``base`` updated by the dict ``over``, recursively for nested dicts (new dicts)."""
    if not isinstance(over, dict):
        return base
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


# -- sessions --------------------------------------------------------------------------------------

# beta session key -> (GA audio direction, GA key, converter)
_SESSION_AUDIO: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "voice": ("output", "voice", lambda v: v),
    "speed": ("output", "speed", lambda v: v),
    "output_audio_format": ("output", "format", format_to_ga),
    "input_audio_format": ("input", "format", format_to_ga),
    "input_audio_transcription": ("input", "transcription", lambda v: v),
    "input_audio_noise_reduction": ("input", "noise_reduction", lambda v: v),
    "turn_detection": ("input", "turn_detection", lambda v: v),
}
_SERVER_OWNED = ("id", "object", "expires_at")


def session_to_ga(session: Any, *, kind: str = "realtime", request: bool = True) -> Any:
    """A beta session object as a GA session object (see the module docstring).

    Args:
        session: the beta ``session`` dict (anything else is returned as is).
        kind: the GA session ``type`` to add when absent: ``"realtime"`` or ``"transcription"``.
        request: ``True`` for a client's ``session.update`` (server-owned ``id``/``object``/
            ``expires_at``/``client_secret`` and ``temperature`` are dropped with a warning);
            ``False`` for a server's ``session.created/updated`` (``temperature`` and
            ``client_secret`` are dropped silently, the rest kept).
    """
    if not isinstance(session, dict):
        return session
    converted: Json = {}
    audio: dict[str, Json] = {}
    native: Json = {}
    for key, value in session.items():
        spec = _SESSION_AUDIO.get(key)
        if spec is not None:
            if kind == "transcription" and spec[0] == "output":
                if request:
                    _drop(key)
                continue
            audio.setdefault(spec[0], {})[spec[1]] = spec[2](value)
        elif key == "modalities":
            if kind == "transcription":
                if request:
                    _drop(key)
                continue
            converted["output_modalities"] = _modalities_to_ga(value)
        elif key == "max_response_output_tokens":
            converted["max_output_tokens"] = value
        elif key in ("temperature", "client_secret") or (request and key in _SERVER_OWNED):
            if request:
                _drop(key)
        else:
            native[key] = value
    out: Json = {"type": kind}
    out.update(converted)
    if audio:
        native_audio = native.pop("audio", None)
        out["audio"] = _merge(audio, native_audio) if isinstance(native_audio, dict) else audio
    out.update(native)
    return out


_SESSION_AUDIO_BACK = {(spec[0], spec[1]): key for key, spec in _SESSION_AUDIO.items()}


def session_from_ga(session: Any) -> Any:
    """A GA session object as a beta session object (``type`` is left out).

    ``audio`` is unnested (``audio.input.format`` -> ``input_audio_format`` and so on); keys
    without a beta name (``truncation``, ``reasoning``, unknown ``audio`` sub-keys...) are kept.
    """
    if not isinstance(session, dict):
        return session
    out: Json = {}
    for key, value in session.items():
        if key == "type" and value in ("realtime", "transcription"):
            continue
        if key == "output_modalities":
            out["modalities"] = _modalities_from_ga(value)
        elif key == "max_output_tokens":
            out["max_response_output_tokens"] = value
        elif key == "audio" and isinstance(value, dict):
            rest: Json = {}
            for direction, config in value.items():
                if not isinstance(config, dict):
                    rest[direction] = config
                    continue
                left: Json = {}
                for sub, sub_value in config.items():
                    beta = _SESSION_AUDIO_BACK.get((direction, sub))
                    if beta is None:
                        left[sub] = sub_value
                    elif sub == "format":
                        out[beta] = format_from_ga(sub_value)
                    else:
                        out[beta] = sub_value
                if left:
                    rest[direction] = left
            if rest:
                out["audio"] = rest
        else:
            out[key] = value
    return out


# -- items and responses ---------------------------------------------------------------------------

_PART_TO_GA = {"text": "output_text", "audio": "output_audio"}
_PART_FROM_GA = {"output_text": "text", "output_audio": "audio"}


def _map_parts(item: Json, table: dict[str, str], drop_object: bool) -> Json:
    content = item.get("content")
    changed = drop_object and "object" in item
    new_content = content
    if isinstance(content, list):
        new_content = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in table:
                part = {**part, "type": table[part["type"]]}
                changed = True
            new_content.append(part)
    if not changed:
        return item
    out = {k: v for k, v in item.items() if not (drop_object and k == "object")}
    if isinstance(content, list):
        out["content"] = new_content
    return out


def item_to_ga(item: Any, *, server: bool = False) -> Any:
    """A beta item as a GA item: content ``text`` -> ``output_text``, ``audio`` -> ``output_audio``.

    Args:
        item: the item dict (anything else is returned as is).
        server: also drop ``object`` (the GA service does not send it).
    """
    return _map_parts(item, _PART_TO_GA, server) if isinstance(item, dict) else item


def item_from_ga(item: Any) -> Any:
    """A GA item as a beta item: content ``output_text`` -> ``text``, ``output_audio`` -> ``audio``."""
    return _map_parts(item, _PART_FROM_GA, False) if isinstance(item, dict) else item


def _items(value: Any, fn: Callable[[Any], Any]) -> Any:
    return [fn(x) for x in value] if isinstance(value, list) else value


def _response_params_to_ga(params: Any) -> Any:
    """``response.create.response`` (beta) as GA response parameters."""
    if not isinstance(params, dict):
        return params
    converted: Json = {}
    output: Json = {}
    native: Json = {}
    for key, value in params.items():
        if key == "modalities":
            converted["output_modalities"] = _modalities_to_ga(value)
        elif key == "voice":
            output["voice"] = value
        elif key == "output_audio_format":
            output["format"] = format_to_ga(value)
        elif key == "max_response_output_tokens":
            converted["max_output_tokens"] = value
        elif key == "temperature":
            _drop(key)
        elif key == "input":
            native[key] = _items(value, item_to_ga)
        else:
            native[key] = value
    out = {**converted, **native}
    if output:
        audio = out.get("audio")
        out["audio"] = _merge({"output": output}, audio) if isinstance(audio, dict) else {"output": output}
    return out


def _response_params_from_ga(params: Any) -> Any:
    """GA response parameters as beta ``response.create.response``."""
    if not isinstance(params, dict):
        return params
    out: Json = {}
    for key, value in params.items():
        if key == "output_modalities":
            out["modalities"] = _modalities_from_ga(value)
        elif key == "max_output_tokens":
            out["max_response_output_tokens"] = value
        elif key == "input":
            out[key] = _items(value, item_from_ga)
        elif key == "audio" and isinstance(value, dict):
            out.update(_unnest_output(value))
        else:
            out[key] = value
    return out


def _unnest_output(audio: Json) -> Json:
    """``audio.output.{voice, format}`` of a GA response as beta ``voice``/``output_audio_format``."""
    out: Json = {}
    rest: Json = {k: v for k, v in audio.items() if k != "output"}
    output = audio.get("output")
    if isinstance(output, dict):
        left = {}
        for sub, value in output.items():
            if sub == "voice":
                out["voice"] = value
            elif sub == "format":
                out["output_audio_format"] = format_from_ga(value)
            else:
                left[sub] = value
        if left:
            rest["output"] = left
    elif output is not None:
        rest["output"] = output
    if rest:
        out["audio"] = rest
    return out


def _response_to_ga(response: Any) -> Any:
    """A beta response object (``response.created/done``) as a GA response object."""
    if not isinstance(response, dict):
        return response
    out: Json = {}
    output: Json = {}
    for key, value in response.items():
        if key == "modalities":
            out["output_modalities"] = _modalities_to_ga(value)
        elif key == "voice":
            output["voice"] = value
        elif key == "output_audio_format":
            output["format"] = format_to_ga(value)
        elif key == "temperature":
            continue
        elif key == "output":
            out[key] = _items(value, lambda x: item_to_ga(x, server=True))
        else:
            out[key] = value
    if output:
        out["audio"] = {"output": output}
    return out


def _response_from_ga(response: Any) -> Any:
    """A GA response object as a beta response object."""
    if not isinstance(response, dict):
        return response
    out: Json = {}
    for key, value in response.items():
        if key == "output_modalities":
            out["modalities"] = _modalities_from_ga(value)
        elif key == "audio" and isinstance(value, dict):
            out.update(_unnest_output(value))
        elif key == "output":
            out[key] = _items(value, item_from_ga)
        else:
            out[key] = value
    return out


# -- client events ---------------------------------------------------------------------------------


def client_to_ga(event: Json) -> Json:
    """A client event in rtsync's beta vocabulary as a valid GA client event.

    Args:
        event: the event dict, as ``ClientEvent.to_dict()`` produces it (or native GA).

    Returns:
        The GA event dict: a new dict for ``session.update``, ``transcription_session.update``,
        ``response.create`` and ``conversation.item.create``; ``event`` itself for every other
        type (their payloads are the same in both dialects). Idempotent: GA input comes back
        equal to itself.

    Warns:
        DroppedFieldWarning: once per field name, when a field with no GA equivalent is dropped.
    """
    kind = event.get("type")
    if kind == "session.update":
        session = event.get("session")
        ga_kind = session.get("type", "realtime") if isinstance(session, dict) else "realtime"
        return {**event, "session": session_to_ga(session, kind=ga_kind if isinstance(ga_kind, str) else "realtime")}
    if kind == "transcription_session.update":
        return {**event, "type": "session.update", "session": session_to_ga(event.get("session"), kind="transcription")}
    if kind == "response.create":
        if "response" not in event:
            return event
        return {**event, "response": _response_params_to_ga(event["response"])}
    if kind == "conversation.item.create":
        if "item" not in event:
            return event
        return {**event, "item": item_to_ga(event["item"])}
    return event


def client_from_ga(event: Json) -> Json:
    """A GA client event as the beta dict rtsync's local server handles (inverse of :func:`client_to_ga`).

    ``session.update`` with ``session.type == "transcription"`` becomes
    ``transcription_session.update``. GA-only session fields (:data:`GA_ONLY_SESSION_FIELDS`
    other than ``type``) are kept under their GA names. Other events come back as they are.
    """
    kind = event.get("type")
    if kind == "session.update":
        session = event.get("session")
        if isinstance(session, dict) and session.get("type") == "transcription":
            return {**event, "type": "transcription_session.update", "session": session_from_ga(session)}
        return {**event, "session": session_from_ga(session)}
    if kind == "response.create" and "response" in event:
        return {**event, "response": _response_params_from_ga(event["response"])}
    if kind == "conversation.item.create" and "item" in event:
        return {**event, "item": item_from_ga(event["item"])}
    return event


# -- what the GA service answers to beta shapes ----------------------------------------------------

_BETA_SESSION_FIELDS = (
    "modalities",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
    "temperature",
    "max_response_output_tokens",
    "speed",
    "client_secret",
)
_BETA_RESPONSE_FIELDS = ("modalities", "voice", "output_audio_format", "temperature", "max_response_output_tokens")


def _error(message: str, code: str, param: str | None) -> Json:
    return {"type": "invalid_request_error", "code": code, "message": message, "param": param}


def _check_format(param: str, value: Any, output: bool) -> Json | None:
    if value is None or value.__class__ is not dict:
        if isinstance(value, str):
            return _error(
                f"Invalid type for '{param}': expected an object, but got a string instead.",
                "invalid_type",
                param,
            )
        return None
    if output and value.get("type") == "audio/pcm" and "rate" not in value:
        return _error(f"Missing required parameter: '{param}.rate'.", "missing_required_parameter", f"{param}.rate")
    return None


def check_ga_client_event(event: Json) -> Json | None:
    """The error the GA service reports for a beta-shaped client event, or ``None`` if it has none.

    Checks the reactions listed in GA.md §6: ``session.update`` without ``session.type``
    (``missing_required_parameter``), beta session or response fields such as
    ``session.modalities`` or ``response.voice`` (``unknown_parameter``), audio formats given
    as strings (``invalid_type``), PCM output without ``rate``, assistant content of type
    ``text``/``audio`` (``invalid_value``) and ``transcription_session.update``.

    Returns:
        ``{type, code, message, param}`` (the ``error`` object of an ``error`` event) or ``None``.
    """
    kind = event.get("type")
    if kind == "transcription_session.update":
        return _error(
            "Invalid value: 'transcription_session.update'. Use 'session.update' with "
            "session.type 'transcription' instead.",
            "invalid_value",
            "type",
        )
    if kind == "session.update":
        session = event.get("session")
        if not isinstance(session, dict):
            return None
        if "type" not in session:
            return _error("Missing required parameter: 'session.type'.", "missing_required_parameter", "session.type")
        for key in _BETA_SESSION_FIELDS:
            if key in session:
                return _error(f"Unknown parameter: 'session.{key}'.", "unknown_parameter", f"session.{key}")
        audio = session.get("audio")
        if isinstance(audio, dict):
            for direction in ("input", "output"):
                config = audio.get(direction)
                if isinstance(config, dict) and "format" in config:
                    err = _check_format(f"session.audio.{direction}.format", config["format"], direction == "output")
                    if err is not None:
                        return err
        return None
    if kind == "response.create":
        params = event.get("response")
        if not isinstance(params, dict):
            return None
        for key in _BETA_RESPONSE_FIELDS:
            if key in params:
                return _error(f"Unknown parameter: 'response.{key}'.", "unknown_parameter", f"response.{key}")
        audio = params.get("audio")
        output = audio.get("output") if isinstance(audio, dict) else None
        if isinstance(output, dict) and "format" in output:
            return _check_format("response.audio.output.format", output["format"], True)
        return None
    if kind == "conversation.item.create":
        item = event.get("item")
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(item, dict) and item.get("role") == "assistant" and isinstance(content, list):
            for i, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") in _PART_TO_GA:
                    return _error(
                        f"Invalid value: '{part['type']}'. Supported values are: 'output_text' and 'output_audio'.",
                        "invalid_value",
                        f"item.content[{i}].type",
                    )
    return None


# -- server events ---------------------------------------------------------------------------------

#: beta server event type -> GA server event type (pure renames and the item split).
_SERVER_RENAMES = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "conversation.item.created": "conversation.item.added",
}
#: GA server event type -> the beta type it is renamed to (the inverse of the renames above).
GA_TO_BETA_NAMES = {ga: beta for beta, ga in _SERVER_RENAMES.items()}
_ITEM_EVENTS = frozenset({
    "conversation.item.created",
    "conversation.item.added",
    "conversation.item.done",
    "conversation.item.retrieved",
    "response.output_item.added",
    "response.output_item.done",
})
_PART_EVENTS = frozenset({"response.content_part.added", "response.content_part.done"})


def server_to_ga(event: Json) -> Json:
    """A server event in the beta vocabulary (as rtsync's local server emits it) as a GA event.

    Renames (``response.text.*`` -> ``response.output_text.*``, ``response.audio.*`` ->
    ``response.output_audio.*``, ``response.audio_transcript.*`` ->
    ``response.output_audio_transcript.*``, ``conversation.item.created`` ->
    ``conversation.item.added``, ``transcription_session.created/updated`` ->
    ``session.created/updated``), reshapes sessions, responses and items (content
    ``output_text``/``output_audio``, no ``object`` on items); content-part events keep
    ``text``/``audio`` part types, as the GA service does. Other events come back as they are.
    """
    kind = event.get("type")
    if kind in ("session.created", "session.updated"):
        return {**event, "session": session_to_ga(event.get("session"), request=False)}
    if kind in ("transcription_session.created", "transcription_session.updated"):
        return {
            **event,
            "type": kind.replace("transcription_session", "session"),  # type: ignore[union-attr]
            "session": session_to_ga(event.get("session"), kind="transcription", request=False),
        }
    if kind in ("response.created", "response.done"):
        return {**event, "response": _response_to_ga(event.get("response"))}
    renamed = _SERVER_RENAMES.get(kind)  # type: ignore[arg-type]
    if kind in _ITEM_EVENTS:
        out = {**event, "item": item_to_ga(event.get("item"), server=True)} if "item" in event else dict(event)
        if renamed is not None:
            out["type"] = renamed
        return out
    if renamed is not None:
        return {**event, "type": renamed}
    return event


def _new_event_id() -> str:
    return "event_" + uuid.uuid4().hex[:21]


def server_to_ga_events(event: Json) -> list[Json]:
    """Like :func:`server_to_ga`, plus the GA-only events the GA service sends alongside.

    A ``conversation.item.created`` whose item is already ``completed`` (a user or client item)
    gives ``conversation.item.added`` then ``conversation.item.done``; a
    ``response.output_item.done`` is followed by ``conversation.item.done`` for the same item.
    The added events get fresh ``event_id`` values.
    """
    ga = server_to_ga(event)
    kind = event.get("type")
    item = ga.get("item")
    if isinstance(item, dict) and (
        (kind == "conversation.item.created" and item.get("status", "completed") == "completed")
        or kind == "response.output_item.done"
    ):
        done: Json = {"type": "conversation.item.done", "event_id": _new_event_id()}
        if "previous_item_id" in ga:
            done["previous_item_id"] = ga["previous_item_id"]
        done["item"] = item
        return [ga, done]
    return [ga]


def _session_event(d: Json) -> tuple[Json, str]:
    session = d.get("session")
    beta_type = d["type"]
    if isinstance(session, dict) and session.get("type") == "transcription":
        beta_type = beta_type.replace("session", "transcription_session", 1)
    return {**d, "type": beta_type, "session": session_from_ga(session)}, beta_type


def _translate_server(d: Json) -> Json:
    """GA server event dict -> beta dict, for the events whose payload changes."""
    kind = d["type"]
    if kind in ("response.created", "response.done"):
        return {**d, "response": _response_from_ga(d.get("response"))}
    if kind in _ITEM_EVENTS:
        out = {**d, "item": item_from_ga(d.get("item"))} if "item" in d else dict(d)
        if kind == "conversation.item.added":
            out["type"] = "conversation.item.created"
        return out
    if kind in _PART_EVENTS:
        part = d.get("part")
        if isinstance(part, dict) and part.get("type") in _PART_FROM_GA:
            return {**d, "part": {**part, "type": _PART_FROM_GA[part["type"]]}}
        return d
    return d


#: GA server event types that are only renamed: their dict loads directly into the beta class
#: (the loaders ignore ``type``), without a copy.
_RENAMED_FROM_GA: dict[str, type[Event]] = {
    "response.output_text.delta": _server.ResponseTextDelta,
    "response.output_text.done": _server.ResponseTextDone,
    "response.output_audio.delta": _server.ResponseAudioDelta,
    "response.output_audio.done": _server.ResponseAudioDone,
    "response.output_audio_transcript.delta": _server.ResponseAudioTranscriptDelta,
    "response.output_audio_transcript.done": _server.ResponseAudioTranscriptDone,
}
_RENAMED_LOADERS: dict[str, Callable[[Json], Any]] = {}
_CLIENT_RESHAPED = frozenset({"session.update", "response.create", "conversation.item.create"})
_TRANSLATED = frozenset({"response.created", "response.done"}) | _ITEM_EVENTS | _PART_EVENTS


def event_from_ga(data: Json) -> Event:
    """A decoded GA frame as a typed event in rtsync's beta vocabulary (see the module docstring).

    Args:
        data: the decoded frame; it must have a string ``type`` (``parse_event`` checks that).

    Returns:
        The event; when its payload was translated, ``event.wire`` is ``data`` itself (do not
        modify it) while ``event.type`` and ``event.to_dict()`` are beta. Events that are the
        same in both dialects are parsed as they are (``event.wire == event.to_dict()``).
    """
    kind = data["type"]
    fn = _RENAMED_LOADERS.get(kind)
    if fn is None and kind in _RENAMED_FROM_GA:
        fn = _RENAMED_LOADERS[kind] = loader(_RENAMED_FROM_GA[kind])
    if fn is not None:
        event: Event = fn(data)
        event._wire = data
        return event
    if kind in ("session.created", "session.updated"):
        beta, _ = _session_event(data)
    elif kind in _TRANSLATED:
        beta = _translate_server(data)
    elif kind in _CLIENT_RESHAPED:
        beta = client_from_ga(data)
    else:
        return _load(data)
    event = _load(beta)
    event._wire = data
    return event


def _load(d: Json) -> Event:
    """Parse a beta-vocabulary dict, GA-only types included."""
    cls = event_class(d["type"], "ga")
    if cls is not None:
        result: Event = loader(cls)(d)
        return result
    return parse_event(d)


#: Alias of :func:`event_from_ga` (its main use: server events received by a client).
server_from_ga = event_from_ga

