"""What the client keeps for the user: function tools, the response state machine and
``client.conversation`` — all against the real local server."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest

from rtsync import RealtimeClient
from rtsync.server import LocalServer
from tests.helpers import eventually, record

# every test here runs once per wire dialect (GA and beta) against the local server
pytestmark = pytest.mark.usefixtures("each_dialect")


def _wait_follow_up(client: RealtimeClient, done: list[Any], count: int, timeout: float = 20) -> None:
    """Wait until ``count`` response.done events were delivered."""
    if len(done) < count:
        client.wait_for("response.done", lambda e: len(done) >= count, timeout=timeout)
    assert len(done) >= count


# -- tools -----------------------------------------------------------------------------------------
def test_tool_round_trip_one_follow_up(local_server: LocalServer) -> None:
    threads: list[str] = []
    client = RealtimeClient(url=local_server.url)
    updated = record(client, "session.updated")
    with client:
        client.update_session(modalities=["text"])

        @client.tool
        def get_weather(city: str, unit: str = "C") -> dict[str, Any]:
            """Current weather for a city.

            Args:
                city: the city name.
                unit: C or F.
            """
            threads.append(threading.current_thread().name)
            return {"city": city, "temp": 21, "unit": unit}

        eventually(lambda: any(t.name == "get_weather" for u in updated for t in u.session.tools or []))
        schema = client.session.tools[0].parameters
        assert schema["required"] == ["city"] and schema["properties"]["city"]["type"] == "string"
        done = record(client, "response.done")
        reply = client.ask('get_weather {"city": "Paris"}', timeout=20)
        assert [c.name for c in reply.function_calls] == ["get_weather"]
        _wait_follow_up(client, done, 2)
        follow = done[1].response
        text = "".join(p.text or "" for it in follow.output for p in (it.content or []))
        assert text == 'Tool get_weather returned: {"city": "Paris", "temp": 21, "unit": "C"}'
        assert threads and all(n.startswith("rtsync-tool-") for n in threads)
        # one more plain turn: an extra follow-up would show up as an extra assistant item before it
        client.ask("hello", timeout=20)
        kinds = [(e.type, e.role) for e in client.conversation.items]
        assert kinds == [("message", "user"), ("function_call", None), ("function_call_output", None),
                         ("message", "assistant"), ("message", "user"), ("message", "assistant")]
        assert len(done) == 3
        assert client.tools.names() == ["get_weather"]


def test_parallel_calls_and_a_tool_that_raises(local_server: LocalServer) -> None:
    barrier = threading.Barrier(2, timeout=10)
    client = RealtimeClient(url=local_server.url)
    updated = record(client, "session.updated")
    with client:
        client.update_session(modalities=["text"])
        def get_time(city: str) -> str:
            """The local time in a city."""
            barrier.wait()  # both calls run at the same time, on two workers
            return f"12:00 in {city}"

        def get_weather(city: str) -> str:
            """Weather."""
            barrier.wait()
            raise RuntimeError(f"no weather for {city}")

        client.add_tool(get_time)
        client.add_tool(get_weather, description="Weather for a city.")
        eventually(lambda: any(len(u.session.tools or []) == 2 for u in updated))
        assert client.session.tools[1].description == "Weather for a city."
        done = record(client, "response.done")
        outputs = record(client, "conversation.item.created")
        reply = client.ask('get_time and get_weather {"city": "Oslo"}', timeout=20)
        assert sorted(c.name for c in reply.function_calls) == ["get_time", "get_weather"]
        _wait_follow_up(client, done, 2)
        outs = {e.item.call_id: e.item.output for e in outputs if e.item.type == "function_call_output"}
        by_name = {c.name: outs[c.call_id] for c in reply.function_calls}
        assert by_name["get_time"] == "12:00 in Oslo"
        assert json.loads(by_name["get_weather"]) == {"error": "RuntimeError: no weather for Oslo"}
        lines = "".join(p.text or "" for it in done[1].response.output for p in (it.content or [])).splitlines()
        assert sorted(lines) == ['Tool get_time returned: 12:00 in Oslo',
                                 'Tool get_weather returned: {"error": "RuntimeError: no weather for Oslo"}']
        client.ask("hello", timeout=20)
        assert len(done) == 3  # exactly one follow-up for the two calls


def test_unregistered_calls_are_left_to_the_application(local_server: LocalServer) -> None:
    client = RealtimeClient(url=local_server.url)
    client.add_tool(lambda: "x", name="mine")  # before connect: sent on connect
    updated = record(client, "session.updated")
    with client:
        eventually(lambda: len(updated) == 1)
        assert [t.name for t in updated[0].session.tools] == ["mine"]
        client.update_session(tools=[{"type": "function", "name": "theirs", "parameters": {"type": "object"}}])
        eventually(lambda: len(updated) == 2)
        assert [t.name for t in updated[1].session.tools] == ["theirs", "mine"]
        reply = client.ask("theirs", timeout=20)
        assert [c.name for c in reply.function_calls] == ["theirs"]
        client.ask("hello", timeout=20)  # no follow-up was made for "theirs"
        types = [e.type for e in client.conversation.items]
        assert "function_call_output" not in types
        assert client.remove_tool("mine") and not client.remove_tool("mine")
        eventually(lambda: len(updated) == 3)
        assert updated[2].session.tools == []


# -- response state machine ----------------------------------------------------------------------
def test_create_response_queues_instead_of_colliding(slow_server: LocalServer) -> None:
    with RealtimeClient(url=slow_server.url) as client:
        errors = record(client, "error")
        done = record(client, "response.done")
        created = record(client, "response.created")
        client.create_item("one two three four")
        assert not client.response_active
        client.create_response(modalities=["text"])
        assert client.response_active
        client.create_response(modalities=["text"])
        client.create_response(modalities=["text"])
        assert client.queued_responses == 2
        _wait_follow_up(client, done, 3, timeout=30)
        assert errors == []
        assert [d.response.status for d in done] == ["completed"] * 3
        # each response started after the previous one ended
        assert [c.response.id for c in created] == [d.response.id for d in done]
        assert not client.response_active and client.active_response_id is None
        assert client.queued_responses == 0


def test_ask_while_a_response_runs(slow_server: LocalServer) -> None:
    with RealtimeClient(url=slow_server.url) as client:
        errors = record(client, "error")
        created = record(client, "response.created")
        client.create_item("a long answer with many words in it")
        client.create_response(modalities=["text"])
        eventually(lambda: len(created) == 1)
        reply = client.ask("hello", timeout=30)
        assert reply.text == "You said: hello"
        assert errors == []


def test_benign_errors_keep_the_session(local_server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    with RealtimeClient(url=local_server.url) as client:
        errors = record(client, "error")
        client.cancel_response()
        eventually(lambda: len(errors) == 1)
        err = errors[0]
        assert err.error.code == "response_cancel_not_active"
        assert client.is_open and client.ask("hello", timeout=20).text == "You said: hello"
        assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR") and "rtsync" in r.name]


def test_out_of_band_response_does_not_wait(slow_server: LocalServer) -> None:
    with RealtimeClient(url=slow_server.url) as client:
        created = record(client, "response.created")
        done = record(client, "response.done")
        client.create_item("many words to keep the first response busy for a while")
        client.create_response(modalities=["text"])
        eventually(lambda: len(created) == 1)
        client.create_response(conversation="none", modalities=["text"],
                               input=[{"type": "message", "role": "user",
                                       "content": [{"type": "input_text", "text": "side"}]}])
        assert client.queued_responses == 0
        eventually(lambda: len(done) == 2, timeout=20)
        # the out-of-band response finished first: it did not wait for the busy one
        assert done[0].response.conversation_id is None and done[0].response.status == "completed"
        assert done[1].response.id == created[0].response.id


# -- conversation --------------------------------------------------------------------------------
def _server_item(client: RealtimeClient, got: list[Any], item_id: str) -> Any:
    client.retrieve_item(item_id)
    eventually(lambda: any(e.item.id == item_id for e in got))
    return next(e.item for e in got if e.item.id == item_id)


def test_conversation_matches_server_after_text_audio_truncate_delete(local_server: LocalServer) -> None:
    client = RealtimeClient(url=local_server.url)
    seen: dict[str, list[Any]] = {}
    for kind in ("session.updated", "input_audio_buffer.committed", "response.done", "conversation.item.truncated",
                 "conversation.item.deleted", "conversation.item.retrieved"):
        seen[kind] = record(client, kind)
    with client:
        conv = client.conversation
        client.update_session(turn_detection=None)
        eventually(lambda: len(seen["session.updated"]) == 1)
        r1 = client.ask("hello", timeout=20)
        assert [e.text for e in conv.items] == ["hello", r1.text]
        # an audio turn: one second of a tone, committed by hand, answered with audio
        t = np.arange(24000) / 24000
        client.append_audio((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16))
        client.commit_audio()
        client.create_response(modalities=["audio", "text"])
        eventually(lambda: len(seen["response.done"]) == 2, timeout=30)
        committed = seen["input_audio_buffer.committed"][0]
        assistant = seen["response.done"][1].response.output[0].id
        entry = conv.get(assistant)
        assert entry is not None and entry.audio is not None and entry.audio_ms > 500
        assert entry.transcript.startswith("I heard 1.0 seconds")
        assert [e.id for e in conv.items][2:] == [committed.item_id, assistant]
        # truncate at 300 ms: local audio is cut there, the server agrees
        client.truncate_item(assistant, 300)
        eventually(lambda: len(seen["conversation.item.truncated"]) == 1)
        entry = conv.get(assistant)
        assert entry.truncated_at_ms == 300 and len(entry.audio) == 300 * 24
        assert entry.heard_transcript is not None and len(entry.heard_transcript) < len(entry.transcript)
        # delete the first reply
        client.delete_item(r1.item_ids[0])
        eventually(lambda: len(seen["conversation.item.deleted"]) == 1)
        assert r1.item_ids[0] not in conv and len(conv) == 3
        for e in conv.items:
            got = _server_item(client, seen["conversation.item.retrieved"], e.id)
            assert (got.role, got.type) == (e.role, e.type)
            if e.id == assistant:
                assert got.content[0].transcript == e.heard_transcript
        assert conv.total_tokens == sum(u.total_tokens for u in conv.usage_by_response.values()) > 0


def test_conversation_audio_bound(local_server: LocalServer) -> None:
    with RealtimeClient(url=local_server.url, max_audio_items=1) as client:
        for _ in range(2):
            client.ask("hello", modalities=["audio", "text"], timeout=30)
        audio = [e for e in client.conversation.items if e.role == "assistant"]
        assert audio[0].audio is None and audio[0].audio_dropped
        assert audio[1].audio is not None and not audio[1].audio_dropped
