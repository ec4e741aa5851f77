"""Checks of client input for the local server: every shape error becomes a :class:`ClientError`.

A handler checks the shape of its client event here before it changes any state (checks
against the state, such as an unknown item id, stay with the handler), so that a refused event
changes nothing. The session turns a :class:`ClientError` into an ``error`` event
(:func:`error_event`, REFERENCE §5.8 shape) with the real service's codes and messages where
they are known.

Field checks share one signature, ``check(param, value)``: they return the normalised value or
raise a :class:`ClientError` naming ``param`` (the dotted path of the field). Event checks
(:func:`check_session_update`, :func:`check_audio_append`, :func:`check_response_create`,
:func:`check_response_cancel`) take the client event and return what its handler applies.
Items are checked in :mod:`rtsync.server.items`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rtsync.audio.formats import FORMAT_RATES
from rtsync.server.wire import new_id

__all__ = [
    "GA_SESSION_KEYS",
    "REASONING_EFFORTS",
    "SERVER_VAD_DEFAULTS",
    "ClientError",
    "ResponseRequest",
    "bad_value",
    "check_audio_append",
    "check_response_cancel",
    "check_response_create",
    "check_session_update",
    "check_str",
    "error_event",
    "kind_of",
    "missing",
    "quote_list",
    "type_error",
    "unknown",
]

#: Values of ``reasoning.effort`` (and of transcription ``delay``).
REASONING_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")

_AUDIO_FORMATS = tuple(FORMAT_RATES)  # pcm16, g711_ulaw, g711_alaw
_MAX_APPEND_BYTES = 15 * 1024 * 1024

#: ``turn_detection`` of a new session, and the defaults a ``server_vad`` update starts from.
SERVER_VAD_DEFAULTS: dict[str, Any] = {
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
    "server_vad": {*SERVER_VAD_DEFAULTS, "idle_timeout_ms"},
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
    "reasoning",
    "parallel_tool_calls",
}
#: GA-only session settings: accepted and echoed on GA connections, unknown on beta ones.
GA_SESSION_KEYS = frozenset({"truncation", "prompt"})
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
    "reasoning",
    "parallel_tool_calls",
}


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


def kind_of(value: Any) -> str:
    """How an error message names the JSON type of ``value`` (``"a string"``, ``"null"``...)."""
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


def type_error(param: str, expected: str, value: Any) -> ClientError:
    """The ``invalid_type`` error for ``param``, which should be ``expected``."""
    return ClientError(
        f"Invalid type for '{param}': expected {expected}, but got {kind_of(value)} instead.",
        code="invalid_type",
        param=param,
    )


def missing(param: str) -> ClientError:
    """The ``missing_required_parameter`` error for ``param``."""
    return ClientError(
        f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
    )


def unknown(param: str) -> ClientError:
    """The ``unknown_parameter`` error for ``param``."""
    return ClientError(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)


def quote_list(values: tuple[str, ...] | list[str]) -> str:
    """``'a'``, ``'a' and 'b'`` or ``'a', 'b', and 'c'``, as the service lists supported values."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def bad_value(param: str, value: Any, supported: tuple[str, ...] | list[str]) -> ClientError:
    """The ``invalid_value`` error for ``param``, listing the ``supported`` values."""
    return ClientError(
        f"Invalid value: '{value}'. Supported values are: {quote_list(supported)}.",
        code="invalid_value",
        param=param,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_str(param: str, value: Any) -> str:
    """Return ``value`` if it is a string; raise the ``invalid_type`` error for ``param`` if not."""
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
    return value


def _check_number(param: str, value: Any, low: float, high: float) -> float:
    if not _is_number(value):
        raise type_error(param, "a decimal", value)
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


def _check_voice(param: str, value: Any) -> str | dict[str, str]:
    """A built-in voice name, or a custom voice ``{"id": "voice_..."}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in value:
            if key != "id":
                raise unknown(f"{param}.{key}")
        if "id" not in value:
            raise missing(f"{param}.id")
        return {"id": check_str(f"{param}.id", value["id"])}
    raise type_error(param, "a string or an object", value)


def _check_reasoning(param: str, value: Any) -> dict[str, Any] | None:
    """``reasoning``: ``{"effort": minimal|low|medium|high|xhigh}`` (or ``null``)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    for key in value:
        if key != "effort":
            raise unknown(f"{param}.{key}")
    if "effort" in value and value["effort"] is not None and value["effort"] not in REASONING_EFFORTS:
        raise bad_value(f"{param}.effort", value["effort"], REASONING_EFFORTS)
    return dict(value)


def _check_bool(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise type_error(param, "a boolean", value)
    return value


def _check_string_list(param: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise type_error(param, "an array of strings", value)
    return list(value)


def _check_transcription(param: str, value: Any) -> dict[str, Any] | None:
    """Input transcription: ``{model, language, prompt, delay, keywords, languages}`` or ``null``."""
    config = _check_optional_object(param, value)
    if config is None:
        return None
    for key in ("model", "language", "prompt"):
        if config.get(key) is not None:
            check_str(f"{param}.{key}", config[key])
    if config.get("delay") is not None and config["delay"] not in REASONING_EFFORTS:
        raise bad_value(f"{param}.delay", config["delay"], REASONING_EFFORTS)
    for key in ("keywords", "languages"):
        if config.get(key) is not None:
            _check_string_list(f"{param}.{key}", config[key])
    return config


def _check_noise_reduction(param: str, value: Any, previous: Any = None) -> dict[str, Any] | None:
    """Noise reduction: ``{type: near_field|far_field, strength}`` or ``null``.

    A ``strength`` left out keeps the one in effect (as the service documents).
    """
    reduction = _check_optional_object(param, value)
    if reduction is None:
        return None
    if reduction.get("type") not in ("near_field", "far_field"):
        raise bad_value(f"{param}.type", reduction.get("type"), ("near_field", "far_field"))
    if "strength" in reduction:
        _check_number(f"{param}.strength", reduction["strength"], 0.0, 1.0)
    elif isinstance(previous, dict) and "strength" in previous:
        reduction["strength"] = previous["strength"]
    return reduction


def _check_modalities(param: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise type_error(param, "an array of strings", value)
    for entry in value:
        if entry not in ("text", "audio"):
            raise bad_value(param, entry, ("text", "audio"))
    if set(value) not in ({"text"}, {"text", "audio"}):
        raise ClientError(
            f"Invalid modalities: {value!r}. Supported combinations are: ['text'] and "
            "['audio', 'text'].",
            code="invalid_value",
            param=param,
        )
    return list(value)


def _check_format(param: str, value: Any) -> str:
    check_str(param, value)
    if value not in _AUDIO_FORMATS:
        raise bad_value(param, value, _AUDIO_FORMATS)
    return str(value)


def _check_token_cap(param: str, value: Any) -> int | str:
    if value == "inf":
        return "inf"
    if not isinstance(value, int) or isinstance(value, bool):
        raise type_error(param, "an integer or 'inf'", value)
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
        raise type_error(param, "an array of objects", value)
    tools = []
    for index, tool in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(tool, dict):
            raise type_error(where, "an object", tool)
        tool = dict(tool)
        tool.setdefault("type", "function")
        if tool["type"] != "function":
            raise bad_value(f"{where}.type", tool["type"], ("function",))
        if "name" not in tool:
            raise missing(f"{where}.name")
        check_str(f"{where}.name", tool["name"])
        tools.append(tool)
    return tools


def _check_tool_choice(param: str, value: Any) -> str | dict[str, Any]:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise bad_value(param, value, ("auto", "none", "required"))
        return value
    if isinstance(value, dict):
        if value.get("type") != "function":
            raise bad_value(f"{param}.type", value.get("type"), ("function",))
        return dict(value)
    raise type_error(param, "a string or an object", value)


def _check_turn_detection(param: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    kind = value.get("type", "server_vad")
    if kind not in _TURN_DETECTION_KEYS:
        raise bad_value(f"{param}.type", kind, ("server_vad", "semantic_vad"))
    for key in value:
        if key not in _TURN_DETECTION_KEYS[kind]:
            raise unknown(f"{param}.{key}")
    merged = dict(SERVER_VAD_DEFAULTS if kind == "server_vad" else _SEMANTIC_VAD_DEFAULTS)
    merged.update(value)
    merged["type"] = kind
    if "threshold" in value:
        _check_number(f"{param}.threshold", value["threshold"], 0.0, 1.0)
    for key in ("prefix_padding_ms", "silence_duration_ms"):
        if key in value and (not isinstance(value[key], int) or isinstance(value[key], bool)):
            raise type_error(f"{param}.{key}", "an integer", value[key])
    for key in ("create_response", "interrupt_response"):
        if key in value and not isinstance(value[key], bool):
            raise type_error(f"{param}.{key}", "a boolean", value[key])
    return merged


def _check_optional_object(param: str, value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise type_error(param, "an object", value)
    return None if value is None else dict(value)


def _check_metadata(param: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    if len(value) > 16:
        raise ClientError(
            f"Invalid '{param}': too many keys. Expected at most 16 keys, but got {len(value)}.",
            code="invalid_value",
            param=param,
        )
    for key, entry in value.items():
        if not isinstance(entry, str):
            raise type_error(f"{param}.{key}", "a string", entry)
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
    "instructions": check_str,
    "voice": _check_voice,
    "input_audio_format": _check_format,
    "output_audio_format": _check_format,
    "input_audio_transcription": _check_transcription,
    "turn_detection": _check_turn_detection,
    "tools": _check_tools,
    "tool_choice": _check_tool_choice,
    "temperature": lambda param, value: _check_number(param, value, 0.6, 1.2),
    "max_response_output_tokens": _check_token_cap,
    "reasoning": _check_reasoning,
    "parallel_tool_calls": _check_bool,
}


def _validate_session(changes: Mapping[str, Any], ga: bool, current: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``session.update`` payload; return the normalised changes (nothing applied yet)."""
    for key in changes:
        if key not in _SESSION_KEYS and not (ga and key in GA_SESSION_KEYS):
            raise unknown(f"session.{key}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        param = f"session.{key}"
        if key in ("model", "client_secret"):
            continue  # the model is fixed by the URL; client_secret only matters over REST
        check = _FIELD_CHECKS.get(key)
        if check is not None:
            out[key] = check(param, value)
        elif key == "input_audio_noise_reduction":
            out[key] = _check_noise_reduction(param, value, current.get(key))
        elif key == "truncation":
            if value not in ("auto", "disabled") and not isinstance(value, dict):
                raise type_error(param, "'auto', 'disabled' or an object", value)
            out[key] = value
        elif key == "prompt":
            out[key] = _check_optional_object(param, value)
        elif key == "speed":
            out[key] = _check_number(param, value, 0.25, 1.5)
        elif key == "tracing":
            if value is not None and value != "auto" and not isinstance(value, dict):
                raise type_error(param, "'auto' or an object", value)
            out[key] = value
        elif key == "include":
            if value is not None and not isinstance(value, list):
                raise type_error(param, "an array of strings", value)
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# conversation


#: The settings a ``response.create`` may override, checked in this order.
_RESPONSE_OVERRIDES = (
    "modalities", "instructions", "voice", "output_audio_format", "tools", "tool_choice", "temperature",
    "reasoning", "parallel_tool_calls",
)


def check_session_update(
    event: dict[str, Any], *, ga: bool = False, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check a ``session.update`` event; return the normalised changes (nothing applied yet).

    Args:
        event: the client event (beta vocabulary).
        ga: the connection speaks GA: the GA-only settings (``truncation``, ``prompt``) are
            accepted too.
        current: the session settings in effect (a noise reduction update without
            ``strength`` keeps the current one).
    """
    if "session" not in event:
        raise missing("session")
    changes = event["session"]
    if not isinstance(changes, dict):
        raise type_error("session", "an object", changes)
    return _validate_session(changes, ga, current or {})


def check_audio_append(event: dict[str, Any]) -> bytes:
    """Check an ``input_audio_buffer.append`` event; return the decoded audio bytes."""
    if "audio" not in event:
        raise missing("audio")
    audio = check_str("audio", event["audio"])
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
    return data


@dataclass
class ResponseRequest:
    """A checked ``response.create``.

    Attributes:
        in_conversation: ``conversation`` is ``"auto"`` (not ``"none"``).
        settings: the session settings this response overrides, normalised (a token cap given
            as ``max_output_tokens`` is under ``max_response_output_tokens``).
        metadata: ``metadata``, or ``None``.
        input: ``input`` (items checked later, against the conversation), or ``None``.
    """

    in_conversation: bool
    settings: dict[str, Any]
    metadata: dict[str, str] | None
    input: list[Any] | None


def check_response_create(event: dict[str, Any]) -> ResponseRequest:
    """Check a ``response.create`` event's parameters (all but the items of ``input``)."""
    params = event.get("response")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise type_error("response", "an object", params)
    for key in params:
        if key not in _RESPONSE_KEYS:
            raise unknown(f"response.{key}")
    conversation = params.get("conversation", "auto")
    if conversation not in ("auto", "none"):
        raise bad_value("response.conversation", conversation, ("auto", "none"))
    settings: dict[str, Any] = {}
    for key in _RESPONSE_OVERRIDES:
        if key in params:
            settings[key] = _FIELD_CHECKS[key](f"response.{key}", params[key])
    for key in ("max_response_output_tokens", "max_output_tokens"):
        if key in params:
            settings["max_response_output_tokens"] = _check_token_cap(f"response.{key}", params[key])
    metadata = _check_metadata("response.metadata", params.get("metadata"))
    raw_input = params.get("input")
    if raw_input is not None and not isinstance(raw_input, list):
        raise type_error("response.input", "an array of objects", raw_input)
    return ResponseRequest(conversation == "auto", settings, metadata, raw_input)


def check_response_cancel(event: dict[str, Any]) -> str | None:
    """Check a ``response.cancel`` event; return its ``response_id`` (``None``: the active one)."""
    response_id = event.get("response_id")
    if response_id is not None:
        check_str("response_id", response_id)
    return response_id
