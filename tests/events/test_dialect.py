"""The GA dialect layer: GA frames (written from shared/protocol/GA.md) to beta classes and back."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import warnings
from typing import Any

import pytest

from rtsync.events import (
    ConversationItemCreated,
    ConversationItemDone,
    McpListToolsCompleted,
    ResponseAudioDelta,
    ResponseAudioTranscriptDelta,
    ResponseDone,
    ResponseTextDelta,
    ResponseTextDone,
    SessionCreated,
    SessionUpdate,
    TranscriptionSessionUpdated,
    UnknownEvent,
    parse_event,
)
from rtsync.events.dialect import (
    DroppedFieldWarning,
    client_from_ga,
    client_to_ga,
    reset_drop_warnings,
    server_to_ga,
    server_to_ga_events,
)
from rtsync.events.models import Item, ResponseCreateParams, Session, TurnDetection
from rtsync.server.ga_checks import check_ga_client_event

PCM = {"type": "audio/pcm", "rate": 24000}

GA_SESSION = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_1",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "Be brief.",
    "audio": {
        "input": {
            "format": PCM,
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": PCM, "voice": "marin", "speed": 1.0},
    },
    "tools": [],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "tracing": None,
    "truncation": "auto",
    "prompt": None,
    "expires_at": 0,
    "include": None,
}

USER_ITEM = {
    "id": "item_u",
    "type": "message",
    "status": "completed",
    "role": "user",
    "content": [{"type": "input_audio", "transcript": None}],
}
ASSISTANT_ITEM = {
    "id": "item_a",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_audio", "transcript": "Hello there."}],
}
GA_RESPONSE = {
    "object": "realtime.response",
    "id": "resp_1",
    "status": "completed",
    "status_details": None,
    "output": [ASSISTANT_ITEM],
    "conversation_id": "conv_1",
    "output_modalities": ["audio"],
    "max_output_tokens": "inf",
    "audio": {"output": {"format": PCM, "voice": "marin"}},
    "usage": {
        "total_tokens": 30,
        "input_tokens": 20,
        "output_tokens": 10,
        "input_token_details": {
            "text_tokens": 15,
            "audio_tokens": 5,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 4, "audio_tokens": 6},
    },
    "metadata": None,
}
IDS = {"response_id": "resp_1", "item_id": "item_a", "output_index": 0, "content_index": 0}

#: One payload per server event type of the GA union (GA.md §4: 46 types).
GA_SERVER_EVENTS: dict[str, dict[str, Any]] = {
    "session.created": {"session": GA_SESSION},
    "session.updated": {"session": GA_SESSION},
    "error": {"error": {"type": "invalid_request_error", "code": "x", "message": "m", "param": None}},
    "rate_limits.updated": {"rate_limits": [{"name": "requests", "limit": 1, "remaining": 1, "reset_seconds": 1}]},
    "conversation.created": {"conversation": {"id": "conv_1", "object": "realtime.conversation"}},
    "conversation.item.created": {"previous_item_id": None, "item": USER_ITEM},
    "conversation.item.added": {"previous_item_id": None, "item": USER_ITEM},
    "conversation.item.done": {"previous_item_id": "item_u", "item": ASSISTANT_ITEM},
    "conversation.item.retrieved": {"item": ASSISTANT_ITEM},
    "conversation.item.truncated": {"item_id": "item_a", "content_index": 0, "audio_end_ms": 500},
    "conversation.item.deleted": {"item_id": "item_a"},
    "conversation.item.input_audio_transcription.delta": {"item_id": "item_u", "delta": "hi", "obfuscation": "x"},
    "conversation.item.input_audio_transcription.completed": {
        "item_id": "item_u",
        "content_index": 0,
        "transcript": "hi",
        "usage": {"type": "duration", "seconds": 1},
    },
    "conversation.item.input_audio_transcription.failed": {
        "item_id": "item_u",
        "content_index": 0,
        "error": {"type": "transcription_error", "message": "m"},
    },
    "conversation.item.input_audio_transcription.segment": {
        "item_id": "item_u",
        "content_index": 0,
        "id": "seg_1",
        "start": 0.0,
        "end": 1.0,
        "speaker": "A",
        "text": "hi",
    },
    "input_audio_buffer.committed": {"previous_item_id": None, "item_id": "item_u"},
    "input_audio_buffer.cleared": {},
    "input_audio_buffer.speech_started": {"audio_start_ms": 100, "item_id": "item_u"},
    "input_audio_buffer.speech_stopped": {"audio_end_ms": 900, "item_id": "item_u"},
    "input_audio_buffer.timeout_triggered": {"audio_start_ms": 0, "audio_end_ms": 5000, "item_id": "item_u"},
    "input_audio_buffer.dtmf_event_received": {"event": "5", "received_at": 1700000000},
    "response.created": {"response": {**GA_RESPONSE, "status": "in_progress", "output": [], "usage": None}},
    "response.done": {"response": GA_RESPONSE},
    "response.output_item.added": {"response_id": "resp_1", "output_index": 0, "item": ASSISTANT_ITEM},
    "response.output_item.done": {"response_id": "resp_1", "output_index": 0, "item": ASSISTANT_ITEM},
    "response.content_part.added": {**IDS, "part": {"type": "audio", "transcript": ""}},
    "response.content_part.done": {**IDS, "part": {"type": "audio", "transcript": "Hello there."}},
    "response.output_text.delta": {**IDS, "delta": "Hel"},
    "response.output_text.done": {**IDS, "text": "Hello"},
    "response.output_audio.delta": {**IDS, "delta": "AAAA"},
    "response.output_audio.done": {**IDS},
    "response.output_audio_transcript.delta": {**IDS, "delta": "Hel", "obfuscation": "abc"},
    "response.output_audio_transcript.done": {**IDS, "transcript": "Hello there."},
    "response.function_call_arguments.delta": {**IDS, "call_id": "call_1", "delta": "{"},
    "response.function_call_arguments.done": {**IDS, "call_id": "call_1", "name": "f", "arguments": "{}"},
    "response.mcp_call_arguments.delta": {"response_id": "resp_1", "item_id": "m", "output_index": 0, "delta": "{"},
    "response.mcp_call_arguments.done": {"response_id": "resp_1", "item_id": "m", "output_index": 0, "arguments": "{}"},
    "response.mcp_call.in_progress": {"item_id": "m", "output_index": 0},
    "response.mcp_call.completed": {"item_id": "m", "output_index": 0},
    "response.mcp_call.failed": {"item_id": "m", "output_index": 0},
    "mcp_list_tools.in_progress": {"item_id": "m"},
    "mcp_list_tools.completed": {"item_id": "m"},
    "mcp_list_tools.failed": {"item_id": "m"},
    "output_audio_buffer.started": {"response_id": "resp_1"},
    "output_audio_buffer.stopped": {"response_id": "resp_1"},
    "output_audio_buffer.cleared": {"response_id": "resp_1"},
}


def ga(kind: str) -> dict[str, Any]:
    return {"type": kind, "event_id": "event_1", **copy.deepcopy(GA_SERVER_EVENTS[kind])}


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    reset_drop_warnings()


# -- GA server events -> beta classes ----------------------------------------------------------------


def test_the_table_covers_the_46_ga_server_event_types() -> None:
    assert len(GA_SERVER_EVENTS) == 46


@pytest.mark.parametrize("kind", sorted(GA_SERVER_EVENTS))
def test_every_ga_server_event_parses_to_a_typed_event(kind: str) -> None:
    frame = ga(kind)
    original = copy.deepcopy(frame)
    event = parse_event(frame, dialect="ga")
    assert not isinstance(event, UnknownEvent), kind
    assert event.wire == original
    assert frame == original  # the input is not modified


def test_ga_only_types_stay_unknown_in_the_beta_dialect() -> None:
    assert isinstance(parse_event(ga("mcp_list_tools.completed")), UnknownEvent)
    assert isinstance(parse_event(ga("mcp_list_tools.completed"), dialect="ga"), McpListToolsCompleted)


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="'ga'"):
        parse_event(ga("error"), dialect="v2")


def test_renamed_deltas_use_the_beta_classes() -> None:
    text = parse_event(ga("response.output_text.delta"), dialect="ga")
    assert isinstance(text, ResponseTextDelta)
    assert text.type == "response.text.delta"
    assert text.delta == "Hel"
    assert text.to_dict() == {"type": "response.text.delta", "event_id": "event_1", **IDS, "delta": "Hel"}
    assert text.wire["type"] == "response.output_text.delta"
    done = parse_event(ga("response.output_text.done"), dialect="ga")
    assert isinstance(done, ResponseTextDone) and done.text == "Hello"
    audio = parse_event(ga("response.output_audio.delta"), dialect="ga")
    assert isinstance(audio, ResponseAudioDelta)
    assert audio.audio_bytes() == b"\x00\x00\x00"
    transcript = parse_event(ga("response.output_audio_transcript.delta"), dialect="ga")
    assert isinstance(transcript, ResponseAudioTranscriptDelta)
    assert transcript.to_dict()["obfuscation"] == "abc"  # a GA-only field is kept


def test_session_created_becomes_a_beta_session() -> None:
    event = parse_event(ga("session.created"), dialect="ga")
    assert isinstance(event, SessionCreated)
    s = event.session
    assert isinstance(s, Session)
    assert s.modalities == ["text", "audio"]
    assert s.voice == "marin"
    assert s.input_audio_format == "pcm16" and s.output_audio_format == "pcm16"
    assert s.input_audio_transcription is None
    assert isinstance(s.turn_detection, TurnDetection) and s.turn_detection.silence_duration_ms == 200
    assert s.max_response_output_tokens == "inf"
    assert s.speed == 1.0
    assert s.id == "sess_1" and s.model == "gpt-realtime"
    assert s.extra_fields == {"truncation": "auto"}
    assert "audio" not in event.to_dict()["session"]
    assert event.wire["session"]["audio"]["output"]["voice"] == "marin"


def test_session_updated_with_text_and_g711() -> None:
    frame = ga("session.updated")
    frame["session"]["output_modalities"] = ["text"]
    frame["session"]["audio"]["input"]["format"] = {"type": "audio/pcmu"}
    frame["session"]["audio"]["output"]["format"] = {"type": "audio/pcma"}
    frame["session"]["audio"]["input"]["transcription"] = {"model": "gpt-4o-transcribe", "language": "en"}
    frame["session"]["audio"]["input"]["noise_reduction"] = {"type": "near_field"}
    session = parse_event(frame, dialect="ga").to_dict()["session"]
    assert session["modalities"] == ["text"]
    assert session["input_audio_format"] == "g711_ulaw"
    assert session["output_audio_format"] == "g711_alaw"
    assert session["input_audio_transcription"] == {"model": "gpt-4o-transcribe", "language": "en"}
    assert session["input_audio_noise_reduction"] == {"type": "near_field"}


def test_transcription_session_updated() -> None:
    frame = {
        "type": "session.updated",
        "event_id": "e",
        "session": {"type": "transcription", "audio": {"input": {"format": PCM, "turn_detection": None}}},
    }
    event = parse_event(frame, dialect="ga")
    assert isinstance(event, TranscriptionSessionUpdated)
    assert event.session.input_audio_format == "pcm16"
    assert event.session.turn_detection is None


def test_item_added_becomes_created_and_done_has_its_own_class() -> None:
    added = parse_event(ga("conversation.item.added"), dialect="ga")
    assert isinstance(added, ConversationItemCreated)
    assert added.type == "conversation.item.created"
    assert added.to_dict()["type"] == "conversation.item.created"
    assert added.wire["type"] == "conversation.item.added"
    done = parse_event(ga("conversation.item.done"), dialect="ga")
    assert isinstance(done, ConversationItemDone)
    assert isinstance(done.item, Item)
    assert done.item.content[0].type == "audio"
    assert done.item.text == "Hello there."
    assert done.wire["item"]["content"][0]["type"] == "output_audio"


def test_response_done_with_usage() -> None:
    event = parse_event(ga("response.done"), dialect="ga")
    assert isinstance(event, ResponseDone)
    r = event.response
    assert r.modalities == ["text", "audio"]
    assert r.voice == "marin" and r.output_audio_format == "pcm16"
    assert r.output[0].content[0].type == "audio"
    assert r.usage.total_tokens == 30
    assert r.usage.input_token_details.cached_tokens_details == {
        "text_tokens": 0,
        "audio_tokens": 0,
        "image_tokens": 0,
    }
    assert r.usage.input_token_details.extra_fields == {"image_tokens": 0}
    assert "audio" not in event.to_dict()["response"]


def test_text_parts_keep_their_names_and_output_text_items_are_mapped() -> None:
    frame = ga("response.output_item.done")
    frame["item"]["content"] = [{"type": "output_text", "text": "Hi"}]
    event = parse_event(frame, dialect="ga")
    assert event.item.content[0].type == "text"
    part = parse_event(ga("response.content_part.done"), dialect="ga")
    assert part.part.type == "audio"


def test_wire_is_to_dict_for_untranslated_events_and_not_compared() -> None:
    plain = parse_event(ga("response.function_call_arguments.done"), dialect="ga")
    assert plain.wire == plain.to_dict()
    beta = parse_event({**ga("response.output_text.delta"), "type": "response.text.delta"})
    translated = parse_event(ga("response.output_text.delta"), dialect="ga")
    assert beta == translated
    assert beta.wire != translated.wire
    assert "wire" not in translated.to_dict() and "_wire" not in translated.to_dict()
    assert "wire" not in repr(translated)
    assert pickle.loads(pickle.dumps(translated)).wire == translated.wire
    assert copy.copy(beta).wire == beta.to_dict()
    assert ResponseTextDelta(delta="x").wire == {"type": "response.text.delta", "delta": "x"}


def test_beta_round_trip_of_translated_events() -> None:
    """GA -> beta event -> server_to_ga gives the GA frame back (for the shapes our server emits)."""
    for kind in ("response.output_text.delta", "response.output_audio.done", "conversation.item.added",
                 "response.output_item.done", "response.content_part.done", "response.done"):
        frame = ga(kind)
        event = parse_event(frame, dialect="ga")
        back = server_to_ga(event.to_dict())
        if kind == "response.done":
            frame["response"]["audio"]["output"] = {"voice": "marin", "format": PCM}
        assert back == frame, kind


def test_ga_client_events_parse_in_the_ga_dialect() -> None:
    frame = {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
    event = parse_event(frame, dialect="ga")
    assert isinstance(event, SessionUpdate)
    assert event.session.modalities == ["text"]
    assert event.wire is frame


# -- beta client events -> GA ----------------------------------------------------------------------


def test_session_update_every_field() -> None:
    beta = SessionUpdate(
        session=Session(
            modalities=["text", "audio"],
            instructions="Be brief.",
            voice="verse",
            input_audio_format="g711_ulaw",
            output_audio_format="pcm16",
            input_audio_transcription={"model": "whisper-1"},
            turn_detection=TurnDetection(type="server_vad", threshold=0.6, silence_duration_ms=400),
            tools=[{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}],
            tool_choice="auto",
            max_response_output_tokens=200,
            input_audio_noise_reduction={"type": "far_field"},
            speed=1.2,
            tracing="auto",
            include=["item.input_audio_transcription.logprobs"],
        )
    ).to_dict()
    out = client_to_ga(beta)
    assert out["session"] == {
        "type": "realtime",
        "output_modalities": ["audio"],
        "max_output_tokens": 200,
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400},
                "noise_reduction": {"type": "far_field"},
            },
            "output": {"voice": "verse", "format": PCM, "speed": 1.2},
        },
        "instructions": "Be brief.",
        "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}],
        "tool_choice": "auto",
        "tracing": "auto",
        "include": ["item.input_audio_transcription.logprobs"],
    }
    assert check_ga_client_event(out) is None
    assert client_to_ga(out) == out
    # the server-side inverse gives the beta fields back
    assert client_from_ga(out)["session"] == beta["session"]


def test_dropped_fields_warn_once_per_name() -> None:
    event = {"type": "session.update", "session": {"temperature": 0.7, "instructions": "x"}}
    with pytest.warns(DroppedFieldWarning, match="'temperature'"):
        out = client_to_ga(event)
    assert out["session"] == {"type": "realtime", "instructions": "x"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client_to_ga(event)  # second time: silent
        client_to_ga({"type": "response.create", "response": {"temperature": 0.9}})  # same name: silent
    with pytest.warns(DroppedFieldWarning, match="'client_secret'"):
        client_to_ga({"type": "session.update", "session": {"client_secret": None}})


def test_response_create_variants() -> None:
    params = ResponseCreateParams(
        modalities=["text"],
        instructions="Say hi.",
        voice="alloy",
        output_audio_format="g711_alaw",
        max_response_output_tokens="inf",
        conversation="none",
        metadata={"topic": "x"},
        input=[Item.user_text("hi"), Item.assistant_text("earlier")],
    )
    out = client_to_ga({"type": "response.create", "response": params.to_dict()})
    assert out["response"] == {
        "output_modalities": ["text"],
        "max_output_tokens": "inf",
        "instructions": "Say hi.",
        "conversation": "none",
        "metadata": {"topic": "x"},
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "earlier"}]},
        ],
        "audio": {"output": {"voice": "alloy", "format": {"type": "audio/pcma"}}},
    }
    assert check_ga_client_event(out) is None
    assert client_to_ga({"type": "response.create"}) == {"type": "response.create"}
    legacy = client_to_ga({"type": "response.create", "response": {"max_output_tokens": 5}})
    assert legacy["response"] == {"max_output_tokens": 5}


def test_assistant_item_content_is_renamed() -> None:
    out = client_to_ga({"type": "conversation.item.create", "item": Item.assistant_text("ok").to_dict()})
    assert out["item"]["content"] == [{"type": "output_text", "text": "ok"}]
    user = {"type": "conversation.item.create", "item": Item.user_text("hi").to_dict(), "previous_item_id": "root"}
    assert client_to_ga(user) == user


def test_unchanged_events_pass_through() -> None:
    for event in (
        {"type": "input_audio_buffer.append", "audio": "AAAA"},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.clear"},
        {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": 10},
        {"type": "conversation.item.delete", "item_id": "i"},
        {"type": "conversation.item.retrieve", "item_id": "i"},
        {"type": "response.cancel"},
    ):
        assert client_to_ga(event) is event


def test_native_ga_input_is_unchanged() -> None:
    events = [
        {"type": "session.update", "session": {k: v for k, v in GA_SESSION.items() if k not in ("id", "object",
                                                                                                   "expires_at")}},
        {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"format": PCM}}}},
        {"type": "response.create", "response": {"output_modalities": ["audio"],
                                                 "audio": {"output": {"voice": "marin"}}}},
        {"type": "conversation.item.create",
         "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for event in events:
            assert client_to_ga(event) == event
            assert client_to_ga(client_to_ga(event)) == event


def test_mixed_beta_and_ga_fields_merge() -> None:
    out = client_to_ga({"type": "session.update",
                        "session": {"voice": "ash", "audio": {"output": {"speed": 1.1}}, "modalities": ["text"]}})
    assert out["session"] == {"type": "realtime", "output_modalities": ["text"],
                              "audio": {"output": {"voice": "ash", "speed": 1.1}}}


def test_transcription_session_update() -> None:
    out = client_to_ga({
        "type": "transcription_session.update",
        "session": {"input_audio_format": "pcm16", "input_audio_transcription": {"model": "gpt-4o-transcribe"},
                    "turn_detection": None, "include": []},
    })
    assert out == {
        "type": "session.update",
        "session": {"type": "transcription", "audio": {"input": {
            "format": PCM, "transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": None}},
            "include": []},
    }
    assert client_from_ga(out)["type"] == "transcription_session.update"


# -- the server side --------------------------------------------------------------------------------


def test_server_to_ga_events_adds_item_done() -> None:
    created = {"type": "conversation.item.created", "event_id": "e1", "previous_item_id": None,
               "item": {"id": "i", "object": "realtime.item", "type": "message", "status": "completed",
                        "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}
    added, done = server_to_ga_events(created)
    assert added["type"] == "conversation.item.added" and "object" not in added["item"]
    assert done["type"] == "conversation.item.done" and done["item"] == added["item"]
    assert done["event_id"] != added["event_id"]
    in_progress = {**created, "item": {**created["item"], "status": "in_progress", "role": "assistant",
                                       "content": []}}
    assert [e["type"] for e in server_to_ga_events(in_progress)] == ["conversation.item.added"]


def test_check_ga_client_event_reports_beta_shapes() -> None:
    def code(event: dict[str, Any]) -> tuple[str, str | None] | None:
        err = check_ga_client_event(event)
        return None if err is None else (err["code"], err["param"])

    assert code({"type": "session.update", "session": {"instructions": "x"}}) == (
        "missing_required_parameter", "session.type")
    assert code({"type": "session.update", "session": {"type": "realtime", "voice": "ash"}}) == (
        "unknown_parameter", "session.voice")
    assert code({"type": "session.update", "session": {"type": "realtime",
                                                       "audio": {"input": {"format": "pcm16"}}}}) == (
        "invalid_type", "session.audio.input.format")
    assert code({"type": "session.update", "session": {"type": "realtime",
                                                       "audio": {"output": {"format": {"type": "audio/pcm"}}}}}) == (
        "missing_required_parameter", "session.audio.output.format.rate")
    assert code({"type": "response.create", "response": {"modalities": ["text"]}}) == (
        "unknown_parameter", "response.modalities")
    assert code({"type": "conversation.item.create", "item": Item.assistant_text("x").to_dict()}) == (
        "invalid_value", "item.content[0].type")
    assert code({"type": "transcription_session.update", "session": {}}) == ("invalid_value", "type")
    assert code({"type": "input_audio_buffer.commit"}) is None


def test_the_dialect_package_reexports_its_modules() -> None:
    import rtsync.events.dialect as dialect
    from rtsync.events.dialect import client_events, drops, server_events, shapes, to_beta

    names: list[str] = []
    for module in (shapes, client_events, server_events, drops, to_beta):
        names += module.__all__
        for name in module.__all__:
            assert getattr(dialect, name) is getattr(module, name), name
    assert len(dialect.__all__) == len(set(dialect.__all__))
    assert set(dialect.__all__) == set(names)
    assert not hasattr(dialect, "check_ga_client_event")  # server behaviour: rtsync.server.ga_checks


def test_the_dialect_package_does_not_load_the_server() -> None:
    code = "import sys, rtsync.events.dialect; print('rtsync.server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False"], out.stdout + out.stderr
