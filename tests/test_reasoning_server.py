"""Issue 14 against the real local server: a reasoning model (``gpt-realtime-2.1``, the client's
default) answers with a preamble (``phase: "commentary"``) and then the answer, in both dialects,
text and audio; the new knobs are answered without an error."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from rtsync import RealtimeClient
from rtsync.client import DEFAULT_MODEL
from rtsync.events.dialect import DroppedFieldWarning
from rtsync.server import LocalServer

#: The clients here keep their real default model (tests/conftest.py).
USES_DEFAULT_MODEL = True

PREAMBLE = "Let me think."


@pytest.fixture(params=["ga", "beta"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server() -> Any:
    with LocalServer(voice="tone") as s:
        yield s


def test_the_default_model_gets_a_preamble_and_the_answer(server: Any, dialect: str) -> None:
    with RealtimeClient(url=server.url, dialect=dialect) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedFieldWarning)  # beta: reasoning has no place
        assert client.model == DEFAULT_MODEL == "gpt-realtime-2.1"
        reply = client.ask("hello there", reasoning={"effort": "high"}, parallel_tool_calls=False, timeout=10)
        entries = [e for e in client.conversation.items if e.role == "assistant"]
    assert reply.status == "completed"
    assert reply.text == "You said: hello there" and reply.preamble == PREAMBLE
    assert [(m.phase, m.text) for m in reply.messages] == [("commentary", PREAMBLE),
                                                          ("final_answer", "You said: hello there")]
    assert [(e.phase, e.text) for e in entries] == [("commentary", PREAMBLE), ("final_answer", "You said: hello there")]


def test_spoken_preamble_and_answer(server: Any, dialect: str) -> None:
    with RealtimeClient(url=server.url, dialect=dialect) as client:
        reply = client.ask("hello there", modalities=["text", "audio"], timeout=20)
        entries = {e.id: e for e in client.conversation.items}
    assert reply.transcript == "You said: hello there" and reply.preamble == PREAMBLE
    assert [m.phase for m in reply.messages] == ["commentary", "final_answer"]
    spoken = [m.audio for m in reply.messages]
    assert all(a is not None and len(a) > 0 for a in spoken)
    assert np.array_equal(reply.audio, np.concatenate(spoken))  # everything spoken, in order
    for m in reply.messages:
        assert entries[m.item_id].phase == m.phase and entries[m.item_id].transcript == m.transcript
        assert np.array_equal(entries[m.item_id].audio, m.audio)


def test_the_new_knobs_are_answered_without_an_error(server: Any, dialect: str) -> None:
    with RealtimeClient(url=server.url, dialect=dialect) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedFieldWarning)
        updated = client.update_session(
            reasoning={"effort": "low"}, parallel_tool_calls=True, voice={"id": "voice_1234"},
            input_audio_noise_reduction={"type": "near_field", "strength": 0.6},
            input_audio_transcription={"model": "gpt-transcribe", "keywords": ["rtsync"], "languages": ["en"]},
            turn_detection={"type": "server_vad", "idle_timeout_ms": 6000},
        ).wait(5)
        item = client.create_item("remember me").wait(5)
        done = client.create_response(reasoning={"effort": "minimal"}, modalities=["text"], conversation="none",
                                      input=[{"type": "item_reference", "id": item.item.id}]).wait(10)
    s = updated.session
    if dialect == "ga":
        assert s.reasoning == {"effort": "low"} and s.parallel_tool_calls is True
        assert s.voice == {"id": "voice_1234"}
        assert s.input_audio_noise_reduction == {"type": "near_field", "strength": 0.6}
        assert s.input_audio_transcription.keywords == ["rtsync"]
    else:  # left out on the way: the server keeps its own values
        assert s.input_audio_noise_reduction == {"type": "near_field"}
    assert done.response.status == "completed"
    assert done.response.output[-1].text == "You said: remember me"
