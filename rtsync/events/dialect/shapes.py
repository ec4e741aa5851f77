"""Shape mappers between the beta and GA payloads: sessions, items and their content parts,
response parameters and response objects, audio formats and modalities (both directions).

All functions are pure: they never modify their argument (they build new dicts, sharing
unchanged values such as base64 strings) and may return the argument itself when there is
nothing to change. A request field with no GA equivalent is dropped with a one-time warning
(:mod:`rtsync.events.dialect.drops`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rtsync.events.dialect.drops import _drop

__all__ = [
    "GA_ONLY_SESSION_FIELDS",
    "format_from_ga",
    "format_to_ga",
    "item_from_ga",
    "item_to_ga",
    "session_from_ga",
    "session_to_ga",
]

Json = dict[str, Any]

#: Session fields of the GA protocol that the beta protocol does not have.
GA_ONLY_SESSION_FIELDS = frozenset({"type", "truncation", "reasoning", "parallel_tool_calls", "prompt"})

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
