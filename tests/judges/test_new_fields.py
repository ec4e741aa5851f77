"""The fields of today's service through the events layer: typed, translated, SDK-valid.

``reasoning``, ``parallel_tool_calls``, custom voices, noise-reduction ``strength``,
transcription ``delay``/``keywords``/``languages``, ``item_reference`` inputs and ``phase`` on
items must reach the GA wire in the places the SDK's types declare, and come back typed.
"""

from __future__ import annotations

from typing import Any

from rtsync.events import (
    ConversationItemCreated,
    Item,
    ResponseCreate,
    ResponseCreateParams,
    ResponseOutputItemDone,
    Session,
    SessionUpdate,
    SessionUpdated,
)
from rtsync.events.dialect import client_to_ga, event_from_ga, server_to_ga
from tests.judges.test_sdk_frames import judge

NEW_SESSION: dict[str, Any] = {
    "voice": {"id": "voice_1234"},
    "reasoning": {"effort": "xhigh"},
    "parallel_tool_calls": False,
    "input_audio_noise_reduction": {"type": "far_field", "strength": 0.25},
    "input_audio_transcription": {"model": "gpt-transcribe", "keywords": ["Oslo"], "languages": ["en", "nb"]},
}


def test_session_fields_are_typed() -> None:
    session = Session.from_dict({**NEW_SESSION, "input_audio_transcription": {
        "model": "gpt-realtime-whisper", "delay": "low"}})
    assert session.voice == {"id": "voice_1234"}
    assert session.reasoning == {"effort": "xhigh"}
    assert session.parallel_tool_calls is False
    assert session.input_audio_transcription is not None
    assert session.input_audio_transcription.delay == "low"
    assert session.extra_fields is None
    assert session.to_dict()["reasoning"] == {"effort": "xhigh"}


def test_session_update_reaches_the_ga_wire_where_the_sdk_wants_it() -> None:
    event = SessionUpdate(session=Session.from_dict(NEW_SESSION), event_id="evt_1").to_dict()
    wire = client_to_ga(event)
    assert wire["session"]["audio"]["output"]["voice"] == {"id": "voice_1234"}
    assert wire["session"]["audio"]["input"]["noise_reduction"] == {"type": "far_field", "strength": 0.25}
    assert wire["session"]["audio"]["input"]["transcription"]["languages"] == ["en", "nb"]
    assert wire["session"]["reasoning"] == {"effort": "xhigh"}
    assert judge([("out", wire)], ga=True) == []


def test_response_create_with_reasoning_and_item_references() -> None:
    params = ResponseCreateParams(reasoning={"effort": "low"}, parallel_tool_calls=True,
                                  conversation="none", input=[Item(type="item_reference", id="item_1")])
    wire = client_to_ga(ResponseCreate(response=params, event_id="evt_2").to_dict())
    assert wire["response"] == {"conversation": "none", "input": [{"type": "item_reference", "id": "item_1"}],
                                "reasoning": {"effort": "low"}, "parallel_tool_calls": True}
    assert judge([("out", wire)], ga=True) == []


def test_session_updated_from_a_ga_server_comes_back_typed() -> None:
    ga = server_to_ga({"type": "session.updated", "event_id": "event_1",
                       "session": {"id": "sess_1", "object": "realtime.session", "model": "gpt-realtime-2",
                                   **NEW_SESSION}})
    assert judge([("in", ga)], ga=True) == []
    event = event_from_ga(ga)
    assert isinstance(event, SessionUpdated)
    assert event.session.voice == {"id": "voice_1234"}
    assert event.session.reasoning == {"effort": "xhigh"}
    assert event.session.input_audio_noise_reduction == {"type": "far_field", "strength": 0.25}
    assert event.session.input_audio_transcription is not None
    assert event.session.input_audio_transcription.keywords == ["Oslo"]


def test_phase_of_output_items_is_kept_both_ways() -> None:
    item = {"id": "item_2", "type": "message", "role": "assistant", "status": "completed", "phase": "commentary",
            "content": [{"type": "audio", "transcript": "Let me think."}]}
    ga = server_to_ga({"type": "response.output_item.done", "event_id": "event_2", "response_id": "resp_1",
                       "output_index": 0, "item": item})
    assert ga["item"]["phase"] == "commentary"
    assert ga["item"]["content"] == [{"type": "output_audio", "transcript": "Let me think."}]
    assert judge([("in", ga)], ga=True) == []
    event = event_from_ga(ga)
    assert isinstance(event, ResponseOutputItemDone)
    assert event.item.phase == "commentary"
    created = event_from_ga(server_to_ga({"type": "conversation.item.created", "event_id": "event_3",
                                          "previous_item_id": None, "item": {**item, "phase": "final_answer"}}))
    assert isinstance(created, ConversationItemCreated)
    assert created.item.phase == "final_answer"
