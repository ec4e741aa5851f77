"""Every frame of a broad scenario against the local server, judged by the official SDK's types.

The ``openai`` package's pydantic models (GA: ``openai.types.realtime``, beta:
``openai.types.beta.realtime``) validate each frame both directions, in pydantic's strict mode
(no coercion), against the event class its ``type`` names; none may be rejected. The
SDK's own ``connect()`` does not validate frames, so the raw frames are validated here. Beyond
acceptance, server frames may carry no key the SDK does not declare, except the ones the live
service is known to send (listed below with their reason).
"""

from __future__ import annotations

import os
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from rtsync.server import LocalServer
from tests.judges.scenario import run_scenario

_REFERENCES = "openai.types.realtime.response_create_event_with_references_param"
if os.environ.get("CI"):
    import importlib  # in CI the package must be there

    references = importlib.import_module(_REFERENCES)
else:
    references = pytest.importorskip(_REFERENCES, reason="needs openai>=3.57 (the dev extra)")

import openai.types.beta.realtime as beta  # noqa: E402 - after the skip above
import openai.types.realtime as realtime  # noqa: E402
from pydantic import BaseModel, TypeAdapter, ValidationError  # noqa: E402

GA_CLIENT_WITH_REFERENCES = TypeAdapter(references.ResponseCreateEventWithReferencesParam)


def by_type(union: Any) -> dict[str, TypeAdapter[Any]]:
    """The members of an SDK event union by their ``type`` value (for precise error messages)."""
    while typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    table = {}
    for member in typing.get_args(union):
        for kind in typing.get_args(member.model_fields["type"].annotation):
            table[kind] = TypeAdapter(member)
    return table


GA_SERVER = by_type(realtime.RealtimeServerEvent)
GA_CLIENT = by_type(realtime.RealtimeClientEvent)
BETA_SERVER = by_type(beta.RealtimeServerEvent)
BETA_CLIENT = by_type(beta.realtime_client_event.RealtimeClientEvent)

#: Keys the live beta service sent that the beta SDK's types do not declare (REFERENCE.md §2;
#: ``name`` on ``response.function_call_arguments.done`` is also in the GA types).
KNOWN_BETA_EXTRAS = {
    "session.object", "session.expires_at", "session.client_secret", "session.include",
    "response.usage.input_token_details.cached_tokens_details",
    "name",
    "item.phase", "response.output[].phase",
}

#: Keys the live service sends that the SDK's types do not declare (GA.md §2, §8).
KNOWN_EXTRAS = {
    # session.created/updated carry server-owned fields; the SDK types the session as the request.
    "session.id", "session.object", "session.expires_at",
    # Output message items of reasoning models carry their phase (GA.md §8), not in the types.
    "item.phase", "response.output[].phase",
}


def extras(value: Any, path: str = "") -> Iterator[str]:
    """Dotted paths (list indexes as ``[]``) of every key an SDK model did not declare."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}".lstrip(".")
        for name in type(value).model_fields:
            yield from extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for x in value:
            yield from extras(x, f"{path}[]")


def judge(frames: list[tuple[str, dict[str, Any]]], ga: bool) -> list[str]:
    """Every complaint about ``frames``: rejected frames and undeclared server keys."""
    complaints = []
    for number, (direction, frame) in enumerate(frames):
        kind = frame.get("type")
        table = (GA_SERVER if ga else BETA_SERVER) if direction == "in" else (GA_CLIENT if ga else BETA_CLIENT)
        if kind not in table:
            complaints.append(f"#{number} {direction} {kind}: not an event type of the SDK")
            continue
        if not ga and isinstance(frame.get("session"), dict) and str(frame["session"].get("model")).startswith(
            "gpt-realtime-2"
        ):
            # The beta types' model enum closed before the reasoning models came out (the live
            # service never ran them in beta); everything else of the frame is judged as usual.
            frame = {**frame, "session": {**frame["session"], "model": "gpt-realtime"}}
        try:
            if direction == "in":
                model = table[kind].validate_python(frame, strict=True)
                unknown = sorted(set(extras(model)) - (KNOWN_EXTRAS if ga else KNOWN_BETA_EXTRAS))
                if unknown:
                    complaints.append(f"#{number} in {kind}: undeclared keys {unknown}")
            elif ga and kind == "response.create" and any(
                entry.get("type") == "item_reference" for entry in (frame.get("response") or {}).get("input", [])
            ):
                GA_CLIENT_WITH_REFERENCES.validate_python(frame, strict=True)
            else:
                model = table[kind].validate_python(frame, strict=True)
                unknown = sorted(set(extras(model)))
                if unknown:
                    complaints.append(f"#{number} out {kind}: undeclared keys {unknown}")
        except ValidationError as exc:
            complaints.append(f"#{number} {direction} {kind}: rejected: {exc}")
    return complaints


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(voice="tone", text_delay=0.002) as running:
        yield running


CASES = [
    pytest.param(True, "gpt-realtime", False, id="ga"),
    pytest.param(True, "gpt-realtime-2", True, id="ga-reasoning"),
    pytest.param(False, "gpt-4o-realtime-preview-2024-12-17", False, id="beta"),
    # A beta client has no place for reasoning options (the client drops them); the model
    # still answers with a preamble and the answer.
    pytest.param(False, "gpt-realtime-2", False, id="beta-reasoning-model"),
]


@pytest.mark.parametrize(("ga", "model", "reasoning"), CASES)
def test_every_frame_of_the_scenario_passes_the_sdk_types(server: LocalServer, ga: bool, model: str,
                                                          reasoning: bool) -> None:
    frames = run_scenario(server.url, ga, model, reasoning)
    kinds_in = {frame["type"] for direction, frame in frames if direction == "in"}
    # The scenario reached every part it is meant to judge.
    expected = {
        "session.created", "session.updated", "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed", "conversation.item.truncated",
        "conversation.item.retrieved", "conversation.item.deleted", "response.function_call_arguments.done",
        "input_audio_buffer.cleared", "error", "response.done",
        "response.output_audio.delta" if ga else "response.audio.delta",
        "response.output_text.delta" if ga else "response.text.delta",
    }
    assert expected <= kinds_in, expected - kinds_in
    assert len(frames) > 100
    phases = [
        [item.get("phase") for item in frame["response"]["output"] if item["type"] == "message"]
        for direction, frame in frames
        if direction == "in" and frame["type"] == "response.done" and frame["response"]["status"] == "completed"
    ]
    if model.startswith("gpt-realtime-2"):
        assert ["commentary", "final_answer"] in phases
    else:
        assert all(phase is None for reply in phases for phase in reply)
    assert judge(frames, ga) == []
