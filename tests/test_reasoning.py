"""Issue 14, client side: reasoning models' knobs on the wire and multi-message replies.

* Every new knob (``update_session(reasoning=..., voice={"id": ...}, ...)``,
  ``create_response(reasoning=..., input=[item_reference])``, ``ask(..., reasoning=...)``)
  reaches the wire in a shape the openai SDK's pydantic models accept with no undeclared key:
  GA types on a GA connection, beta types on a beta one (where GA-only fields are dropped with
  one ``DroppedFieldWarning`` each).
* A response holding a preamble (``phase: "commentary"``) and the answer (``"final_answer"``),
  scripted by a raw peer in GA and in beta, text and audio: ``Reply``, the conversation and
  the CLI's ``chat`` keep the two apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rtsync import RealtimeClient, ReplyMessage
from rtsync.client import DEFAULT_MODEL, DEFAULT_URL, choose_dialect
from rtsync.events.dialect import DroppedFieldWarning, reset_drop_warnings
from tests.helpers import ROOT
from tests.peer import ScriptedPeer
from tests.reasoning_script import (
    ANSWER,
    BETA_SESSION_CREATED,
    GA_SESSION_CREATED,
    PREAMBLE,
    answer_when_asked,
    tone,
    two_message_response,
)

if os.environ.get("CI"):
    import openai.types.beta.realtime as beta_types
    import openai.types.realtime as ga_types
else:
    ga_types = pytest.importorskip("openai.types.realtime")
    beta_types = pytest.importorskip("openai.types.beta.realtime")

from pydantic import BaseModel, TypeAdapter

GA_CLIENT = TypeAdapter(ga_types.RealtimeClientEvent)
GA_SERVER = TypeAdapter(ga_types.RealtimeServerEvent)
BETA_CLIENT = TypeAdapter(beta_types.RealtimeClientEvent)
BETA_SERVER = TypeAdapter(beta_types.RealtimeServerEvent)

#: The clients here keep their real default model (tests/conftest.py).
USES_DEFAULT_MODEL = True
DIALECTS = ("ga", "beta")


def extras(value: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of every key an SDK model did not declare (the SDK models accept any)."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}".lstrip(".")
        for name in type(value).model_fields:
            yield from extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, x in enumerate(value):
            yield from extras(x, f"{path}[{i}]")


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def peer(dialect: str) -> Iterator[ScriptedPeer]:
    p = ScriptedPeer(first=GA_SESSION_CREATED if dialect == "ga" else BETA_SESSION_CREATED).start()
    yield p
    p.stop()


def sent(peer: ScriptedPeer, kind: str, n: int = 1) -> list[dict[str, Any]]:
    """The first ``n`` frames of type ``kind`` the client sent (waiting for them)."""
    for _ in range(50):
        found = [f for f in peer.wait_received(len(peer.received) + 1, timeout=0.1)
                 if isinstance(f, dict) and f.get("type") == kind]
        if len(found) >= n:
            return found
    raise AssertionError(f"the client sent fewer than {n} {kind}")


def test_the_default_model_is_the_newest_and_speaks_ga() -> None:
    assert DEFAULT_MODEL == "gpt-realtime-2.1"
    client = RealtimeClient(api_key="sk-test")
    assert client.model == DEFAULT_MODEL and client.dialect == "ga"
    assert "model=gpt-realtime-2.1" in client.url
    assert choose_dialect(DEFAULT_MODEL, DEFAULT_URL) == "ga"


# -- the knobs on the wire -----------------------------------------------------------------------

KNOBS: dict[str, Any] = {
    "reasoning": {"effort": "high"},
    "parallel_tool_calls": True,
    "voice": {"id": "voice_1234"},
    "input_audio_noise_reduction": {"type": "near_field", "strength": 0.6},
    "input_audio_transcription": {"model": "gpt-transcribe", "language": "en", "prompt": "names",
                                  "delay": "low", "keywords": ["rtsync"], "languages": ["en", "fr"]},
    "turn_detection": {"type": "server_vad", "threshold": 0.5, "idle_timeout_ms": 6000},
    "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
    "prompt": {"id": "pmpt_1", "version": "2"},
    "tracing": {"workflow_name": "support"},
}
#: What a beta connection cannot carry (left out, one warning each).
BETA_DROPS = {"reasoning", "parallel_tool_calls", "voice (a custom voice object)",
              "input_audio_noise_reduction.strength", "input_audio_transcription.delay",
              "input_audio_transcription.keywords", "input_audio_transcription.languages",
              "turn_detection.idle_timeout_ms", "truncation", "prompt"}


def _dropped(caught: list[warnings.WarningMessage]) -> set[str]:
    return {str(w.message).split("'")[1] for w in caught if issubclass(w.category, DroppedFieldWarning)}


def test_session_knobs_reach_the_wire_in_sdk_shapes(dialect: str, peer: ScriptedPeer) -> None:
    reset_drop_warnings()
    with RealtimeClient(url=peer.url, dialect=dialect) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.update_session(instructions="Be brief.", **KNOBS)
        client.update_session(voice="marin", input_audio_noise_reduction={"type": "far_field"})
        first, second = sent(peer, "session.update", 2)[:2]
    if dialect == "ga":
        model = GA_CLIENT.validate_python(first)
        assert list(extras(model)) == []
        s = first["session"]
        assert s["type"] == "realtime" and s["instructions"] == "Be brief."
        assert s["reasoning"] == {"effort": "high"} and s["parallel_tool_calls"] is True
        assert s["audio"]["output"]["voice"] == {"id": "voice_1234"}
        assert s["audio"]["input"]["noise_reduction"] == {"type": "near_field", "strength": 0.6}
        assert s["audio"]["input"]["transcription"] == KNOBS["input_audio_transcription"]
        assert s["audio"]["input"]["turn_detection"]["idle_timeout_ms"] == 6000
        assert s["truncation"] == KNOBS["truncation"] and s["prompt"] == KNOBS["prompt"]
        assert s["tracing"] == {"workflow_name": "support"}
        assert _dropped(caught) == set()
        assert list(extras(GA_CLIENT.validate_python(second))) == []
        assert second["session"]["audio"]["output"]["voice"] == "marin"
    else:
        model = BETA_CLIENT.validate_python(first)
        assert list(extras(model)) == []
        s = first["session"]
        assert set(s) == {"instructions", "input_audio_noise_reduction", "input_audio_transcription",
                          "turn_detection", "tracing"}
        assert s["input_audio_noise_reduction"] == {"type": "near_field"}
        assert s["input_audio_transcription"] == {"model": "gpt-transcribe", "language": "en", "prompt": "names"}
        assert s["turn_detection"] == {"type": "server_vad", "threshold": 0.5}
        assert _dropped(caught) == BETA_DROPS
        assert list(extras(BETA_CLIENT.validate_python(second))) == []
        assert second["session"] == {"voice": "marin", "input_audio_noise_reduction": {"type": "far_field"}}


@pytest.fixture
def beta_peer() -> Iterator[ScriptedPeer]:
    p = ScriptedPeer(first=BETA_SESSION_CREATED).start()
    yield p
    p.stop()


@pytest.fixture
def ga_peer() -> Iterator[ScriptedPeer]:
    p = ScriptedPeer(first=GA_SESSION_CREATED).start()
    yield p
    p.stop()


def test_drops_warn_once_per_field(beta_peer: ScriptedPeer) -> None:
    """Only a beta connection drops the new knobs; each name warns once."""
    peer = beta_peer
    reset_drop_warnings()
    with RealtimeClient(url=peer.url, dialect="beta") as client:
        with pytest.warns(DroppedFieldWarning, match="'reasoning' has no equivalent in the beta"):
            client.update_session(reasoning={"effort": "low"})
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a second drop of the same field is silent
            client.update_session(reasoning={"effort": "high"})
        assert [f["session"] for f in sent(peer, "session.update", 2)] == [{}, {}]


def test_response_knobs_reach_the_wire_in_sdk_shapes(dialect: str, peer: ScriptedPeer) -> None:
    reset_drop_warnings()
    with RealtimeClient(url=peer.url, dialect=dialect) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.create_response(reasoning={"effort": "low"}, parallel_tool_calls=False, conversation="none",
                               modalities=["text"], input=[{"type": "item_reference", "id": "item_1"}])
        client.create_response(reasoning={"effort": "minimal"}, voice={"id": "voice_9"}, modalities=["text"],
                               conversation="none")
        with_reference, plain = sent(peer, "response.create", 2)[:2]
    if dialect == "ga":
        from openai.types.realtime.response_create_event_with_references_param import (
            ResponseCreateEventWithReferencesParam,
        )

        TypeAdapter(ResponseCreateEventWithReferencesParam).validate_python(with_reference)
        r = with_reference["response"]
        assert r["reasoning"] == {"effort": "low"} and r["parallel_tool_calls"] is False
        assert r["input"] == [{"type": "item_reference", "id": "item_1"}] and r["output_modalities"] == ["text"]
        assert list(extras(GA_CLIENT.validate_python(plain))) == []
        assert plain["response"]["reasoning"] == {"effort": "minimal"}
        assert plain["response"]["audio"] == {"output": {"voice": {"id": "voice_9"}}}
        assert _dropped(caught) == set()
    else:
        for frame in (with_reference, plain):
            assert list(extras(BETA_CLIENT.validate_python(frame))) == []
        assert with_reference["response"] == {"modalities": ["text"], "conversation": "none",
                                              "input": [{"type": "item_reference", "id": "item_1"}]}
        assert plain["response"] == {"modalities": ["text"], "conversation": "none"}
        assert _dropped(caught) == {"reasoning", "parallel_tool_calls", "voice (a custom voice object)"}


# -- a preamble and an answer in one response ------------------------------------------------------

def ask_scripted(client: RealtimeClient, peer: ScriptedPeer, dialect: str, audio: bool,
                 samples: tuple[np.ndarray, ...] = (), **options: Any) -> Any:
    """``client.ask`` answered by the scripted two-message response; returns (reply, the
    ``response.create`` sent)."""
    got: dict[str, Any] = {}
    skip = len(peer.received)

    def answer() -> None:
        got["create"] = answer_when_asked(
            peer, lambda ev: two_message_response("resp_1", audio=audio, dialect=dialect, samples=samples),
            skip=skip)

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    if audio:
        options.setdefault("modalities", ["text", "audio"])
    reply = client.ask("What is the weather in Paris?", timeout=10, **options)
    t.join(5)
    return reply, got["create"]


@pytest.mark.parametrize("audio", [False, True], ids=["text", "audio"])
def test_reply_keeps_the_preamble_apart_from_the_answer(dialect: str, peer: ScriptedPeer, audio: bool) -> None:
    pre, ans = tone(0.2, 440.0), tone(0.5, 660.0)
    with RealtimeClient(url=peer.url, dialect=dialect) as client:
        reply, create = ask_scripted(client, peer, dialect, audio, samples=(pre, ans), reasoning={"effort": "high"})
        entries = {e.id: e for e in client.conversation.items}
        lines = client.conversation.transcript()
    if dialect == "ga":
        assert create["response"]["reasoning"] == {"effort": "high"}  # ask(..., reasoning=...)
    else:
        assert "reasoning" not in create["response"]
    ids = ["item_resp_1_0", "item_resp_1_1"]
    assert [m.item_id for m in reply.messages] == ids == reply.item_ids
    assert [m.phase for m in reply.messages] == ["commentary", "final_answer"]
    assert all(isinstance(m, ReplyMessage) for m in reply.messages)
    assert reply.messages[0].is_preamble and not reply.messages[1].is_preamble
    assert reply.preamble == PREAMBLE
    assert str(reply) == ANSWER
    if audio:
        assert reply.transcript == ANSWER and reply.text == ""
        assert [m.transcript for m in reply.messages] == [PREAMBLE, ANSWER]
        assert np.array_equal(reply.messages[0].audio, pre) and np.array_equal(reply.messages[1].audio, ans)
        assert np.array_equal(reply.audio, np.concatenate([pre, ans]))  # everything spoken, in order
    else:
        assert reply.text == ANSWER and reply.transcript == ""
        assert [m.text for m in reply.messages] == [PREAMBLE, ANSWER]
        assert reply.audio is None and all(m.audio is None for m in reply.messages)
    # the conversation keeps each item's phase
    assert [entries[i].phase for i in ids] == ["commentary", "final_answer"]
    body = "transcript" if audio else "text"
    assert [getattr(entries[i], body) for i in ids] == [PREAMBLE, ANSWER]
    if audio:
        assert np.array_equal(entries[ids[1]].audio, ans)
    assert lines[-2:] == [f"assistant (preamble): {PREAMBLE}", f"assistant: {ANSWER}"]


def test_a_reply_without_phases_is_all_answer(dialect: str, peer: ScriptedPeer) -> None:
    """Models without reasoning send no ``phase``: everything is the answer, as before."""
    with RealtimeClient(url=peer.url, dialect=dialect) as client:
        skip = len(peer.received)
        t = threading.Thread(target=answer_when_asked, daemon=True, kwargs={
            "peer": peer, "skip": skip, "frames_for": lambda ev: [
                f for f in two_message_response("resp_2", audio=False, dialect=dialect,
                                                messages=(("x", "One."), ("x", " Two.")))]})
        t.start()
        reply = client.ask("hi", timeout=10)
        t.join(5)
    # phase "x" is not commentary: both messages are the answer
    assert reply.text == "One. Two." and reply.preamble == ""
    assert [m.text for m in reply.messages] == ["One.", " Two."]


def test_the_scripted_ga_frames_are_what_the_sdk_accepts() -> None:
    """The scripted peer's GA response is a real GA one: every frame validates against the
    SDK's server event types; the only undeclared key is the items' ``phase`` (GA.md section 8:
    on the wire, not in the SDK's types)."""
    for audio in (False, True):
        frames = two_message_response("resp_9", audio=audio, dialect="ga")
        kinds = {f["type"] for f in frames}
        assert ("response.output_audio.delta" in kinds) == audio and "conversation.item.added" in kinds
        for frame in frames:
            left = [p for p in extras(GA_SERVER.validate_python(frame)) if not p.endswith("phase")]
            assert left == [], (frame["type"], left)
    for frame in two_message_response("resp_9", audio=True, dialect="beta"):
        if frame["type"] == "conversation.item.created":
            continue  # the beta type requires previous_item_id to be a string; ours starts with null
        left = [p for p in extras(BETA_SERVER.validate_python(frame)) if not p.endswith("phase")]
        assert left == [], (frame["type"], left)


def test_chat_prints_the_preamble_apart(ga_peer: ScriptedPeer) -> None:
    """``python -m rtsync chat`` (GA, the default model) against a scripted reasoning reply."""
    peer = ga_peer
    done = threading.Event()

    def answer() -> None:
        answer_when_asked(peer, lambda ev: two_message_response("resp_c", audio=False, dialect="ga"), timeout=30)
        done.set()

    threading.Thread(target=answer, daemon=True).start()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPENAI_API_KEY", None)
    out = subprocess.run([sys.executable, "-m", "rtsync", "chat", "--url", peer.url],
                         input="What is the weather?\n/quit\n", capture_output=True, text=True, timeout=60,
                         env=env, cwd=ROOT)
    assert done.is_set(), out.stderr
    assert f"you> assistant (preamble)> {PREAMBLE}\nassistant> {ANSWER}\n" in out.stdout, out.stdout
