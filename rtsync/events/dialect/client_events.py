"""Client events in both directions: beta -> GA (what a client sends) and GA -> beta (what
rtsync's local server handles in GA mode). The payload reshaping is in
:mod:`rtsync.events.dialect.shapes`.
"""

from __future__ import annotations

from rtsync.events.dialect.shapes import (
    Json,
    _response_params_from_ga,
    _response_params_to_ga,
    item_from_ga,
    item_to_ga,
    session_from_ga,
    session_to_ga,
)

__all__ = ["client_from_ga", "client_to_ga"]


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
