"""The local server's GA mode, spoken to over a raw WebSocket (websockets.sync.client)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import websocket
from websockets.sync.client import ClientConnection, connect

from rtsync.events import UnknownEvent, parse_event
from rtsync.server import LocalServer
from tests.helpers import JsonPeer

PCM = {"type": "audio/pcm", "rate": 24000}
BETA_NAMES = ("response.text.", "response.audio.", "response.audio_transcript.", "conversation.item.created")


class GaPeer(JsonPeer):
    """A raw GA client (a websockets connection): every received frame kept."""

    def __init__(self, ws: ClientConnection) -> None:
        super().__init__(ws)
        self.received: list[dict[str, Any]] = []

    def recv(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.ws.recv(timeout=5))
        self.received.append(event)
        return event


@pytest.fixture
def open_ws() -> Iterator[Any]:
    with contextlib.ExitStack() as stack:

        def open_(server: LocalServer, query: str = "", headers: dict[str, str] | None = None) -> GaPeer:
            ws = connect(server.url + query, additional_headers=headers, open_timeout=5, close_timeout=2)
            return GaPeer(stack.enter_context(ws))

        yield open_


@pytest.fixture
def peer(make_server: Any, open_ws: Any) -> GaPeer:
    p: GaPeer = open_ws(make_server(dialect="ga", voice="tone"), "?model=gpt-realtime")
    p.expect("session.created")
    return p


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def assert_ga_only(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert not event["type"].startswith(BETA_NAMES), event["type"]
        # every frame is typed by the client-side GA dialect
        assert not isinstance(parse_event(event, dialect="ga"), UnknownEvent), event["type"]


def user_text(text: str) -> dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def test_session_created_is_ga_shaped(make_server: Any, open_ws: Any) -> None:
    p = open_ws(make_server(dialect="ga"), "?model=gpt-realtime")
    session = p.expect("session.created")["session"]
    assert session["type"] == "realtime"
    assert session["object"] == "realtime.session"
    assert session["model"] == "gpt-realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["audio"]["input"]["format"] == PCM
    assert session["audio"]["output"] == {"voice": "alloy", "format": PCM, "speed": 1.0}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["max_output_tokens"] == "inf"
    for beta in ("modalities", "voice", "turn_detection", "temperature", "input_audio_format"):
        assert beta not in session


def test_session_update_in_ga_shape(peer: GaPeer) -> None:
    peer.send({"type": "session.update", "session": {
        "type": "realtime",
        "output_modalities": ["text"],
        "instructions": "Be terse.",
        "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
                  "output": {"voice": "marin", "format": {"type": "audio/pcma"}}},
        "max_output_tokens": 100,
        "truncation": "auto",
    }})
    session = peer.expect("session.updated")["session"]
    assert session["output_modalities"] == ["text"]
    assert session["instructions"] == "Be terse."
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["input"]["turn_detection"] is None
    assert session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["output"]["format"] == {"type": "audio/pcma"}
    assert session["max_output_tokens"] == 100


def test_beta_shaped_events_get_the_ga_errors(peer: GaPeer) -> None:
    peer.send({"type": "session.update", "event_id": "c1", "session": {"modalities": ["text"]}})
    error = peer.expect("error")["error"]
    assert (error["code"], error["param"], error["event_id"]) == ("missing_required_parameter", "session.type", "c1")
    assert error["message"] == "Missing required parameter: 'session.type'."
    peer.send({"type": "session.update", "session": {"type": "realtime", "temperature": 0.8}})
    assert peer.expect("error")["error"]["message"] == "Unknown parameter: 'session.temperature'."
    peer.send({"type": "response.create", "response": {"modalities": ["text"]}})
    assert peer.expect("error")["error"]["param"] == "response.modalities"
    # the session goes on
    peer.send({"type": "session.update", "session": {"type": "realtime", "instructions": "ok"}})
    assert peer.expect("session.updated")["session"]["instructions"] == "ok"


@pytest.mark.parametrize("event", [
    {"type": "conversation.item.create", "event_id": "c9",
     "item": {"type": "message", "role": "assistant", "content": [{"type": [1]}]}},
    {"type": "session.update", "event_id": "c9",
     "session": {"type": "realtime", "audio": {"input": {"format": {"type": ["audio/pcm"]}}}}},
])
def test_a_malformed_ga_shape_gets_an_error_and_the_session_goes_on(peer: GaPeer, event: dict[str, Any]) -> None:
    peer.send(event)
    error = peer.expect("error")["error"]
    assert error["type"] == "invalid_request_error"
    assert error["event_id"] == "c9"
    peer.send({"type": "session.update", "session": {"type": "realtime", "instructions": "still here"}})
    assert peer.expect("session.updated")["session"]["instructions"] == "still here"


def test_text_turn(peer: GaPeer) -> None:
    peer.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    peer.expect("session.updated")
    peer.send(user_text("hello GA world"))
    added = peer.expect("conversation.item.added")
    done = peer.expect("conversation.item.done")
    assert added["item"]["content"] == [{"type": "input_text", "text": "hello GA world"}]
    assert done["item"]["id"] == added["item"]["id"]
    assert "object" not in added["item"]
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    assert_ga_only(events)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "You said: hello GA world"
    assert len(deltas) == 5
    text_done = next(e for e in events if e["type"] == "response.output_text.done")
    assert text_done["text"] == "You said: hello GA world"
    part = next(e for e in events if e["type"] == "response.content_part.done")["part"]
    assert part["type"] == "text"  # content-part events keep "text", as on the GA service
    item = next(e for e in events if e["type"] == "response.output_item.done")["item"]
    assert item["content"] == [{"type": "output_text", "text": "You said: hello GA world"}]
    assert "conversation.item.done" in types(events)
    assert types(events).index("response.output_item.added") < types(events).index("conversation.item.added")
    response = events[-1]["response"]
    assert response["output_modalities"] == ["text"]
    assert response["output"][0]["content"][0]["type"] == "output_text"
    assert response["usage"]["output_tokens"] > 0
    assert "modalities" not in response and "temperature" not in response


def test_function_call_turn(peer: GaPeer) -> None:
    tool = {"type": "function", "name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    peer.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                     "tools": [tool]}})
    assert peer.expect("session.updated")["session"]["tools"] == [tool]
    peer.send(user_text('get_weather {"city": "Paris"}'))
    peer.until("conversation.item.done")
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    assert_ga_only(events)
    args = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert args["name"] == "get_weather"
    assert json.loads(args["arguments"]) == {"city": "Paris"}
    call = events[-1]["response"]["output"][0]
    assert call["type"] == "function_call" and call["call_id"] == args["call_id"]
    peer.send({"type": "conversation.item.create",
               "item": {"type": "function_call_output", "call_id": args["call_id"], "output": "sunny"}})
    peer.until("conversation.item.done")
    peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    events = peer.until("response.done")
    text = next(e for e in events if e["type"] == "response.output_text.done")["text"]
    assert text == "Tool get_weather returned: sunny"


def test_audio_out_and_in(peer: GaPeer) -> None:
    peer.send({"type": "session.update", "session": {"type": "realtime",
                                                     "audio": {"input": {"turn_detection": None}}}})
    peer.expect("session.updated")
    # 0.5 s of a loud tone, committed by hand
    t = np.arange(12000) / 24000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
    peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
    peer.send({"type": "input_audio_buffer.commit"})
    committed = peer.expect("input_audio_buffer.committed")
    added = peer.expect("conversation.item.added")
    assert added["item"]["id"] == committed["item_id"]
    assert added["item"]["content"][0]["type"] == "input_audio"
    peer.expect("conversation.item.done")
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    assert_ga_only(events)
    kinds = types(events)
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    assert len(audio) > 0 and len(audio) % 2 == 0
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == "I heard 0.5 seconds of speech."
    assert kinds.index("response.output_audio.done") < kinds.index("response.output_audio_transcript.done")
    part = next(e for e in events if e["type"] == "response.content_part.added")["part"]
    assert part["type"] == "audio"
    item = events[-1]["response"]["output"][0]
    assert item["content"][0]["type"] == "output_audio"
    assert item["content"][0]["transcript"] == "I heard 0.5 seconds of speech."
    assert events[-1]["response"]["audio"]["output"]["format"] == PCM


def test_beta_header_is_refused_in_ga_mode(make_server: Any) -> None:
    server = make_server(dialect="ga")
    # websocket-client, frame by frame: websockets 13's client can lose a message that arrives
    # right before the close frame, and this test is about what the server sends.
    ws = websocket.create_connection(server.url + "?model=gpt-realtime", header=["OpenAI-Beta: realtime=v1"],
                                     timeout=5)
    try:
        error = json.loads(ws.recv())["error"]
        assert error["type"] == "invalid_request_error"
        assert error["code"] == "beta_api_shape_disabled"
        assert error["message"] == (
            "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.")
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 4000
        assert frame.data[2:].decode() == "invalid_request_error.beta_api_shape_disabled"
    finally:
        ws.shutdown()


@pytest.mark.parametrize(
    ("dialect", "query", "headers", "expected"),
    [
        ("auto", "?model=gpt-realtime", {"OpenAI-Beta": "realtime=v1"}, "beta"),
        ("auto", "?model=gpt-realtime", None, "ga"),
        ("auto", "", None, "beta"),
        ("auto", "?model=gpt-4o-realtime-preview-2024-12-17", None, "beta"),
        ("beta", "?model=gpt-realtime", None, "beta"),
        ("ga", "", None, "ga"),
    ],
)
def test_dialect_selection(make_server: Any, open_ws: Any, dialect: str, query: str,
                           headers: dict[str, str] | None, expected: str) -> None:
    p = open_ws(make_server(dialect=dialect), query, headers)
    session = p.expect("session.created")["session"]
    assert ("output_modalities" in session) == (expected == "ga")
    assert ("modalities" in session) == (expected == "beta")


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        LocalServer(dialect="v2")


def test_cli_serve_has_a_dialect_option() -> None:
    from rtsync.cli import build_parser, main

    assert build_parser().parse_args(["serve", "--dialect", "ga"]).dialect == "ga"
    assert build_parser().parse_args(["serve"]).dialect == "auto"
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--dialect", "v2"])
    assert exc.value.code == 2
