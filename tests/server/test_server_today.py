"""The local server follows today's service: reasoning models, their options, custom voices,
the newer noise-reduction and transcription options, transcription usage and item references.

Spoken to over raw WebSockets in both dialects; every test runs once per dialect.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from rtsync.server import LocalServer
from tests.helpers import JsonPeer
from tests.judges.scenario import tone_pcm16

#: Beta session fields and their GA places under ``audio``.
PLACES = {"voice": ("output", "voice"), "input_audio_noise_reduction": ("input", "noise_reduction"),
          "input_audio_transcription": ("input", "transcription"), "turn_detection": ("input", "turn_detection")}

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


class Peer(JsonPeer):
    """A raw client of one dialect; ``ga`` says which."""

    def __init__(self, ws: Any, ga: bool) -> None:
        super().__init__(ws)
        self.ga = ga

    def recv(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.ws.recv(timeout=10))
        return event

    # -- shapes that differ between the dialects ---------------------------------------------------

    def update(self, **fields: Any) -> dict[str, Any]:
        """Send ``session.update`` (see :meth:`send_update`); return the echoed session, in beta names."""
        self.send_update(**fields)
        echoed: dict[str, Any] = self.expect("session.updated")["session"]
        if not self.ga:
            return echoed
        beta = {k: v for k, v in echoed.items() if k != "audio"}
        for key, (direction, name) in PLACES.items():
            config = echoed["audio"].get(direction, {})
            if name in config:
                beta[key] = config[name]
        return beta

    def send_update(self, **fields: Any) -> None:
        """Send ``session.update``; fields in beta names, moved to their GA places for GA."""
        if not self.ga:
            self.send({"type": "session.update", "session": fields})
            return
        session: dict[str, Any] = {"type": "realtime"}
        for key, value in fields.items():
            if key == "modalities":
                session["output_modalities"] = ["text"] if value == ["text"] else ["audio"]
            elif key in PLACES:
                direction, name = PLACES[key]
                session.setdefault("audio", {}).setdefault(direction, {})[name] = value
            else:
                session[key] = value
        self.send({"type": "session.update", "session": session})

    def text_modalities(self) -> dict[str, Any]:
        return {"output_modalities": ["text"]} if self.ga else {"modalities": ["text"]}

    def name(self, beta_name: str) -> str:
        """A server event type in this dialect."""
        if not self.ga:
            return beta_name
        for old, new in (("response.text.", "response.output_text."), ("response.audio.", "response.output_audio."),
                         ("response.audio_transcript.", "response.output_audio_transcript.")):
            if beta_name.startswith(old):
                return new + beta_name[len(old):]
        return "conversation.item.added" if beta_name == "conversation.item.created" else beta_name


@pytest.fixture(params=["beta", "ga"])
def open_peer(request: pytest.FixtureRequest, make_server: Any) -> Iterator[Callable[..., Peer]]:
    ga = request.param == "ga"
    server: LocalServer = make_server(dialect=request.param, voice="tone")
    with contextlib.ExitStack() as stack:

        def open_(model: str = "gpt-realtime-2") -> Peer:
            ws = stack.enter_context(connect(f"{server.url}?model={model}", open_timeout=5, close_timeout=2))
            peer = Peer(ws, ga)
            peer.expect("session.created")
            return peer

        yield open_


def user_text(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    if item_id is not None:
        item["id"] = item_id
    return {"type": "conversation.item.create", "item": item}


def part_text(item: dict[str, Any]) -> str:
    part = item["content"][0]
    return str(part.get("text") if "text" in part else part.get("transcript"))


# -- reasoning models: a commentary preamble, then the answer --------------------------------------


@pytest.mark.parametrize("modality", ["text", "audio"])
def test_reasoning_model_answers_with_a_preamble_then_the_answer(open_peer: Any, modality: str) -> None:
    peer = open_peer("gpt-realtime-2")
    if modality == "text":
        peer.update(modalities=["text"])
    peer.send(user_text("hi there"))
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["phase"]) for e in added] == [(0, "commentary"), (1, "final_answer")]
    ids = [e["item"]["id"] for e in added]
    # each item has its own parts and deltas, in order: the preamble's all come first
    delta = peer.name("response.text.delta" if modality == "text" else "response.audio_transcript.delta")
    deltas = [(e["item_id"], e["output_index"], e["delta"]) for e in events if e["type"] == delta]
    assert "".join(d for i, _, d in deltas if i == ids[0]) == "Let me think."
    assert "".join(d for i, _, d in deltas if i == ids[1]) == "You said: hi there"
    assert [i for i, _, _ in deltas] == sorted((i for i, _, _ in deltas), key=ids.index)
    assert {(i, n) for i, n, _ in deltas} == {(ids[0], 0), (ids[1], 1)}
    parts = [e for e in events if e["type"] == "response.content_part.added"]
    assert [p["item_id"] for p in parts] == ids
    if modality == "audio":
        audio = {e["item_id"] for e in events if e["type"] == peer.name("response.audio.delta")}
        assert audio == set(ids)  # both items are spoken
    # the conversation holds both, each with its phase (GA: conversation.item.added/.done too)
    created = [e["item"] for e in events
               if e["type"] == peer.name("conversation.item.created") and e["item"]["role"] == "assistant"]
    assert [(c["id"], c.get("phase")) for c in created] == [(ids[0], "commentary"), (ids[1], "final_answer")]
    response = events[-1]["response"]
    assert response["status"] == "completed"
    assert [(i["phase"], part_text(i)) for i in response["output"]] == [
        ("commentary", "Let me think."), ("final_answer", "You said: hi there")]
    # a retrieve shows the phase kept on the item
    peer.send({"type": "conversation.item.retrieve", "item_id": ids[0]})
    assert peer.expect("conversation.item.retrieved")["item"]["phase"] == "commentary"


def test_other_models_keep_one_item_without_phase(open_peer: Any) -> None:
    peer = open_peer("gpt-realtime")
    peer.send(user_text("hi"))
    peer.send({"type": "response.create", "response": peer.text_modalities()})
    output = peer.until("response.done")[-1]["response"]["output"]
    assert [("phase" in i, part_text(i)) for i in output] == [(False, "You said: hi")]


def test_reasoning_model_calls_tools_without_a_preamble(open_peer: Any) -> None:
    peer = open_peer("gpt-realtime-2.1")
    peer.update(tools=[TOOL], modalities=["text"])
    peer.send(user_text('get_weather {"city": "Oslo"}'))
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    output = events[-1]["response"]["output"]
    assert [(i["type"], i["name"]) for i in output] == [("function_call", "get_weather")]
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert (done["name"], done["arguments"]) == ("get_weather", '{"city":"Oslo"}')


def test_cancel_during_the_answer_ends_both_items(make_server: Any) -> None:
    server = make_server(dialect="ga", voice="tone", text_delay=0.05)
    with connect(f"{server.url}?model=gpt-realtime-2", open_timeout=5, close_timeout=2) as ws:
        peer = Peer(ws, True)
        peer.expect("session.created")
        peer.update(modalities=["text"])
        peer.send(user_text("one two three four five six seven eight nine ten"))
        peer.send({"type": "response.create"})
        events = peer.until("response.output_text.done")  # the preamble is complete
        while True:
            event = peer.recv()
            events.append(event)
            if event["type"] == "response.output_text.delta":  # the answer has begun
                break
        peer.send({"type": "response.cancel"})
        events += peer.until("response.done")
    response = events[-1]["response"]
    assert response["status"] == "cancelled"
    assert [(i["phase"], i["status"]) for i in response["output"]] == [
        ("commentary", "completed"), ("final_answer", "incomplete")]


# -- the reasoning options, voices, noise reduction and transcription options ---------------------


def test_session_accepts_and_echoes_the_newer_options(open_peer: Any) -> None:
    peer = open_peer("gpt-realtime-2")
    session = peer.update(
        reasoning={"effort": "xhigh"},
        parallel_tool_calls=False,
        voice={"id": "voice_1234"},
        input_audio_noise_reduction={"type": "far_field", "strength": 0.3},
        input_audio_transcription={"model": "gpt-transcribe", "keywords": ["Oslo"], "languages": ["en", "nb"],
                                   "delay": "low"},
    )
    assert session["reasoning"] == {"effort": "xhigh"}
    assert session["parallel_tool_calls"] is False
    assert session["voice"] == {"id": "voice_1234"}
    assert session["input_audio_noise_reduction"] == {"type": "far_field", "strength": 0.3}
    assert session["input_audio_transcription"] == {
        "model": "gpt-transcribe", "keywords": ["Oslo"], "languages": ["en", "nb"], "delay": "low"}
    # a noise reduction update without strength keeps the strength in effect
    session = peer.update(input_audio_noise_reduction={"type": "near_field"})
    assert session["input_audio_noise_reduction"] == {"type": "near_field", "strength": 0.3}
    # a response of a custom voice names it by its id (the response object's voice is a string)
    peer.send(user_text("hi"))
    peer.send({"type": "response.create"})
    response = peer.until("response.done")[-1]["response"]
    voice = response["audio"]["output"]["voice"] if peer.ga else response["voice"]
    assert voice == "voice_1234"


@pytest.mark.parametrize(("fields", "param", "code"), [
    ({"reasoning": {"effort": "extreme"}}, "session.reasoning.effort", "invalid_value"),
    ({"reasoning": "high"}, "session.reasoning", "invalid_type"),
    ({"parallel_tool_calls": "yes"}, "session.parallel_tool_calls", "invalid_type"),
    ({"voice": {"name": "x"}}, "session.voice.name", "unknown_parameter"),
    ({"voice": 7}, "session.voice", "invalid_type"),
    ({"input_audio_noise_reduction": {"type": "near_field", "strength": 2}},
     "session.input_audio_noise_reduction.strength", "decimal_above_max_value"),
    ({"input_audio_transcription": {"model": "gpt-realtime-whisper", "delay": "soon"}},
     "session.input_audio_transcription.delay", "invalid_value"),
    ({"input_audio_transcription": {"model": "gpt-transcribe", "keywords": "Oslo"}},
     "session.input_audio_transcription.keywords", "invalid_type"),
])
def test_bad_newer_options_are_refused(open_peer: Any, fields: dict[str, Any], param: str, code: str) -> None:
    peer = open_peer("gpt-realtime-2")
    if peer.ga:  # the GA error names the GA place of the field
        param = (param.replace("session.voice", "session.audio.output.voice")
                 .replace("session.input_audio_noise_reduction", "session.audio.input.noise_reduction")
                 .replace("session.input_audio_transcription", "session.audio.input.transcription"))
    peer.send_update(**fields)
    error = peer.expect("error")["error"]
    assert (error["code"], error["param"]) == (code, param)
    # the session goes on
    assert peer.update(instructions="still here")["instructions"] == "still here"


def test_response_create_accepts_reasoning_options(open_peer: Any) -> None:
    peer = open_peer("gpt-realtime-2")
    peer.send(user_text("hi"))
    peer.send({"type": "response.create", "response": {
        **peer.text_modalities(), "reasoning": {"effort": "high"}, "parallel_tool_calls": True}})
    events = peer.until("response.done")
    assert not [e for e in events if e["type"] == "error"]
    assert events[-1]["response"]["status"] == "completed"
    peer.send({"type": "response.create", "event_id": "c9", "response": {"reasoning": {"effort": "max"}}})
    error = peer.expect("error")["error"]
    assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "response.reasoning.effort", "c9")


def test_truncation_and_prompt_are_ga_only(open_peer: Any) -> None:
    peer = open_peer("gpt-realtime-2")
    if peer.ga:
        session = peer.update(truncation={"type": "retention_ratio", "retention_ratio": 0.5}, prompt={"id": "pmpt_1"})
        assert session["truncation"] == {"type": "retention_ratio", "retention_ratio": 0.5}
        assert session["prompt"] == {"id": "pmpt_1"}
    else:
        peer.send({"type": "session.update", "session": {"truncation": "auto"}})
        error = peer.expect("error")["error"]
        assert (error["code"], error["param"]) == ("unknown_parameter", "session.truncation")


# -- transcription usage, item references ----------------------------------------------------------


@pytest.mark.parametrize(("model", "kind"), [("gpt-4o-transcribe", "tokens"), ("whisper-1", "duration")])
def test_transcription_completed_carries_usage(open_peer: Any, model: str, kind: str) -> None:
    peer = open_peer("gpt-realtime")
    peer.update(modalities=["text"], turn_detection=None, input_audio_transcription={"model": model})
    peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(tone_pcm16(1.5)).decode()})
    peer.send({"type": "input_audio_buffer.commit"})
    completed = peer.until("conversation.item.input_audio_transcription.completed")[-1]
    assert completed["transcript"] == "[speech 1.5 s]"
    usage = completed["usage"]
    if kind == "duration":
        assert usage == {"type": "duration", "seconds": 1.5}
    else:
        assert usage == {"type": "tokens", "input_tokens": 15, "output_tokens": 4, "total_tokens": 19,
                         "input_token_details": {"text_tokens": 0, "audio_tokens": 15}}


def test_response_input_item_references(open_peer: Any) -> None:
    peer = open_peer("gpt-realtime")
    peer.send(user_text("first words", item_id="item_first"))
    peer.send(user_text("second words", item_id="item_second"))
    peer.until(peer.name("conversation.item.created"))
    peer.until(peer.name("conversation.item.created"))
    peer.send({"type": "response.create", "response": {
        **peer.text_modalities(), "conversation": "none",
        "input": [{"type": "item_reference", "id": "item_first"}]}})
    response = peer.until("response.done")[-1]["response"]
    assert [part_text(i) for i in response["output"]] == ["You said: first words"]
    peer.send({"type": "response.create", "event_id": "c2", "response": {
        "conversation": "none", "input": [{"type": "item_reference", "id": "item_gone"}]}})
    error = peer.expect("error")["error"]
    assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "response.input[0].id", "c2")
