"""Client events for a beta connection: the GA-only fields rtsync's API accepts are left out.

rtsync's user API takes the settings of today's service in both dialects (``reasoning``,
``parallel_tool_calls``, a custom voice ``{"id": ...}``, noise-reduction ``strength``,
transcription ``delay``/``keywords``/``languages``, ``truncation``, ``prompt``, server VAD's
``idle_timeout_ms``). The 2024-10-01 beta protocol has no place for them; on a beta connection
:func:`client_to_beta` drops each with one :class:`~rtsync.events.dialect.DroppedFieldWarning`
per field name per process (GA.md sections 2, 3 and 8).
"""

from __future__ import annotations

from typing import Any

from rtsync.events.dialect.drops import _drop

__all__ = ["client_to_beta"]

Json = dict[str, Any]

#: Session fields (``session.update``) the beta protocol does not have.
_BETA_MISSING_SESSION_FIELDS = frozenset({"reasoning", "parallel_tool_calls", "truncation", "prompt"})
#: ``response.create.response`` fields the beta protocol does not have.
_BETA_MISSING_RESPONSE_FIELDS = frozenset({"reasoning", "parallel_tool_calls", "prompt"})

# nested object -> its keys the beta protocol does not have
_NESTED = {
    "input_audio_noise_reduction": ("strength",),
    "input_audio_transcription": ("delay", "keywords", "languages"),
    "turn_detection": ("idle_timeout_ms",),
}


def _without(obj: Json, missing: frozenset[str]) -> Json:
    """``obj`` without the ``missing`` keys and without a custom voice object (each drop warned);
    ``obj`` itself when nothing is dropped."""
    out: Json = {}
    changed = False
    for key, value in obj.items():
        if key in missing:
            _drop(key, "beta")
            changed = True
        elif key == "voice" and isinstance(value, dict):
            _drop("voice (a custom voice object)", "beta")
            changed = True
        elif key in _NESTED and isinstance(value, dict) and any(k in value for k in _NESTED[key]):
            kept = {}
            for sub, sub_value in value.items():
                if sub in _NESTED[key]:
                    _drop(f"{key}.{sub}", "beta")
                else:
                    kept[sub] = sub_value
            out[key] = kept
            changed = True
        else:
            out[key] = value
    return out if changed else obj


def client_to_beta(event: Json) -> Json:
    """A client event in rtsync's vocabulary as a beta (2024-10-01) connection takes it.

    ``session.update``: ``reasoning``, ``parallel_tool_calls``, ``truncation``, ``prompt``, a
    custom ``voice`` object, ``input_audio_noise_reduction.strength``,
    ``input_audio_transcription.delay/keywords/languages`` and ``turn_detection.idle_timeout_ms``
    are left out (``transcription_session.update``: the nested ones); ``response.create``:
    ``reasoning``, ``parallel_tool_calls``, ``prompt`` and a custom ``voice`` object. Other
    events, and events with none of these fields, come back as they are (the same object).

    Warns:
        DroppedFieldWarning: once per field name, when a field is dropped.
    """
    kind = event.get("type")
    if kind in ("session.update", "transcription_session.update"):
        session = event.get("session")
        if isinstance(session, dict):
            missing = _BETA_MISSING_SESSION_FIELDS if kind == "session.update" else frozenset()
            new = _without(session, missing)
            if new is not session:
                return {**event, "session": new}
    elif kind == "response.create":
        params = event.get("response")
        if isinstance(params, dict):
            new = _without(params, _BETA_MISSING_RESPONSE_FIELDS)
            if new is not params:
                return {**event, "response": new}
    return event
