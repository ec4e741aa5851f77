"""Every recorded and documented payload parses to its typed class and round-trips exactly.

The payloads live in ``shared/protocol/fixtures`` beside the checkout (never copied into the
project); the fixture tests skip when that directory is absent. The registry tests need no
fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rtsync.events as ev
from rtsync.events import (
    ClientEvent,
    Event,
    ServerEvent,
    UnknownEvent,
    client,
    event_class,
    event_types,
    parse_event,
    server,
)
from tests.helpers import SHARED, shared_path

FIXTURES = SHARED / "protocol" / "fixtures"

CLIENT_TYPES = {
    # the nine of the 2024-10-01 protocol
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    # later beta additions
    "conversation.item.retrieve",
    "output_audio_buffer.clear",
    "transcription_session.update",
}

SERVER_TYPES = {
    "error",
    "session.created",
    "session.updated",
    "conversation.created",
    "conversation.item.created",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.input_audio_transcription.segment",
    "conversation.item.truncated",
    "conversation.item.deleted",
    "conversation.item.retrieved",
    "input_audio_buffer.committed",
    "input_audio_buffer.cleared",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.timeout_triggered",
    "response.created",
    "response.done",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.text.delta",
    "response.text.done",
    "response.audio_transcript.delta",
    "response.audio_transcript.done",
    "response.audio.delta",
    "response.audio.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "rate_limits.updated",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "output_audio_buffer.cleared",
    "output_audio_buffer.audio_started",
    "output_audio_buffer.audio_stopped",
    "output_audio_buffer.audio_cleared",
    "transcription_session.created",
    "transcription_session.updated",
}

#: Variant files whose ``type`` is deliberately not an event type (an inner error object).
UNREGISTERED_VARIANTS = {"error--unknown-event-type-docs-guide-inner.json": "invalid_request_error"}

#: Top-level keys that real or documented frames carry but the event class does not declare.
KNOWN_EVENT_EXTRAS = {("conversation.item.retrieved", "previous_item_id")}  # spec example typo


def _files(pattern: str) -> list[Path]:
    return sorted(FIXTURES.glob(pattern)) if FIXTURES.is_dir() else []


def _params(paths: list[Path], ids: Any = None) -> list[Any]:
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no fixtures at {FIXTURES}"))]
    return [pytest.param(p, id=ids(p) if ids else p.name) for p in paths]


PRIMARY = _files("*.json")
VARIANTS = _files("variants/*.json")
SESSIONS = _files("sessions/*.jsonl")
OPENAPI = [p for p in _files("openapi_examples/*/*.json") if not p.name.startswith("_rest.")]


def _need(path: Path | None) -> Path:
    if path is None:  # pragma: no cover - the param carries a skip mark
        pytest.skip(f"no fixtures at {FIXTURES}")
    return path


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _check_round_trip(data: dict[str, Any], text: str | None = None) -> Event:
    """Parse ``data`` from a dict, JSON text and UTF-8 bytes; all give the same lossless event."""
    text = json.dumps(data) if text is None else text
    event = parse_event(data)
    assert event.to_dict() == data
    assert json.loads(event.to_json()) == data
    from_text = parse_event(text)
    from_bytes = parse_event(text.encode("utf-8"))
    assert from_text.to_dict() == data
    assert from_bytes.to_dict() == data
    assert from_text == from_bytes
    return event


def _check_class(event: Event, data: dict[str, Any]) -> None:
    """The class is the one registered for the type, and UnknownEvent only for unknown types."""
    cls = event_class(data["type"])
    if cls is None:
        assert type(event) is UnknownEvent
        assert event.type == data["type"]
        assert event.raw == data  # type: ignore[attr-defined]
    else:
        assert type(event) is cls
        assert not isinstance(event, UnknownEvent)


# -- the registry -------------------------------------------------------------------------


def test_registry_holds_every_client_and_server_type() -> None:
    table = event_types()
    assert len(CLIENT_TYPES) == 12
    assert len(SERVER_TYPES) == 40
    assert set(table) == CLIENT_TYPES | SERVER_TYPES
    for t in CLIENT_TYPES:
        assert issubclass(table[t], ClientEvent), t
    for t in SERVER_TYPES:
        assert issubclass(table[t], ServerEvent), t


def test_every_exported_event_class_is_registered_under_its_type() -> None:
    classes: list[type[Event]] = [getattr(client, n) for n in client.__all__]
    classes += [getattr(server, n) for n in server.__all__]
    assert len(classes) == 52
    for cls in classes:
        assert event_class(cls.type) is cls
        assert getattr(ev, cls.__name__) is cls
        assert cls.__name__ in ev.__all__
    assert len({cls.type for cls in classes}) == len(classes)


def test_event_types_is_a_copy() -> None:
    table = event_types()
    table.clear()
    assert event_class("response.done") is ev.ResponseDone


# -- primary fixtures -----------------------------------------------------------------------


@pytest.mark.parametrize("path", _params(PRIMARY))
def test_primary_fixture(path: Path | None) -> None:
    path = _need(path)
    data = _load(path)
    assert path.name == f"{data['type']}.json"
    assert event_class(data["type"]) is not None, f"primary fixture type {data['type']!r} is not registered"
    event = _check_round_trip(data, path.read_text(encoding="utf-8"))
    _check_class(event, data)
    for key in event.extra_fields or {}:
        assert (data["type"], key) in KNOWN_EVENT_EXTRAS, f"{data['type']}: undeclared field {key!r}"


def test_primary_fixtures_cover_the_registry() -> None:
    if not PRIMARY:
        pytest.skip(f"no fixtures at {FIXTURES}")
    types = {_load(p)["type"] for p in PRIMARY}
    assert types <= CLIENT_TYPES | SERVER_TYPES
    # The documented server events without a primary file appear in variants or openapi examples.
    covered = types | {_load(p)["type"] for p in VARIANTS + OPENAPI}
    assert CLIENT_TYPES | SERVER_TYPES <= covered


# -- variants -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _params(VARIANTS))
def test_variant_fixture(path: Path | None) -> None:
    path = _need(path)
    data = _load(path)
    event = _check_round_trip(data, path.read_text(encoding="utf-8"))
    _check_class(event, data)
    if path.name in UNREGISTERED_VARIANTS:
        assert data["type"] == UNREGISTERED_VARIANTS[path.name]
        assert event_class(data["type"]) is None
        assert isinstance(event, UnknownEvent)
        assert event.type == "invalid_request_error"
        assert event.event_id == "my_awesome_event"
        return
    assert path.name.split("--")[0] == data["type"]
    cls = event_class(data["type"])
    assert cls is not None, f"variant type {data['type']!r} is not registered"
    assert type(event) is cls
    for key in event.extra_fields or {}:
        assert (data["type"], key) in KNOWN_EVENT_EXTRAS, f"{data['type']}: undeclared field {key!r}"


# -- recorded sessions ----------------------------------------------------------------------


@pytest.mark.parametrize("path", _params(SESSIONS))
def test_session_file(path: Path | None) -> None:
    path = _need(path)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines
    for number, line in enumerate(lines, 1):
        data = json.loads(line)
        try:
            event = _check_round_trip(data, line)
            _check_class(event, data)
        except AssertionError as exc:  # pragma: no cover - only to name the line
            raise AssertionError(f"{path.name}:{number}: {exc}") from exc
        if path.name.endswith(".server.jsonl"):
            assert isinstance(event, ServerEvent), f"{path.name}:{number}"
        else:
            assert isinstance(event, ClientEvent), f"{path.name}:{number}"


# -- openapi examples -----------------------------------------------------------------------


@pytest.mark.parametrize("path", _params(OPENAPI, ids=lambda p: f"{p.parent.name}/{p.name}"))
def test_openapi_example(path: Path | None) -> None:
    path = _need(path)
    data = _load(path)
    event = _check_round_trip(data, path.read_text(encoding="utf-8"))
    _check_class(event, data)
    if data["type"] in CLIENT_TYPES | SERVER_TYPES:
        assert not isinstance(event, UnknownEvent)


# -- typed access on real payloads -----------------------------------------------------------


def _primary(name: str) -> dict[str, Any]:
    return _load(shared_path("protocol", "fixtures", name))


def test_typed_access_on_real_payloads() -> None:
    done = parse_event(_primary("response.done.json"))
    assert isinstance(done, ev.ResponseDone)
    assert isinstance(done.response, ev.Response)
    assert isinstance(done.response.usage, ev.Usage)
    assert isinstance(done.response.usage.input_token_details, ev.InputTokenDetails)
    assert isinstance(done.response.output[0], ev.Item)
    assert isinstance(done.response.output[0].content[0], ev.ContentPart)
    assert done.response.output[0].text == done.response.output[0].content[0].transcript

    limits = parse_event(_primary("rate_limits.updated.json"))
    assert isinstance(limits, ev.RateLimitsUpdated)
    assert [r.name for r in limits.rate_limits] == ["requests", "tokens"]
    assert all(isinstance(r, ev.RateLimit) for r in limits.rate_limits)

    error = parse_event(_primary("error.json"))
    assert isinstance(error, ev.ErrorEvent)
    assert isinstance(error.error, ev.ErrorInfo)
    assert error.error.code is None
    assert error.error.type == "invalid_request_error"

    audio = parse_event(_primary("response.audio.delta.json"))
    assert isinstance(audio, ev.ResponseAudioDelta)
    assert len(audio.audio_bytes()) == 228
    assert audio.samples.shape == (114,)

    created = parse_event(_primary("session.created.json"))
    assert isinstance(created, ev.SessionCreated)
    assert isinstance(created.session, ev.Session)
    assert isinstance(created.session.turn_detection, ev.TurnDetection)

    args = parse_event(_primary("response.function_call_arguments.done.json"))
    assert isinstance(args, ev.ResponseFunctionCallArgumentsDone)
    assert isinstance(args.name, str)
    assert args.extra_fields is None
