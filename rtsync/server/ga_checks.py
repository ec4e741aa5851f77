"""What the GA service answers to beta-shaped client events, as the local server reports it.

In GA mode (:class:`~rtsync.server.session.RealtimeSession` with ``dialect="ga"``) every client
event is first checked here; an event the GA service refuses gets the ``error`` the service
sends (``shared/protocol/GA.md`` §6) and is not applied. Events that pass are translated to the
beta vocabulary (:func:`rtsync.events.dialect.client_from_ga`) and handled like beta events.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_ga_client_event", "ga_param"]

Json = dict[str, Any]

#: Assistant content types of the beta protocol; GA names them ``output_text``/``output_audio``.
_BETA_ASSISTANT_PARTS = frozenset({"text", "audio"})

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
                if isinstance(part, dict) and part.get("type") in _BETA_ASSISTANT_PARTS:
                    return _error(
                        f"Invalid value: '{part['type']}'. Supported values are: 'output_text' and 'output_audio'.",
                        "invalid_value",
                        f"item.content[{i}].type",
                    )
    return None


#: Where a beta session or response field lives in the GA shape, for the ``param`` of errors.
_GA_PLACES = {
    "session.modalities": "session.output_modalities",
    "session.max_response_output_tokens": "session.max_output_tokens",
    "session.voice": "session.audio.output.voice",
    "session.speed": "session.audio.output.speed",
    "session.output_audio_format": "session.audio.output.format",
    "session.input_audio_format": "session.audio.input.format",
    "session.input_audio_transcription": "session.audio.input.transcription",
    "session.input_audio_noise_reduction": "session.audio.input.noise_reduction",
    "session.turn_detection": "session.audio.input.turn_detection",
    "response.modalities": "response.output_modalities",
    "response.max_response_output_tokens": "response.max_output_tokens",
    "response.voice": "response.audio.output.voice",
    "response.output_audio_format": "response.audio.output.format",
}


def ga_param(param: str) -> str:
    """The GA path of an error's ``param`` given in beta names (``session.voice.id`` ->
    ``session.audio.output.voice.id``); other paths come back as they are."""
    for beta, ga in _GA_PLACES.items():
        if param == beta or param.startswith((beta + ".", beta + "[")):
            return ga + param[len(beta):]
    return param
