"""The codec: lossless round trips, lenient parsing, typed nested objects, errors, reprs."""

from __future__ import annotations

import base64
import copy
import json
import struct
import subprocess
import sys
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rtsync.events as ev
from rtsync.errors import ProtocolError, RealtimeError
from rtsync.events import (
    UNSET,
    ContentPart,
    ConversationItemCreate,
    Event,
    InputAudioBufferAppend,
    Item,
    Model,
    ResponseAudioDelta,
    ResponseDone,
    Session,
    SessionUpdate,
    UnknownEvent,
    Usage,
    dump_event,
    event_class,
    event_types,
    is_set,
    parse_event,
)

RESPONSE_DONE: dict[str, Any] = {
    "type": "response.done",
    "event_id": "event_1",
    "response": {
        "object": "realtime.response",
        "id": "resp_1",
        "status": "completed",
        "status_details": None,
        "output": [
            {
                "id": "item_1",
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "audio", "transcript": "Hello."}],
            }
        ],
        "usage": {
            "total_tokens": 10,
            "input_tokens": 4,
            "output_tokens": 6,
            "input_token_details": {"cached_tokens": 0, "text_tokens": 4, "audio_tokens": 0},
            "output_token_details": {"text_tokens": 2, "audio_tokens": 4},
        },
    },
}


def _pcm16_b64(values: list[int]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}h", *values)).decode("ascii")


# -- unknown types and fields ---------------------------------------------------------------


def test_unknown_type_gives_unknown_event_that_keeps_everything() -> None:
    data = {"type": "response.output_text.delta", "event_id": "e1", "delta": "hi", "nested": {"a": [1]}}
    event = parse_event(json.dumps(data))
    assert type(event) is UnknownEvent
    assert event.type == "response.output_text.delta"
    assert event.event_id == "e1"
    assert event.raw == data
    assert event.to_dict() == data
    assert json.loads(event.to_json()) == data
    assert dump_event(event) == data


def test_unknown_type_without_event_id() -> None:
    event = parse_event({"type": "mcp_list_tools.completed", "item_id": "x"})
    assert isinstance(event, UnknownEvent)
    assert event.event_id is UNSET
    assert event.to_dict() == {"type": "mcp_list_tools.completed", "item_id": "x"}


def test_unknown_fields_are_kept_at_every_level() -> None:
    data = copy.deepcopy(RESPONSE_DONE)
    data["obfuscation"] = "abc"
    response = data["response"]
    response["custom_voice_id"] = None
    response["output"][0]["x_item"] = 1
    response["output"][0]["content"][0]["x_part"] = [1, 2]
    response["usage"]["x_usage"] = {"deep": True}
    response["usage"]["input_token_details"]["cached_tokens_details"] = {"text_tokens": 0}
    response["usage"]["input_token_details"]["image_tokens"] = 0
    response["usage"]["output_token_details"]["x_out"] = "y"
    response["status_details"] = {"type": "failed", "error": {"type": "tokens", "code": "c", "message": "m"}}

    event = parse_event(data)
    assert isinstance(event, ResponseDone)
    assert event.extra_fields == {"obfuscation": "abc"}
    assert event.response.extra_fields == {"custom_voice_id": None}
    assert event.response.output[0].extra_fields == {"x_item": 1}
    assert event.response.output[0].content[0].extra_fields == {"x_part": [1, 2]}
    usage = event.response.usage
    assert isinstance(usage, Usage)
    assert usage.extra_fields == {"x_usage": {"deep": True}}
    assert usage.input_token_details.extra_fields == {"image_tokens": 0}
    assert usage.input_token_details.cached_tokens_details == {"text_tokens": 0}
    assert usage.output_token_details.extra_fields == {"x_out": "y"}
    details = event.response.status_details
    assert isinstance(details, ev.ResponseStatusDetails)
    assert isinstance(details.error, ev.ErrorInfo)
    assert details.error.message == "m"
    assert event.to_dict() == data
    assert parse_event(event.to_json()).to_dict() == data


def test_unknown_fields_in_session_objects() -> None:
    data = {
        "type": "session.updated",
        "event_id": "e",
        "session": {
            "id": "sess_1",
            "custom_voice_id": None,
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "x_td": 1},
            "input_audio_transcription": {"model": "whisper-1", "enabled": True},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        },
    }
    event = parse_event(data)
    assert isinstance(event, ev.SessionUpdated)
    assert event.session.extra_fields == {"custom_voice_id": None}
    assert isinstance(event.session.turn_detection, ev.TurnDetection)
    assert event.session.turn_detection.extra_fields == {"x_td": 1}
    assert isinstance(event.session.input_audio_transcription, ev.InputAudioTranscription)
    assert event.session.input_audio_transcription.extra_fields == {"enabled": True}
    assert event.session.tools[0].extra_fields == {"strict": True}
    assert event.session.tools[0].parameters == {"type": "object"}
    assert event.to_dict() == data


def test_known_frame_has_no_extra_fields() -> None:
    event = parse_event(RESPONSE_DONE)
    assert event.extra_fields is None
    assert event.response.extra_fields is None  # type: ignore[attr-defined]


# -- absent, null and mistyped values --------------------------------------------------------


def test_missing_event_id_stays_unset_and_is_not_written() -> None:
    event = parse_event({"type": "input_audio_buffer.cleared"})
    assert isinstance(event, ev.InputAudioBufferCleared)
    assert event.event_id is UNSET
    assert not event.event_id
    assert not is_set(event.event_id)
    assert event.to_dict() == {"type": "input_audio_buffer.cleared"}
    assert "event_id" not in event.to_json()


def test_absent_fields_are_unset_and_not_written() -> None:
    event = parse_event({"type": "response.text.delta", "event_id": "e", "delta": "hi"})
    assert isinstance(event, ev.ResponseTextDelta)
    assert event.response_id is UNSET
    assert event.output_index is UNSET
    assert event.to_dict() == {"type": "response.text.delta", "event_id": "e", "delta": "hi"}


def test_null_values_round_trip_as_none() -> None:
    data = {
        "type": "session.created",
        "event_id": None,
        "session": {
            "input_audio_transcription": None,
            "turn_detection": None,
            "tracing": None,
            "include": None,
            "tools": None,
        },
    }
    event = parse_event(data)
    assert isinstance(event, ev.SessionCreated)
    assert event.event_id is None
    assert is_set(event.event_id)
    assert event.session.input_audio_transcription is None
    assert event.session.turn_detection is None
    assert event.session.tools is None
    assert event.to_dict() == data

    created = parse_event({"type": "conversation.item.created", "previous_item_id": None, "item": None})
    assert isinstance(created, ev.ConversationItemCreated)
    assert created.previous_item_id is None
    assert created.item is None
    assert created.to_dict() == {"type": "conversation.item.created", "previous_item_id": None, "item": None}

    response = parse_event({"type": "response.created", "response": {"usage": None, "status_details": None}})
    assert response.response.usage is None  # type: ignore[attr-defined]
    assert response.to_dict()["response"] == {"usage": None, "status_details": None}


@pytest.mark.parametrize(
    "data",
    [
        {"type": "response.done", "response": {"id": "r", "output": "__ELIDED_BY_LOGGER__"}},
        {"type": "response.done", "response": {"output": [{"id": "i"}, "__ELIDED_BY_LOGGER__", 3]}},
        {"type": "response.done", "response": {"usage": "n/a", "status_details": 7}},
        {"type": "response.done", "response": "__ELIDED_BY_LOGGER__"},
        {"type": "response.output_item.done", "item": "x"},
        {"type": "response.output_item.done", "item": {"content": {"not": "a list"}}},
        {"type": "rate_limits.updated", "rate_limits": 5},
        {"type": "rate_limits.updated", "rate_limits": [{"name": "requests"}, None, "x"]},
        {"type": "session.update", "session": []},
        {"type": "session.created", "session": {"tools": {"name": "f"}, "turn_detection": "server_vad"}},
        {"type": "response.text.delta", "delta": 5, "output_index": "zero"},
        {"type": "response.audio.delta", "delta": None},
    ],
    ids=lambda d: json.dumps(d)[:60],
)
def test_wrong_types_are_kept_raw(data: dict[str, Any]) -> None:
    event = parse_event(data)
    assert type(event) is event_class(data["type"])
    assert event.to_dict() == data
    assert parse_event(json.dumps(data)).to_dict() == data


def test_wrong_type_values_are_the_raw_values() -> None:
    done = parse_event({"type": "response.done", "response": {"output": "__ELIDED_BY_LOGGER__"}})
    assert isinstance(done, ResponseDone)
    assert isinstance(done.response, ev.Response)
    assert done.response.output == "__ELIDED_BY_LOGGER__"
    item = parse_event({"type": "response.output_item.done", "item": "x"})
    assert item.item == "x"  # type: ignore[attr-defined]
    limits = parse_event({"type": "rate_limits.updated", "rate_limits": [{"name": "tokens"}, 5]})
    assert isinstance(limits.rate_limits[0], ev.RateLimit)  # type: ignore[attr-defined]
    assert limits.rate_limits[1] == 5  # type: ignore[attr-defined]


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("{'type': 'x'}", "not valid JSON"),
        (b'{"type": "response.done"', "not valid JSON"),
        (b'{"type": "\xff\xfe"}', "not valid JSON"),
        (b"\x80abc", "not valid JSON"),
        ("[1, 2]", "not a JSON object but list"),
        ("3", "not a JSON object but int"),
        ('"response.done"', "not a JSON object but str"),
        ("null", "not a JSON object but NoneType"),
        (b"[]", "not a JSON object but list"),
        ("{}", "no 'type' field"),
        ('{"event_id": "e"}', "no 'type' field"),
        ('{"type": null}', "no 'type' field"),
        ('{"type": 5}', "'type' is not a string but int"),
        ('{"type": ["error"]}', "'type' is not a string but list"),
        ({"type": {"a": 1}}, "'type' is not a string but dict"),
        ({"no": "type"}, "no 'type' field"),
    ],
)
def test_bad_frames_raise_protocol_error(frame: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        parse_event(frame)
    assert isinstance(info.value, RealtimeError)
    assert info.value.data is frame


def test_bytearray_and_memoryview_frames() -> None:
    text = json.dumps(RESPONSE_DONE).encode()
    assert parse_event(bytearray(text)).to_dict() == RESPONSE_DONE
    assert parse_event(memoryview(text)).to_dict() == RESPONSE_DONE
    with pytest.raises(ProtocolError):
        parse_event(memoryview(b"\xff"))


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="beta"):
        parse_event(RESPONSE_DONE, dialect="v2")


# -- audio ----------------------------------------------------------------------------------


def test_audio_delta_samples_decode_pcm16_little_endian() -> None:
    values = [0, 1, -1, 256, 32767, -32768, 12345, -2]
    event = parse_event({"type": "response.audio.delta", "delta": _pcm16_b64(values)})
    assert isinstance(event, ResponseAudioDelta)
    samples = event.samples
    assert str(samples.dtype) == "int16"
    assert samples.tolist() == values
    assert event.audio_bytes() == struct.pack("<8h", *values)
    # the raw base64 is kept as received
    assert event.delta == _pcm16_b64(values)


def test_audio_delta_known_bytes() -> None:
    # 01 00 | ff ff | 00 80 | 34 12 -> 1, -1, -32768, 0x1234
    event = ResponseAudioDelta(delta=base64.b64encode(bytes.fromhex("0100ffff00803412")).decode())
    assert event.samples.tolist() == [1, -1, -32768, 0x1234]


def test_audio_delta_odd_byte_count_and_missing_delta() -> None:
    odd = base64.b64encode(struct.pack("<3h", 5, -5, 7) + b"\x09").decode()
    event = ResponseAudioDelta(delta=odd)
    assert event.samples.tolist() == [5, -5, 7]
    assert len(event.audio_bytes()) == 7
    assert ResponseAudioDelta(delta=base64.b64encode(b"\x01").decode()).samples.tolist() == []
    assert ResponseAudioDelta().samples.tolist() == []
    assert ResponseAudioDelta().audio_bytes() == b""
    assert ResponseAudioDelta(delta="").samples.tolist() == []


def test_importing_events_does_not_import_numpy() -> None:
    code = "import sys, rtsync.events; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- building client events -----------------------------------------------------------------


def test_conversation_item_create_wire_json() -> None:
    event = ConversationItemCreate(item=Item.user_text("hi"))
    assert event.to_json() == (
        '{"type":"conversation.item.create",'
        '"item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}'
    )
    assert parse_event(event.to_json()) == event


def test_client_event_wire_forms() -> None:
    cases: list[tuple[Event, dict[str, Any]]] = [
        (ev.ResponseCreate(), {"type": "response.create"}),
        (ev.ResponseCancel(event_id="c1"), {"type": "response.cancel", "event_id": "c1"}),
        (ev.InputAudioBufferCommit(), {"type": "input_audio_buffer.commit"}),
        (
            SessionUpdate(session=Session(modalities=["text"], turn_detection=None, voice="alloy")),
            {
                "type": "session.update",
                "session": {"modalities": ["text"], "voice": "alloy", "turn_detection": None},
            },
        ),
        (
            ConversationItemCreate(item=Item.function_output("call_1", '{"ok":true}'), previous_item_id=None),
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_1", "output": '{"ok":true}'},
                "previous_item_id": None,
            },
        ),
        (
            ev.ResponseCreate(
                response=ev.ResponseCreateParams(modalities=["text"], conversation="none", input=[])
            ),
            {
                "type": "response.create",
                "response": {"modalities": ["text"], "conversation": "none", "input": []},
            },
        ),
        (
            ev.ConversationItemTruncate(item_id="i", content_index=0, audio_end_ms=1500),
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": 1500},
        ),
        (InputAudioBufferAppend(audio="AAAA"), {"type": "input_audio_buffer.append", "audio": "AAAA"}),
    ]
    for event, wire in cases:
        assert event.to_dict() == wire
        assert json.loads(event.to_json()) == wire
        assert parse_event(event.to_json()) == event


def test_extra_fields_can_be_set_when_building() -> None:
    event = ev.ResponseCreate(extra_fields={"x_new": 1})
    assert event.to_dict() == {"type": "response.create", "x_new": 1}


# -- attrs classes --------------------------------------------------------------------------


def test_fields_are_real_attrs_fields_with_typed_nested_objects() -> None:
    names = attrs.fields_dict(ResponseDone)
    assert {"event_id", "response", "extra_fields"} <= set(names)
    assert "type" not in names  # a class constant, not a field
    event = ResponseDone.from_dict(RESPONSE_DONE)
    assert isinstance(event, ResponseDone)
    assert isinstance(event.response, ev.Response)
    assert isinstance(event.response.usage, Usage)
    assert isinstance(event.response.usage.input_token_details, ev.InputTokenDetails)
    assert isinstance(event.response.usage.output_token_details, ev.OutputTokenDetails)
    assert isinstance(event.response.output[0], Item)
    assert isinstance(event.response.output[0].content[0], ContentPart)
    assert event.response.usage.total_tokens == 10
    assert event.response.output[0].text == "Hello."
    assert event == parse_event(RESPONSE_DONE)
    assert Usage.from_dict(RESPONSE_DONE["response"]["usage"]).to_dict() == RESPONSE_DONE["response"]["usage"]


def test_equality_of_two_parses() -> None:
    text = json.dumps(RESPONSE_DONE)
    assert parse_event(text) == parse_event(text)
    assert parse_event(text) == parse_event(text.encode())
    other = copy.deepcopy(RESPONSE_DONE)
    other["response"]["usage"]["total_tokens"] = 11
    assert parse_event(text) != parse_event(other)
    extra = copy.deepcopy(RESPONSE_DONE)
    extra["x"] = 1
    assert parse_event(text) != parse_event(extra)
    unknown = {"type": "x.y", "a": 1}
    assert parse_event(unknown) == parse_event(json.dumps(unknown))


def test_every_model_class_builds_empty_and_dumps_empty() -> None:
    for module in (ev.models, ev.client, ev.server):
        for name in module.__all__:
            cls = getattr(module, name)
            obj = cls()
            expected = {"type": cls.type} if issubclass(cls, Event) else {}
            assert obj.to_dict() == expected, name
            assert type(cls.from_dict(expected)) is cls


# -- repr -----------------------------------------------------------------------------------


def test_compact_repr_shows_only_set_fields() -> None:
    event = ev.ResponseTextDelta(event_id="event_1", delta="hi")
    assert repr(event) == "ResponseTextDelta(event_id='event_1', delta='hi')"
    assert repr(ev.InputAudioBufferCleared()) == "InputAudioBufferCleared()"
    created = ev.ConversationItemCreated(previous_item_id=None)
    assert repr(created) == "ConversationItemCreated(previous_item_id=None)"
    assert repr(Item.user_text("hi")) == (
        "Item(type='message', role='user', content=[ContentPart(type='input_text', text='hi')])"
    )
    parsed = parse_event({"type": "response.text.delta", "delta": "a", "x_new": 1})
    assert repr(parsed) == "ResponseTextDelta(delta='a', extra_fields={'x_new': 1})"
    assert "UNSET" not in repr(parse_event(RESPONSE_DONE))


def test_compact_repr_shortens_audio() -> None:
    audio = _pcm16_b64([100] * 4000)  # 8000 bytes -> 10668 base64 chars
    for obj in (
        ResponseAudioDelta(event_id="e", delta=audio),
        InputAudioBufferAppend(audio=audio),
        ContentPart(type="input_audio", audio=audio),
    ):
        text = repr(obj)
        assert len(text) < 150, text
        assert f"({len(audio)} chars)" in text
    assert repr(ResponseAudioDelta(delta="AAAA")) == "ResponseAudioDelta(delta='AAAA')"


def test_every_model_class_has_the_compact_repr() -> None:
    for module in (ev.models, ev.client, ev.server):
        for name in module.__all__:
            cls = getattr(module, name)
            assert issubclass(cls, Model)
            assert repr(cls()) == f"{name}()"


# -- property tests -------------------------------------------------------------------------

_finite = st.floats(allow_nan=False, allow_infinity=False)  # NaN != NaN would break ==
_scalars = st.none() | st.booleans() | st.integers() | _finite | st.text()
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_REGISTERED = sorted(event_types())


def _model_dict(cls: type, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped like ``cls`` on the wire: some declared keys (random or nested values) + extras."""
    values: dict[str, st.SearchStrategy[Any]] = {}
    for field in attrs.fields(cls):
        if field.name in ("extra_fields", "raw"):
            continue
        spec = field.metadata.get("rtsync")
        strategy = json_values
        if spec is not None and depth < 3:
            nested = _model_dict(spec[1], depth + 1)
            many = st.lists(nested | json_values, max_size=3)
            strategy = json_values | (nested if spec[0] == "obj" else many)
        values[field.name] = strategy
    declared = st.fixed_dictionaries({}, optional=values)
    extras = st.dictionaries(st.text(max_size=10), json_values, max_size=3)
    return st.builds(lambda d, e: {**e, **d}, declared, extras)


@st.composite
def event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    type_ = draw(st.sampled_from(_REGISTERED) | st.text(max_size=30))
    cls = event_class(type_)
    body = draw(_model_dict(cls, 0)) if cls is not None else draw(
        st.dictionaries(st.text(max_size=10), json_values, max_size=5)
    )
    body["type"] = type_
    return body


@pytest.mark.slow
@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_dicts())
def test_any_event_object_round_trips(data: dict[str, Any]) -> None:
    expected = copy.deepcopy(data)
    event = parse_event(data)
    cls = event_class(data["type"])
    assert type(event) is (cls if cls is not None else UnknownEvent)
    assert event.to_dict() == expected
    text = json.dumps(data)
    assert parse_event(text).to_dict() == expected
    assert parse_event(text.encode()).to_dict() == expected
    assert json.loads(event.to_json()) == expected
    assert parse_event(text) == parse_event(text)
    assert data == expected  # parsing does not modify the input


@settings(max_examples=300, deadline=None, database=None)
@given(json_values | st.dictionaries(st.sampled_from(["type", "event_id", "x"]), json_values))
def test_any_json_value_parses_or_raises_protocol_error(value: Any) -> None:
    text = json.dumps(value)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        assert parse_event(text).to_dict() == value
        return
    for frame in (value, text, text.encode()):
        with pytest.raises(ProtocolError):
            parse_event(frame)


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_frames_never_raise_anything_but_protocol_error(frame: bytes | str) -> None:
    try:
        event = parse_event(frame)
    except ProtocolError:
        return
    assert isinstance(event, Event)


def test_lazily_loaded_ga_names_match_the_module() -> None:
    import rtsync.events as events
    from rtsync.events import ga

    assert events._GA_NAMES == frozenset(ga.__all__)
    for name in ga.__all__:
        assert getattr(events, name) is getattr(ga, name)


def test_connect_compiles_every_loader_before_the_first_event() -> None:
    """In a fresh interpreter: before connect() no loader is compiled (import stays light);
    after it, every event type's loader is, so no event waits for a compile on the reader."""
    code = """if True:
        from rtsync import RealtimeClient
        from rtsync.events import codec
        from rtsync.server import LocalServer
        classes = set(codec.event_types().values())
        before = set(codec._LOADERS) | set(codec._TYPE_LOADERS.values())
        with LocalServer() as server, RealtimeClient(url=server.url) as client:
            missing = classes - set(codec._LOADERS)
        print(len(before), len(missing))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"], out.stdout + out.stderr


def test_event_classes_register_in_the_codec_as_they_are_defined() -> None:
    """In a fresh interpreter (the tables are global): a new client or server event class is
    parsed as soon as it is defined, a local event never; GA-only classes go in the GA table
    when their module is imported, whoever imports it."""
    code = """if True:
        from typing import ClassVar
        import attrs
        from rtsync.events import ServerEvent, UnknownEvent, codec, parse_event
        from rtsync.events.local import LocalEvent

        assert not codec._GA_TYPES  # not loaded by the import of rtsync.events...
        import rtsync.events.ga as ga  # ...and a plain import registers the GA-only classes
        assert codec._GA_TYPES["conversation.item.done"] is ga.ConversationItemDone
        assert "conversation.item.done" not in codec.event_types()
        assert type(parse_event({"type": "conversation.item.done"})) is UnknownEvent

        @attrs.define(kw_only=True, repr=False)
        class Custom(ServerEvent):
            type: ClassVar[str] = "x.custom"
            n: int = 0

        @attrs.define(kw_only=True)
        class Local(LocalEvent):
            type: ClassVar[str] = "x.local"

        assert codec.event_class("x.custom") is Custom
        ev = parse_event('{"type": "x.custom", "n": 3}')
        assert type(ev) is Custom and ev.n == 3 and repr(ev) == "Custom(n=3)"
        assert type(parse_event({"type": "x.local"})) is UnknownEvent

        @attrs.define(kw_only=True, repr=False)
        class Again(ServerEvent):  # the same type again: the later class wins, loader included
            type: ClassVar[str] = "x.custom"

        assert type(parse_event({"type": "x.custom"})) is Again
        print("ok")
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["ok"], out.stdout + out.stderr
