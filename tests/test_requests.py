"""Request handles: every sender returns the event_id it sent, as a handle whose ``wait()`` gives
the server's answer or raises the server's refusal; against the real local server, both dialects."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from rtsync import RealtimeClient
from rtsync.client.requests import Request
from rtsync.errors import ClosedError, ServerError, WaitTimeout
from rtsync.events import Item
from rtsync.server import LocalServer
from tests.helpers import eventually, record

# every test here runs once per wire dialect (GA and beta) against the local server
pytestmark = pytest.mark.usefixtures("each_dialect")


def test_refused_session_update_raises_server_error_within_a_second(client: RealtimeClient) -> None:
    errors = record(client, "error")
    started = time.monotonic()
    req = client.update_session(voice=123)
    with pytest.raises(ServerError) as info:
        req.wait(timeout=5)
    assert time.monotonic() - started < 1.0
    err = info.value
    assert err.event_id == req and err.code and err.param and "voice" in err.param
    eventually(lambda: errors)
    assert errors[0].error.event_id == req  # the error is still delivered to callbacks
    assert req.done() and isinstance(req.error, ServerError)
    # the session goes on, and a good update is answered by its session.updated
    ok = client.update_session(instructions="be brief")
    ev = ok.wait(timeout=5)
    assert ev.type == "session.updated" and ev.session.instructions == "be brief"


def test_handle_is_the_event_id_string(client: RealtimeClient) -> None:
    req = client.update_session(instructions="x")
    assert isinstance(req, str) and isinstance(req, Request)
    plain = str(req)
    assert type(plain) is str and plain == req and req == plain and plain.startswith("evt_")
    assert hash(req) == hash(plain) and {plain: 1}[req] == 1 and {req: 2}[plain] == 2
    assert req.event_id == plain and req.type == "session.update" and req.expects == "session.updated"
    assert req.wait(5).event_id != plain  # the answer is the server's event, with its own id


def test_item_requests_are_answered_by_id(client: RealtimeClient) -> None:
    created = client.create_item("hello")
    assert created.item_id and created.item_id.startswith("item_")
    ev = created.wait(5)
    assert ev.type == "conversation.item.created" and ev.item.id == created.item_id
    got = client.retrieve_item(created.item_id).wait(5)
    assert got.type == "conversation.item.retrieved" and got.item.id == created.item_id
    deleted = client.delete_item(created.item_id).wait(5)
    assert deleted.type == "conversation.item.deleted" and deleted.item_id == created.item_id
    with pytest.raises(ServerError) as info:
        client.truncate_item("item_nope", 100).wait(5)
    assert info.value.code == "item_truncate_invalid_item_id"
    # a given item id is kept, and a reused Item object is never changed
    item = Item.user_text("again")
    a, b = client.create_item(item), client.create_item(item)
    assert a.item_id != b.item_id and item.id is not None and not isinstance(item.id, str)
    assert a.wait(5).item.id == a.item_id and b.wait(5).item.id == b.item_id
    mine = client.create_item(Item.user_text("mine", id="item_mine_1"))
    assert mine.item_id == "item_mine_1" and mine.wait(5).item.id == "item_mine_1"
    with pytest.raises(ServerError) as info:  # the same id again: refused
        client.create_item(Item.user_text("mine", id="item_mine_1")).wait(5)
    assert info.value.param == "item.id"


def test_audio_buffer_requests(client: RealtimeClient) -> None:
    client.update_session(turn_detection=None).wait(5)
    append = client.append_audio(np.zeros(2400, dtype=np.int16))
    assert append.expects is None and append.done() and append.wait() is None  # no answer in the protocol
    committed = client.commit_audio().wait(5)
    assert committed.type == "input_audio_buffer.committed"
    with pytest.raises(ServerError) as info:
        client.commit_audio().wait(5)  # nothing buffered
    assert info.value.code == "input_audio_buffer_commit_empty"
    client.append_audio(np.zeros(2400, dtype=np.int16))
    assert client.clear_audio().wait(5).type == "input_audio_buffer.cleared"


def test_create_response_is_answered_by_its_response_done_even_when_queued(client: RealtimeClient) -> None:
    client.update_session(modalities=["text"])
    client.create_item("one")
    first = client.create_response()
    client.create_item("two")
    second = client.create_response()  # queued behind the first
    done2 = second.wait(10)
    done1 = first.wait(10)
    assert done1.type == done2.type == "response.done"
    assert first.response_id == done1.response.id and second.response_id == done2.response.id
    assert done1.response.id != done2.response.id
    assert done1.response.output[0].text == "You said: one"
    assert done2.response.output[0].text == "You said: two"
    # out of band: answered too, without blocking the default conversation
    oob = client.create_response(conversation="none", input=[Item.user_text("aside").to_dict()])
    assert oob.wait(10).response.output[0].text == "You said: aside"


def test_cancel_is_answered_by_the_cancelled_response(slow_server: LocalServer) -> None:
    with RealtimeClient(url=slow_server.url) as client:
        client.update_session(modalities=["text"])
        client.create_item(" ".join(f"w{i}" for i in range(100)))
        created = client.create_response()
        eventually(lambda: created.response_id is not None)
        cancel = client.cancel_response()
        done = cancel.wait(5)
        assert done.type == "response.done" and done.response.id == created.response_id
        assert done.response.status == "cancelled"
        assert created.wait(5) is done
        with pytest.raises(ServerError) as info:
            client.cancel_response().wait(5)
        assert info.value.code == "response_cancel_not_active"


def test_an_answer_before_wait_is_kept(client: RealtimeClient) -> None:
    seen = record(client, "session.updated")
    req = client.update_session(instructions="early")
    eventually(lambda: seen)
    time.sleep(0.05)
    started = time.monotonic()
    assert req.wait(5) is seen[0]
    assert time.monotonic() - started < 0.05
    raw = client.send({"type": "session.update", "session": {"instructions": "raw"}})
    assert isinstance(raw, Request) and raw.wait(5).session.instructions == "raw"


def test_timeout_close_and_callbacks(slow_server: LocalServer) -> None:
    client = RealtimeClient(url=slow_server.url).connect()
    try:
        client.create_item(" ".join(f"w{i}" for i in range(100)))
        req = client.create_response(modalities=["text"])
        with pytest.raises(WaitTimeout):
            req.wait(0.05)
        inside: list[BaseException] = []

        def in_callback(ev: Any) -> None:
            try:
                req.wait(1)
            except BaseException as exc:
                inside.append(exc)

        client.once("response.text.delta", in_callback)
        eventually(lambda: inside)
        assert isinstance(inside[0], RuntimeError)
        closer = threading.Timer(0.2, client.close)
        closer.start()
        with pytest.raises(ClosedError):
            req.wait(10)
        closer.join()
    finally:
        client.close()
    assert client.state == "closed"


def test_requests_across_a_reconnection() -> None:
    """A drop fails the requests still open with ClosedError; once reconnected, new ones work."""
    with LocalServer(faults=["drop@response.text.delta:2#1"]) as server:
        client = RealtimeClient(url=server.url, reconnect=True)
        reconnected = record(client, "rtsync.reconnected")
        with client:
            client.update_session(modalities=["text"]).wait(5)
            client.create_item("one two three four five")
            req = client.create_response()
            with pytest.raises(ClosedError):
                req.wait(10)
            eventually(lambda: reconnected, timeout=15)
            assert client.update_session(instructions="again").wait(5).session.instructions == "again"
            assert client.create_item("hi").wait(5).type == "conversation.item.created"
            assert client.ask("hello", timeout=20).text == "You said: hello"
