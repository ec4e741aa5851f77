"""Behaviour of the local Realtime server, checked over real loopback WebSockets.

The peer is plain ``websocket-client``, not rtsync's own client, so these tests pin down the wire
protocol the server speaks (REFERENCE §6/§8) independently of the client library.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from rtsync.server import LocalServer
from rtsync.server.store import ItemInfo, ItemStore
from rtsync.server.validation import ClientError
from tests.helpers import JsonPeer

pytestmark = pytest.mark.timeout(20)

EVENT_ID = re.compile(r"^event_[A-Za-z0-9]{21}$")


def _server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtsync-server")]


@pytest.fixture
def server(make_server: Any) -> LocalServer:
    return make_server()


class Peer(JsonPeer):
    """A websocket-client connection; every received event must carry a well-formed event_id."""

    ws: websocket.WebSocket

    def recv(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.ws.recv())
        assert EVENT_ID.match(event["event_id"]), event
        return event

    def error(self) -> dict[str, Any]:
        return self.expect("error")["error"]

    def user_text(self, text: str, **extra: Any) -> dict[str, Any]:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        self.send({"type": "conversation.item.create", "item": item, **extra})
        return self.expect("conversation.item.created")

    def close(self) -> None:
        self.ws.close()
        self.ws.shutdown()  # after a server-initiated close, close() alone leaves the socket open


@pytest.fixture
def connect() -> Iterator[Any]:
    peers: list[Peer] = []

    def open_peer(server: LocalServer, query: str = "", header: list[str] | None = None) -> Peer:
        ws = websocket.create_connection(server.url + query, header=header or [], timeout=5)
        peer = Peer(ws)
        peers.append(peer)
        return peer

    yield open_peer
    for peer in peers:
        peer.close()


@pytest.fixture
def peer(server: LocalServer, connect: Any) -> Peer:
    p = connect(server)
    p.expect("session.created")
    return p


def _texts(events: list[dict[str, Any]]) -> str:
    """The streamed words of a response: text deltas, or transcript deltas of an audio part."""
    kinds = ("response.text.delta", "response.audio_transcript.delta")
    return "".join(e["delta"] for e in events if e["type"] in kinds)


# ----------------------------------------------------------------------------------------------
# connection and session


def test_session_created_is_first_and_has_the_defaults(server: LocalServer, connect: Any) -> None:
    assert server.url == f"ws://127.0.0.1:{server.port}/v1/realtime"
    p = connect(server)
    event = p.recv()
    assert event["type"] == "session.created"
    session = event["session"]
    assert re.match(r"^sess_[A-Za-z0-9]{21}$", session["id"])
    assert session["object"] == "realtime.session"
    assert session["model"] == "gpt-4o-realtime-preview-2024-10-01"
    assert abs(session["expires_at"] - (time.time() + 1800)) < 60
    assert session["modalities"] == ["text", "audio"]
    assert session["instructions"]
    assert session["voice"] == "alloy"
    assert session["input_audio_format"] == session["output_audio_format"] == "pcm16"
    assert session["input_audio_transcription"] is None
    assert session["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "create_response": True,
        "interrupt_response": True,
    }
    assert session["tools"] == [] and session["tool_choice"] == "auto"
    assert session["temperature"] == 0.8
    assert session["max_response_output_tokens"] == "inf"
    for key in ("input_audio_noise_reduction", "client_secret", "include", "tracing"):
        assert session[key] is None
    # Nothing else is sent on connect (no conversation.created).
    p.ws.settimeout(0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        p.ws.recv()


def test_model_comes_from_the_url(server: LocalServer, connect: Any) -> None:
    p = connect(server, "?model=gpt-4o-mini-realtime-preview-2024-12-17")
    assert p.expect("session.created")["session"]["model"] == "gpt-4o-mini-realtime-preview-2024-12-17"


def test_session_update_merges_and_rejects_unknown_keys(peer: Peer) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    peer.send({"type": "session.update", "session": {"instructions": "Be brief.", "tools": tools,
                                                     "turn_detection": None}})
    session = peer.expect("session.updated")["session"]
    assert session["instructions"] == "Be brief."
    assert session["tools"] == tools
    assert session["turn_detection"] is None
    assert session["voice"] == "alloy" and session["temperature"] == 0.8  # untouched keys kept

    peer.send({"type": "session.update", "event_id": "evt_1",
               "session": {"instructions": "changed", "max_output_tokens": 50}})
    error = peer.error()
    assert error == {
        "type": "invalid_request_error",
        "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.max_output_tokens'.",
        "param": "session.max_output_tokens",
        "event_id": "evt_1",
    }
    peer.send({"type": "session.update", "session": {}})
    assert peer.expect("session.updated")["session"]["instructions"] == "Be brief."  # nothing applied


# ----------------------------------------------------------------------------------------------
# text turn


def test_text_turn_full_event_order(peer: Peer) -> None:
    user = peer.user_text("hello there")
    assert user["previous_item_id"] is None
    assert user["item"]["status"] == "completed" and user["item"]["object"] == "realtime.item"
    user_id = user["item"]["id"]
    assert re.match(r"^item_[A-Za-z0-9]{21}$", user_id)

    peer.send({"type": "response.create", "response": {"modalities": ["text"]}})
    events = peer.until("response.done")
    kinds = [e["type"] for e in events]
    deltas = kinds.count("response.text.delta")
    assert deltas == 4
    assert kinds == [
        "response.created",
        "rate_limits.updated",
        "response.output_item.added",
        "conversation.item.created",
        "response.content_part.added",
        *["response.text.delta"] * deltas,
        "response.text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    created = events[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    assert re.match(r"^resp_[A-Za-z0-9]{21}$", created["id"])
    assert re.match(r"^conv_[A-Za-z0-9]{21}$", created["conversation_id"])
    assert created["modalities"] == ["text"] and created["max_output_tokens"] == "inf"
    assert [r["name"] for r in events[1]["rate_limits"]] == ["requests", "tokens"]

    added = events[2]
    assert added["output_index"] == 0 and added["item"]["status"] == "in_progress"
    assert added["item"]["content"] == []
    item_id = added["item"]["id"]
    assert events[3]["previous_item_id"] == user_id and events[3]["item"]["id"] == item_id
    assert events[4]["part"] == {"type": "text", "text": ""}

    text = _texts(events)
    assert text == "You said: hello there"
    assert events[-4]["text"] == text
    assert events[-3]["part"] == {"type": "text", "text": text}
    done_item = events[-2]["item"]
    assert done_item["status"] == "completed"
    assert done_item["content"] == [{"type": "text", "text": text}]
    for event in events[2:-1]:
        if event["type"] != "conversation.item.created":
            assert event["response_id"] == created["id"]

    response = events[-1]["response"]
    assert response["status"] == "completed" and response["status_details"] is None
    assert response["output"] == [done_item]
    usage = response["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens"] > 0 and usage["input_tokens"] > 0
    assert usage["input_token_details"]["cached_tokens_details"] == {"text_tokens": 0, "audio_tokens": 0}
    assert set(usage["output_token_details"]) == {"text_tokens", "audio_tokens"}


def test_audio_modalities_stream_an_audio_part(peer: Peer) -> None:
    peer.user_text("one two")
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    part = next(e for e in events if e["type"] == "response.content_part.added")["part"]
    assert part == {"type": "audio", "transcript": ""}
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.audio_transcript.delta")
    assert transcript == "You said: one two"
    assert "response.text.delta" not in [e["type"] for e in events]
    assert events[-1]["response"]["modalities"] == ["text", "audio"]


def test_token_cap_ends_incomplete(peer: Peer) -> None:
    peer.user_text("a b c d e f g h i j")
    peer.send({"type": "response.create", "response": {"max_output_tokens": 3}})
    events = peer.until("response.done")
    assert _texts(events) == "You said: a"
    response = events[-1]["response"]
    assert response["status"] == "incomplete"
    assert response["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert response["max_output_tokens"] == 3
    assert response["output"][0]["status"] == "incomplete"


def test_out_of_band_response_stays_out_of_the_conversation(peer: Peer) -> None:
    peer.user_text("first")
    peer.send({"type": "response.create", "response": {
        "conversation": "none", "metadata": {"topic": "oob"},
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "side"}]}],
    }})
    events = peer.until("response.done")
    assert "conversation.item.created" not in [e["type"] for e in events]
    assert _texts(events) == "You said: side"
    response = events[-1]["response"]
    assert response["conversation_id"] is None and response["metadata"] == {"topic": "oob"}
    # The next item still follows the user item, not the out-of-band output.
    follow = peer.user_text("second")
    assert follow["previous_item_id"] is not None
    peer.send({"type": "conversation.item.retrieve", "item_id": response["output"][0]["id"]})
    assert peer.error()["code"] == "item_retrieve_invalid_item_id"


# ----------------------------------------------------------------------------------------------
# conversation items


def test_previous_item_id_chaining_and_root_insert(peer: Peer) -> None:
    a = peer.user_text("a")["item"]["id"]
    b = peer.user_text("b", previous_item_id=a)
    assert b["previous_item_id"] == a
    c = peer.user_text("c", previous_item_id="root")
    assert c["previous_item_id"] is None
    d = peer.user_text("d", previous_item_id=None)
    assert d["previous_item_id"] == b["item"]["id"]

    peer.send({"type": "conversation.item.create", "previous_item_id": "nope", "item": {
        "id": "client-id-1", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "x"}]}})
    error = peer.error()
    assert error["type"] == "invalid_request_error" and "nope" in error["message"]
    peer.send({"type": "conversation.item.retrieve", "item_id": "client-id-1"})
    assert peer.error()["code"] == "item_retrieve_invalid_item_id"  # nothing was added

    # Client ids are kept verbatim.
    peer.send({"type": "conversation.item.create", "item": {
        "id": "client-id-1", "type": "message", "role": "system",
        "content": [{"type": "input_text", "text": "sys"}]}})
    assert peer.expect("conversation.item.created")["item"]["id"] == "client-id-1"
    peer.send({"type": "conversation.item.retrieve", "item_id": "client-id-1"})
    retrieved = peer.expect("conversation.item.retrieved")["item"]
    assert retrieved["role"] == "system" and retrieved["content"][0]["text"] == "sys"


def test_item_create_validation(peer: Peer) -> None:
    peer.send({"type": "conversation.item.create", "item": {"role": "user", "content": []}})
    error = peer.error()
    assert error["code"] == "missing_required_parameter"
    assert error["message"] == "Missing required parameter: 'item.type'."
    assert error["param"] == "item.type"

    peer.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "hi"}]}})
    assert peer.error()["message"] == "Invalid value: 'input_text'. Value must be 'text'."

    peer.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_missing", "output": "{}"}})
    assert peer.error()["code"] == "invalid_tool_call_id"

    peer.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "text", "text": "earlier"}]}})
    created = peer.expect("conversation.item.created")
    assert created["item"]["content"] == [{"type": "text", "text": "earlier"}]


def test_truncate_and_delete_errors(peer: Peer) -> None:
    peer.send({"type": "conversation.item.truncate", "item_id": "nope", "content_index": 0,
               "audio_end_ms": 10})
    assert peer.error()["code"] == "item_truncate_invalid_item_id"

    user_id = peer.user_text("hi")["item"]["id"]
    peer.send({"type": "response.create", "response": {"modalities": ["text"]}})
    assistant_id = peer.until("response.done")[-1]["response"]["output"][0]["id"]
    for item_id in (user_id, assistant_id):  # text items have no model audio
        peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                   "audio_end_ms": 0})
        error = peer.error()
        assert error["message"] == "Only model output audio messages can be truncated"
        assert error["type"] == "invalid_request_error"

    peer.send({"type": "conversation.item.delete", "item_id": "nope", "event_id": "del_1"})
    error = peer.error()
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "item_delete_invalid_item_id"
    assert error["message"] == "Error deleting item: the item with id 'nope' does not exist."
    assert error["event_id"] == "del_1"

    peer.send({"type": "conversation.item.delete", "item_id": user_id})
    assert peer.expect("conversation.item.deleted")["item_id"] == user_id
    peer.send({"type": "conversation.item.delete", "item_id": user_id})
    assert peer.error()["code"] == "item_delete_invalid_item_id"


def test_truncate_length_check_for_model_audio() -> None:
    conversation = ItemStore()
    item = {"id": "item_a", "object": "realtime.item", "type": "message", "status": "completed",
            "role": "assistant", "content": [{"type": "audio", "transcript": "hello"}]}
    conversation.insert(item, None, ItemInfo(audio_ms=2700))
    with pytest.raises(ClientError) as info:
        conversation.truncate("item_a", 0, 3207)
    assert info.value.message == "Audio content of 2700ms is already shorter than 3207ms"
    assert info.value.code is None
    conversation.truncate("item_a", 0, 1500)
    assert conversation.info["item_a"].audio_ms == 1500
    with pytest.raises(ClientError):
        conversation.truncate("item_a", 0, 1600)


# ----------------------------------------------------------------------------------------------
# input audio buffer


def _append(peer: Peer, nbytes: int) -> None:
    peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * nbytes).decode()})


def test_commit_empty_and_commit_success(peer: Peer) -> None:
    peer.send({"type": "input_audio_buffer.commit"})
    error = peer.error()
    assert error["code"] == "input_audio_buffer_commit_empty"
    assert error["message"] == (
        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
        "but buffer only has 0.00ms of audio."
    )
    _append(peer, 48 * 50)  # 50 ms of pcm16, never acknowledged
    peer.send({"type": "input_audio_buffer.commit"})
    assert "buffer only has 50.00ms of audio." in peer.error()["message"]

    _append(peer, 48 * 200)  # 250 ms in all
    peer.send({"type": "input_audio_buffer.commit"})
    committed = peer.expect("input_audio_buffer.committed")
    assert committed["previous_item_id"] is None
    created = peer.expect("conversation.item.created")
    assert created["item"]["id"] == committed["item_id"]
    assert created["item"]["role"] == "user" and created["item"]["status"] == "completed"
    assert created["item"]["content"] == [{"type": "input_audio", "transcript": None}]

    peer.send({"type": "response.create", "response": {"modalities": ["text"]}})
    assert _texts(peer.until("response.done")) == "I heard 0.2 seconds of speech."

    _append(peer, 48 * 150)
    peer.send({"type": "input_audio_buffer.clear"})
    peer.expect("input_audio_buffer.cleared")
    peer.send({"type": "input_audio_buffer.commit"})
    assert peer.error()["code"] == "input_audio_buffer_commit_empty"

    peer.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
    assert peer.error()["param"] == "audio"


def test_g711_counts_eight_bytes_per_ms(peer: Peer) -> None:
    peer.send({"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}})
    peer.expect("session.updated")
    _append(peer, 8 * 99)
    peer.send({"type": "input_audio_buffer.commit"})
    assert "buffer only has 99.00ms of audio." in peer.error()["message"]
    _append(peer, 8 * 1401)
    peer.send({"type": "input_audio_buffer.commit"})
    peer.expect("input_audio_buffer.committed")
    peer.expect("conversation.item.created")
    peer.send({"type": "response.create"})
    assert _texts(peer.until("response.done")) == "I heard 1.5 seconds of speech."


# ----------------------------------------------------------------------------------------------
# response lifecycle


def test_cancel_mid_stream(make_server: Any, connect: Any) -> None:
    server = make_server(text_delay=0.05)
    p = connect(server)
    p.expect("session.created")
    p.user_text(" ".join(f"w{n}" for n in range(40)))
    p.send({"type": "response.create", "response": {"modalities": ["text"]}})
    events = p.until("response.text.delta")
    p.send({"type": "response.cancel", "event_id": "cancel_1"})
    events += p.until("response.done")
    kinds = [e["type"] for e in events]
    assert kinds[-4:] == ["response.text.done", "response.content_part.done",
                          "response.output_item.done", "response.done"]
    text = _texts(events)
    assert events[-4]["text"] == text and 0 < len(text) < len("You said: w0") + 40 * 4
    assert events[-2]["item"]["status"] == "incomplete"
    response = events[-1]["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert response["output"][0]["content"] == [{"type": "text", "text": text}]

    # Nothing is active any more.
    p.send({"type": "response.cancel"})
    assert p.error()["code"] == "response_cancel_not_active"


def test_cancel_with_nothing_active(peer: Peer) -> None:
    peer.send({"type": "response.cancel", "event_id": "c1"})
    error = peer.error()
    assert error["code"] == "response_cancel_not_active"
    assert error["message"] == "Cancellation failed: no active response found"
    assert error["event_id"] == "c1"
    peer.send({"type": "response.cancel", "response_id": "resp_unknown"})
    assert peer.error()["code"] == "response_cancel_not_active"


def test_one_active_response_at_a_time(make_server: Any, connect: Any) -> None:
    server = make_server(text_delay=0.05)
    p = connect(server)
    p.expect("session.created")
    p.user_text("a b c d e f g h")
    p.send({"type": "response.create"})
    first = p.expect("response.created")["response"]["id"]
    p.send({"type": "response.create", "event_id": "again"})
    events = p.until("error")
    error = events[-1]["error"]
    assert error["code"] == "conversation_already_has_active_response"
    assert error["message"] == "Conversation already has an active response"
    assert error["event_id"] == "again"
    done = p.until("response.done")[-1]["response"]
    assert done["id"] == first and done["status"] == "completed"
    p.send({"type": "response.create"})
    p.expect("response.created")
    assert p.until("response.done")[-1]["response"]["status"] == "completed"


def test_rate_limits_can_be_switched_off(make_server: Any, connect: Any) -> None:
    p = connect(make_server(rate_limits=False))
    p.expect("session.created")
    p.user_text("hi")
    p.send({"type": "response.create"})
    assert "rate_limits.updated" not in [e["type"] for e in p.until("response.done")]


# ----------------------------------------------------------------------------------------------
# tools


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": name,
            "parameters": {"type": "object", "properties": {}}}


def test_tool_call_then_follow_up(peer: Peer) -> None:
    peer.send({"type": "session.update", "session": {"tools": [_tool("get_weather"), _tool("get_time")]}})
    peer.expect("session.updated")
    peer.user_text('please get_weather {"city": "Paris"} now')
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    kinds = [e["type"] for e in events]
    assert "response.content_part.added" not in kinds
    added = events[kinds.index("response.output_item.added")]["item"]
    assert added["type"] == "function_call" and added["name"] == "get_weather"
    assert added["arguments"] == "" and re.match(r"^call_[A-Za-z0-9]{16}$", added["call_id"])
    deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert len(deltas) > 1 and all(d["call_id"] == added["call_id"] for d in deltas)
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert done["name"] == "get_weather"
    assert done["arguments"] == "".join(d["delta"] for d in deltas)
    assert json.loads(done["arguments"]) == {"city": "Paris"}
    call = events[-1]["response"]["output"][0]
    assert call["status"] == "completed" and call["arguments"] == done["arguments"]

    peer.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call["call_id"], "output": '{"temp": 21}'}})
    assert peer.expect("conversation.item.created")["previous_item_id"] == call["id"]
    peer.send({"type": "response.create"})
    assert _texts(peer.until("response.done")) == 'Tool get_weather returned: {"temp": 21}'


def test_two_tools_in_one_response(peer: Peer) -> None:
    peer.send({"type": "session.update", "session": {"tools": [_tool("get_weather"), _tool("get_time")]}})
    peer.expect("session.updated")
    peer.user_text("get_time and then get_weather")
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["name"]) for e in added] == [(0, "get_time"), (1, "get_weather")]
    output = events[-1]["response"]["output"]
    assert [o["arguments"] for o in output] == ["{}", "{}"]
    for call in output:
        peer.send({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": call["call_id"], "output": call["name"] + "-ok"}})
        peer.expect("conversation.item.created")
    peer.send({"type": "response.create"})
    assert _texts(peer.until("response.done")) == (
        "Tool get_time returned: get_time-ok\nTool get_weather returned: get_weather-ok"
    )


# ----------------------------------------------------------------------------------------------
# bad input


def test_bad_frames_are_reported_and_the_session_goes_on(peer: Peer) -> None:
    peer.ws.send("{not json")
    error = peer.error()
    assert error["code"] == "invalid_json" and error["type"] == "invalid_request_error"
    assert error["event_id"] is None

    peer.ws.send_binary(b"\x00\x01")
    error = peer.error()
    assert error["code"] == "invalid_event"
    assert error["message"] == "Expected a text WebSocket message; binary frames are not supported."

    peer.send({"event_id": "e1", "session": {}})
    error = peer.error()
    assert (error["code"], error["message"], error["event_id"]) == (
        "invalid_event", "The 'type' field is missing.", "e1")

    peer.send({"type": "scooby.dooby.doo", "event_id": "e2"})
    error = peer.error()
    assert error["code"] == "invalid_value" and error["param"] == "type" and error["event_id"] == "e2"
    assert error["message"].startswith("Invalid value: 'scooby.dooby.doo'. Supported values are: "
                                       "'session.update', ")
    assert "'response.create'" in error["message"] and error["message"].endswith(".")

    peer.send({"type": "output_audio_buffer.clear"})
    assert "WebRTC" in peer.error()["message"]
    peer.send({"type": "transcription_session.update", "session": {}})
    assert peer.error()["type"] == "invalid_request_error"

    assert peer.user_text("still here")["item"]["content"][0]["text"] == "still here"


# ----------------------------------------------------------------------------------------------
# handshake and lifecycle


def test_api_key_is_required_when_configured(make_server: Any, connect: Any) -> None:
    server = make_server(api_key="sk-test-secret-123456")
    for header in ([], ["Authorization: Bearer sk-wrong-key-999999"]):
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            websocket.create_connection(server.url, header=header, timeout=5)
        assert info.value.status_code == 401
        body = info.value.resp_body.decode() if info.value.resp_body else ""
        assert "sk-wrong-key" not in body and "sk-test-secret" not in body
        assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert json.loads(body)["error"]["code"] == "invalid_api_key"
    p = connect(server, header=["Authorization: Bearer sk-test-secret-123456", "OpenAI-Beta: realtime=v1"])
    p.expect("session.created")


def test_unknown_path_is_404(server: LocalServer) -> None:
    url = f"ws://127.0.0.1:{server.port}/v1/elsewhere"
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(url, timeout=5)
    assert info.value.status_code == 404


def test_unknown_model_gets_an_error_then_close_4000(server: LocalServer) -> None:
    ws = websocket.create_connection(server.url + "?model=gpt-4o", timeout=5)
    try:
        event = json.loads(ws.recv())
        assert event["type"] == "error"
        assert event["error"]["code"] == "model_not_found"
        assert event["error"]["message"] == (
            "The model 'gpt-4o' does not exist or you do not have access to it.")
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 4000
        assert frame.data[2:].decode() == "invalid_request_error.model_not_found"
    finally:
        ws.shutdown()


def test_stop_closes_connections_and_leaves_no_server_thread(connect: Any) -> None:
    server = LocalServer(text_delay=0.05).start()
    try:
        p = connect(server)
        p.expect("session.created")
        p.user_text(" ".join(["word"] * 50))
        p.send({"type": "response.create"})
        p.expect("response.created")
        assert _server_threads()
        closed: list[int] = []

        def read() -> None:  # answers the close handshake like a live client
            try:
                while True:
                    opcode, frame = p.ws.recv_data_frame(control_frame=True)
                    if opcode == websocket.ABNF.OPCODE_CLOSE:
                        closed.append(int.from_bytes(frame.data[:2], "big"))
                        p.ws.shutdown()
                        return
            except (websocket.WebSocketException, OSError):
                return

        reader = threading.Thread(target=read, name="test-reader")
        reader.start()
    finally:
        other = threading.Thread(target=server.stop, name="test-second-stop")
        other.start()  # a concurrent stop() waits for the first one
        server.stop()
        other.join(5)
    reader.join(5)
    assert closed == [1001]
    assert _server_threads() == []
    server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        server.start()
