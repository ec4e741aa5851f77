"""Every frame our client sends (and receives) in a broad scenario, judged by the SDK's types.

``rtsync.RealtimeClient`` talks to the local server through a recording relay
(:mod:`tests.judges.relay`); the scenario uses only the public API. Every frame, both
directions, must pass the official ``openai`` package's types for the dialect on the wire, with
no undeclared keys beyond the known ones (:func:`tests.judges.test_sdk_frames.judge`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rtsync import RealtimeClient, ServerError
from rtsync.server import LocalServer
from tests.judges.relay import RecordingRelay
from tests.judges.scenario import TOOL, tone_pcm16
from tests.judges.test_sdk_frames import judge


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(voice="tone", text_delay=0.002) as running:
        yield running


def _scenario(client: RealtimeClient, ga: bool) -> None:
    transcribed = threading.Event()
    client.on("conversation.item.input_audio_transcription.completed", lambda ev: transcribed.set())
    done: list[Any] = []
    first_done = threading.Event()

    def on_done(ev: Any) -> None:
        done.append(ev)
        first_done.set()

    client.on("response.done", on_done)
    client.update_session(
        instructions="Be brief.",
        voice="verse",
        tools=[TOOL],
        input_audio_transcription={"model": "gpt-4o-transcribe", "language": "en"},
        turn_detection={"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 300},
    ).wait(10)

    # A server-VAD turn, answered with audio and transcribed.
    audio = tone_pcm16(1.0) + tone_pcm16(0.6, amplitude=0.0)
    for offset in range(0, len(audio), 4800):
        client.append_audio(audio[offset:offset + 4800])
    assert first_done.wait(20)
    assert transcribed.wait(10)
    spoken = [item for item in done[0].response.output if item.type == "message"]
    user_item = next(e.id for e in client.conversation.items if e.role == "user")

    client.truncate_item(spoken[-1].id, 200).wait(10)
    client.retrieve_item(user_item).wait(10)
    client.delete_item(spoken[0].id).wait(10)

    # A function call and its output.
    reply = client.ask('get_weather {"city": "Paris"}', timeout=20)
    call = reply.function_calls[0]
    client.create_item({"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 21}'}).wait(10)
    extra = {"reasoning": {"effort": "low"}, "parallel_tool_calls": False} if ga else {}
    after = client.create_response(modalities=["text"], **extra).wait(20)
    assert after.response.status == "completed"

    # An out-of-band response over an item reference.
    client.create_item({"id": "item_ref", "type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "hello"}]}).wait(10)
    oob = client.create_response(conversation="none", modalities=["text"], metadata={"topic": "ref"},
                                 input=[{"type": "item_reference", "id": "item_ref"}]).wait(20)
    assert oob.response.status == "completed"

    # A cancel, an error, a clear.
    client.create_item("tell me a long story about the sea and the wind, please").wait(10)
    request = client.create_response()
    client.wait_for("response.created", timeout=10)
    client.cancel_response().wait(20)
    request.wait(20)
    with pytest.raises(ServerError):
        client.retrieve_item("item_nope").wait(10)
    client.append_audio(tone_pcm16(0.1, amplitude=0.0))
    client.clear_audio().wait(10)


@pytest.mark.parametrize(("dialect", "model"), [
    ("ga", "gpt-realtime"), ("ga", "gpt-realtime-2"), ("beta", "gpt-4o-realtime-preview-2024-12-17"),
    ("beta", "gpt-realtime-2"),
])
def test_every_frame_of_our_client_passes_the_sdk_types(server: LocalServer, dialect: str, model: str) -> None:
    host = server.url.split("/v1/")[0]
    with RecordingRelay(host) as relay:
        with RealtimeClient(model=model, url=relay.url, api_key="sk-local", dialect=dialect) as client:
            _scenario(client, dialect == "ga")
        frames = list(relay.frames)
    sent = {frame["type"] for direction, frame in frames if direction == "out"}
    assert {"session.update", "input_audio_buffer.append", "conversation.item.truncate",
            "conversation.item.retrieve", "conversation.item.delete", "conversation.item.create",
            "response.create", "response.cancel", "input_audio_buffer.clear"} <= sent
    assert judge(frames, dialect == "ga") == []
