"""What the GA dialect layer sends validates against the official ``openai`` GA pydantic models.

Validation is strict about names: the SDK models accept unknown keys, so after validating we walk
the model tree and require that no object carried a key the SDK does not declare (a beta name
such as ``session.voice`` would otherwise slip through).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from rtsync.events import (
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    Item,
    ResponseCancel,
    ResponseCreate,
    ResponseCreateParams,
    Session,
    SessionUpdate,
    TranscriptionSessionUpdate,
    TurnDetection,
)
from rtsync.events.dialect import client_to_ga, reset_drop_warnings
from rtsync.server import LocalServer

if os.environ.get("CI"):
    import openai.types.realtime as realtime  # in CI the package must be there
else:
    realtime = pytest.importorskip("openai.types.realtime")

from pydantic import BaseModel, TypeAdapter

CLIENT = TypeAdapter(realtime.RealtimeClientEvent)
SERVER = TypeAdapter(realtime.RealtimeServerEvent)

TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}

# Keys the GA service sends that the SDK's request-shaped session model does not declare (GA.md §2).
SERVER_SESSION_EXTRAS = {"id", "object", "expires_at"}


def extras(value: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of every key an SDK model did not declare."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}".lstrip(".")
        for name in type(value).model_fields:
            yield from extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, x in enumerate(value):
            yield from extras(x, f"{path}[{i}]")


def beta_client_events() -> list[tuple[str, dict[str, Any]]]:
    full_session = Session(
        model="gpt-realtime",
        modalities=["text", "audio"],
        instructions="Be brief.",
        voice="verse",
        input_audio_format="pcm16",
        output_audio_format="g711_ulaw",
        input_audio_transcription={"model": "gpt-4o-transcribe", "language": "en", "prompt": "names"},
        turn_detection=TurnDetection(type="server_vad", threshold=0.5, prefix_padding_ms=300,
                                     silence_duration_ms=500, create_response=True, interrupt_response=True,
                                     idle_timeout_ms=6000),
        tools=[TOOL],
        tool_choice="auto",
        temperature=0.8,
        max_response_output_tokens=4096,
        input_audio_noise_reduction={"type": "near_field"},
        speed=1.1,
        tracing="auto",
        include=["item.input_audio_transcription.logprobs"],
        client_secret=None,
    )
    events: list[tuple[str, Any]] = [
        ("session every field", SessionUpdate(session=full_session)),
        ("session text only", SessionUpdate(session=Session(modalities=["text"], voice="alloy"))),
        ("session g711_alaw, no vad", SessionUpdate(session=Session(
            input_audio_format="g711_alaw", output_audio_format="pcm16", turn_detection=None,
            input_audio_transcription=None, input_audio_noise_reduction=None, tracing=None))),
        ("session semantic vad", SessionUpdate(session=Session(
            turn_detection=TurnDetection(type="semantic_vad", eagerness="low")))),
        ("session tool choice function", SessionUpdate(session=Session(
            tools=[TOOL], tool_choice={"type": "function", "name": "get_weather"},
            max_response_output_tokens="inf"))),
        ("session empty", SessionUpdate(session=Session())),
        ("transcription session", TranscriptionSessionUpdate(session={
            "input_audio_format": "pcm16", "input_audio_transcription": {"model": "gpt-4o-transcribe"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
            "input_audio_noise_reduction": {"type": "far_field"}, "include": []})),
        ("response plain", ResponseCreate()),
        ("response empty params", ResponseCreate(response=ResponseCreateParams())),
        ("response every field", ResponseCreate(response=ResponseCreateParams(
            modalities=["text", "audio"], instructions="Answer.", voice="marin", output_audio_format="pcm16",
            tools=[TOOL], tool_choice="required", temperature=0.7, max_response_output_tokens=300,
            conversation="auto", metadata={"topic": "weather"}))),
        ("response out of band", ResponseCreate(response=ResponseCreateParams(
            conversation="none", modalities=["text"], metadata={"kind": "classifier"},
            input=[Item.system_text("Classify."), Item.user_text("hi"), Item.assistant_text("hello"),
                   {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
                   Item.function_output("c1", "sunny")]))),
        ("response empty input", ResponseCreate(response=ResponseCreateParams(conversation="none", input=[]))),
        ("item user text", ConversationItemCreate(item=Item.user_text("hi"), previous_item_id="root")),
        ("item system", ConversationItemCreate(item=Item.system_text("Be nice."))),
        ("item assistant", ConversationItemCreate(item=Item.assistant_text("Earlier answer."))),
        ("item user audio", ConversationItemCreate(item=Item(type="message", role="user", content=[
            {"type": "input_audio", "audio": base64.b64encode(b"\0\0" * 240).decode()}]))),
        ("item function call", ConversationItemCreate(item=Item(
            type="function_call", call_id="c1", name="get_weather", arguments='{"city": "Paris"}'))),
        ("item function output", ConversationItemCreate(item=Item.function_output("c1", '{"t": 20}'),
                                                        previous_item_id="item_9")),
        ("truncate", ConversationItemTruncate(item_id="item_1", content_index=0, audio_end_ms=1500)),
        ("delete", ConversationItemDelete(item_id="item_1")),
        ("retrieve", ConversationItemRetrieve(item_id="item_1")),
        ("append", InputAudioBufferAppend(audio=base64.b64encode(b"\0\0" * 480).decode())),
        ("commit", InputAudioBufferCommit()),
        ("clear", InputAudioBufferClear()),
        ("cancel", ResponseCancel()),
        ("cancel one", ResponseCancel(response_id="resp_1")),
    ]
    out = []
    for name, event in events:
        event.event_id = f"evt_{len(out)}"
        out.append((name, event.to_dict()))
    return out


@pytest.mark.filterwarnings("ignore::rtsync.events.dialect.DroppedFieldWarning")
@pytest.mark.parametrize(("name", "beta"), beta_client_events(), ids=[n for n, _ in beta_client_events()])
def test_client_to_ga_output_validates(name: str, beta: dict[str, Any]) -> None:
    reset_drop_warnings()
    ga = client_to_ga(beta)
    model = CLIENT.validate_python(ga)
    assert model.type == ga["type"]
    assert list(extras(model)) == [], name
    # and the GA dict survives a JSON round trip through the SDK model unchanged
    dumped = json.loads(model.model_dump_json(exclude_unset=True))
    assert dumped == ga


def test_beta_shapes_fail_the_same_check() -> None:
    """The check above is able to fail: the beta dicts themselves do not pass it."""
    bad = dict(beta_client_events())
    with pytest.raises(Exception):  # noqa: B017 - pydantic's ValidationError
        CLIENT.validate_python(bad["session every field"])
    model = CLIENT.validate_python({"type": "session.update",
                                    "session": {"type": "realtime", "voice": "alloy"}})
    assert list(extras(model)) == ["session.voice"]


def test_item_references_validate_against_the_with_references_params() -> None:
    from openai.types.realtime.response_create_event_with_references_param import (
        ResponseCreateEventWithReferencesParam,
    )

    beta = ResponseCreate(response=ResponseCreateParams(
        conversation="none", input=[{"type": "item_reference", "id": "item_1"}, Item.assistant_text("x")])).to_dict()
    ga = client_to_ga(beta)
    assert ga["response"]["input"][1]["content"][0]["type"] == "output_text"
    TypeAdapter(ResponseCreateEventWithReferencesParam).validate_python(ga)


# -- the local server's GA output ------------------------------------------------------------------


def _run_turns(server: LocalServer) -> list[dict[str, Any]]:
    import websocket

    ws = websocket.create_connection(server.url + "?model=gpt-realtime", timeout=5)
    frames: list[dict[str, Any]] = []

    def until(kind: str) -> None:
        while True:
            frame = json.loads(ws.recv())
            frames.append(frame)
            if frame["type"] == kind:
                return

    try:
        until("session.created")
        for beta in (
            SessionUpdate(session=Session(tools=[TOOL], instructions="x", turn_detection=None)).to_dict(),
            ConversationItemCreate(item=Item.user_text("hello there")).to_dict(),
            ResponseCreate(response=ResponseCreateParams(modalities=["text"])).to_dict(),
            ResponseCreate().to_dict(),
            ConversationItemCreate(item=Item.user_text('get_weather {"city": "Paris"}')).to_dict(),
            ResponseCreate().to_dict(),
        ):
            ws.send(json.dumps(client_to_ga(beta)))
            until({"session.update": "session.updated", "conversation.item.create": "conversation.item.done",
                   "response.create": "response.done"}[beta["type"]])
        ws.send(json.dumps({"type": "conversation.item.delete", "item_id": "nope"}))
        until("error")
    finally:
        ws.close()
        ws.shutdown()
    return frames


def test_local_server_ga_output_validates() -> None:
    with LocalServer(dialect="ga", voice="tone") as server:
        frames = _run_turns(server)
    kinds = {f["type"] for f in frames}
    assert {"response.output_text.delta", "response.output_audio.delta", "response.output_audio_transcript.delta",
            "conversation.item.added", "conversation.item.done", "response.function_call_arguments.done",
            "error"} <= kinds
    for frame in frames:
        model = SERVER.validate_python(frame)
        assert model.type == frame["type"]
        left = [p for p in extras(model) if not (p.startswith("session.") and p[8:] in SERVER_SESSION_EXTRAS)]
        assert left == [], (frame["type"], left)
