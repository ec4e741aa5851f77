"""Translation between rtsync's beta vocabulary and the GA wire protocol, both directions.

rtsync's event classes, typed senders and user API speak the 2024-10-01 beta vocabulary. The
live service now accepts only the GA protocol (``shared/protocol/GA.md``): the same event
names for client events with reshaped payloads, several renamed server events, a nested
session object and new content type names. Everything that knows the difference is here, so
that nothing above the codec needs to.

All functions are pure: they never modify their argument (they build new dicts, sharing
unchanged values such as base64 strings) and may return the argument itself when there is
nothing to change.

Modules (every name below is importable from this package):
    :mod:`~rtsync.events.dialect.shapes`
        the shape mappers: sessions, items and content parts, response parameters and
        responses, audio formats (:func:`session_to_ga`, :func:`item_from_ga`, ...).
    :mod:`~rtsync.events.dialect.client_events`
        client events, both directions (:func:`client_to_ga`, :func:`client_from_ga`).
    :mod:`~rtsync.events.dialect.server_events`
        server events, both directions (:func:`event_from_ga`, :func:`server_to_ga`, ...).
    :mod:`~rtsync.events.dialect.drops`
        the one-time :class:`DroppedFieldWarning` for fields with no GA equivalent.
    :mod:`~rtsync.events.dialect.to_beta`
        :func:`client_to_beta`: what a beta connection sends (GA-only fields of rtsync's API
        such as ``reasoning`` or a custom voice object left out, with the same warning).

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

    How the GA service refuses beta-shaped client events is server behaviour, not translation:
    it is in :mod:`rtsync.server.ga_checks`.

Audio formats: ``pcm16`` <-> ``{"type": "audio/pcm", "rate": 24000}``, ``g711_ulaw`` <->
``{"type": "audio/pcmu"}``, ``g711_alaw`` <-> ``{"type": "audio/pcma"}``. Modalities:
``["text", "audio"]`` (or ``["audio"]``) <-> ``["audio"]`` (GA audio output always carries its
transcript), ``["text"]`` <-> ``["text"]``.
"""

from __future__ import annotations

from rtsync.events.dialect.client_events import client_from_ga, client_to_ga
from rtsync.events.dialect.drops import DroppedFieldWarning, reset_drop_warnings
from rtsync.events.dialect.server_events import (
    GA_TO_BETA_NAMES,
    event_from_ga,
    server_from_ga,
    server_to_ga,
    server_to_ga_events,
)
from rtsync.events.dialect.shapes import (
    GA_ONLY_SESSION_FIELDS,
    format_from_ga,
    format_to_ga,
    item_from_ga,
    item_to_ga,
    session_from_ga,
    session_to_ga,
)
from rtsync.events.dialect.to_beta import client_to_beta

__all__ = [
    "GA_ONLY_SESSION_FIELDS",
    "GA_TO_BETA_NAMES",
    "DroppedFieldWarning",
    "client_from_ga",
    "client_to_beta",
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
