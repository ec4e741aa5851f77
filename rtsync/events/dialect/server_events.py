"""Server events in both directions: GA -> typed beta events (what a client receives, the path of
``parse_event(data, dialect="ga")``) and beta -> GA (what rtsync's local server sends in GA mode).
The payload reshaping is in :mod:`rtsync.events.dialect.shapes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from rtsync.events import server as _server
from rtsync.events._base import Event
from rtsync.events.codec import event_class, loader, parse_event
from rtsync.events.dialect.client_events import client_from_ga
from rtsync.events.dialect.shapes import (
    _PART_FROM_GA,
    Json,
    _response_from_ga,
    _response_to_ga,
    item_from_ga,
    item_to_ga,
    session_from_ga,
    session_to_ga,
)

__all__ = ["GA_TO_BETA_NAMES", "event_from_ga", "server_from_ga", "server_to_ga", "server_to_ga_events"]


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
