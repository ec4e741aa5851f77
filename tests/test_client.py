"""RealtimeClient against the real local server (and a scripted peer for bad frames), over loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

import rtsync
from rtsync import RealtimeClient
from rtsync.errors import (
    AuthenticationError,
    ClosedError,
    ModelNotFoundError,
    NetworkError,
    ServerError,
    TLSError,
    WaitTimeout,
)
from rtsync.events import (
    ConversationItemCreate,
    Item,
    ResponseTextDelta,
    UnknownEvent,
)

# every test here runs once per wire dialect (GA and beta) against the local server
pytestmark = pytest.mark.usefixtures("each_dialect")


def collect(client, key="*"):
    got: list = []
    lock = threading.Lock()

    def fn(ev):
        with lock:
            got.append(ev)

    client.on(key, fn)
    return got


# -- handshake and lifecycle ---------------------------------------------------------------------

def test_connect_waits_for_session_created_and_sends_headers(peer):
    c = RealtimeClient(url=peer.url + "?foo=bar", api_key="sk-test-abcdefghijklmnop", model="m1", dialect="beta")
    seen = collect(c)
    c.connect()
    try:
        assert c.is_open
        assert c.session is not None and c.session.id == "sess_peer"
        assert peer.headers["Authorization"] == "Bearer sk-test-abcdefghijklmnop"
        assert peer.headers["OpenAI-Beta"] == "realtime=v1"
        assert "foo=bar" in peer.path and "model=m1" in peer.path
    finally:
        c.close()
    assert next(e.type for e in seen) == "session.created"
    assert seen[-1].type == "rtsync.close"
    assert "sk-test" not in repr(c)


def test_model_query_merge():
    from rtsync.transport import build_url

    url = build_url("wss://h/v1/realtime?api-version=1&model=old", "new")
    assert url == "wss://h/v1/realtime?api-version=1&model=new"
    with pytest.raises(ValueError):
        build_url("https://h/v1/realtime", "m")


def test_wrong_key_raises_authentication_error_without_leaking_key(caplog):
    from rtsync.server import LocalServer

    caplog.set_level(logging.DEBUG)
    with LocalServer(api_key="sk-right-key-123456789") as server:
        with pytest.raises(AuthenticationError) as info:
            RealtimeClient(url=server.url, api_key="sk-wrong-key-987654321").connect()
        assert "401" in str(info.value)
        assert "sk-wrong-key-987654321" not in str(info.value)
        # the right key works
        with RealtimeClient(url=server.url, api_key="sk-right-key-123456789") as c:
            assert c.is_open
    assert "sk-wrong-key-987654321" not in caplog.text
    assert "sk-right-key-123456789" not in caplog.text


def test_unknown_model_raises(local_server):
    with pytest.raises(ModelNotFoundError):
        RealtimeClient(url=local_server.url, model="no-such-model").connect()


def test_refused_connection_raises_network_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(NetworkError):
        RealtimeClient(url=f"ws://127.0.0.1:{port}/v1/realtime", connect_timeout=3).connect()


def test_tls_failure_raises_tls_error(local_server):
    url = local_server.url.replace("ws://", "wss://")
    with pytest.raises(TLSError):
        RealtimeClient(url=url, connect_timeout=3).connect()


def test_cannot_connect_twice(client):
    with pytest.raises(RuntimeError, match="create a new RealtimeClient"):
        client.connect()


# -- a text turn ---------------------------------------------------------------------------------

def test_text_turn_with_callbacks_and_ask(client):
    deltas: list[str] = []
    client.on(ResponseTextDelta, lambda ev: deltas.append(ev.delta))
    reply = client.ask("hello there")
    assert reply.text == "You said: hello there"
    assert "".join(deltas) == reply.text
    assert reply.status == "completed"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    assert reply.response is not None and reply.response.output[0].text == reply.text
    assert reply.function_calls == []


def test_typed_senders_and_wait_for(client):
    eid = client.create_item("first")
    created = client.wait_for("conversation.item.created", timeout=5)
    assert created.item.content[0].text == "first"
    assert isinstance(eid, str) and eid.startswith("evt_")
    client.update_session(instructions="be brief", voice="alloy")
    upd = client.wait_for("session.updated", timeout=5)
    assert upd.session.instructions == "be brief"
    assert client.session.instructions == "be brief"
    client.create_response(modalities=["text"])
    done = client.wait_for("response.done", timeout=5)
    assert done.response.status == "completed"
    assert done.response.output[0].text == "You said: first"


def test_wait_for_timeout(client):
    with pytest.raises(WaitTimeout):
        client.wait_for("response.done", timeout=0.1)


def test_ask_raises_on_its_own_error(slow_server):
    with RealtimeClient(url=slow_server.url) as c:
        c.create_item("keep busy")
        c.create_response()
        c.wait_for("response.created", timeout=5)
        with pytest.raises(ServerError) as info:
            c.ask("out of range", max_response_output_tokens=0, timeout=10)
        assert "max" in (info.value.param or "") and info.value.event_id
        assert c.ask("hello", timeout=10).text == "You said: hello"  # the queue goes on after the error


# -- cancel, truncate, delete --------------------------------------------------------------------

def test_cancel_mid_stream(slow_server):
    with RealtimeClient(url=slow_server.url) as c:
        c.create_item("one two three four five six seven eight nine ten")
        c.create_response(modalities=["text"])
        c.wait_for(ResponseTextDelta, timeout=5)
        c.cancel_response()
        done = c.wait_for("response.done", timeout=5)
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"
        # nothing left to cancel: the real error, and the session goes on
        eid = c.cancel_response()
        err = c.wait_for("error", timeout=5)
        assert err.error.code == "response_cancel_not_active"
        assert err.error.event_id == eid
        assert c.ask("still alive").text == "You said: still alive"


def test_truncate_and_delete_errors(client):
    client.truncate_item("item_nope", 100)
    err = client.wait_for("error", timeout=5)
    assert err.error.code == "item_truncate_invalid_item_id"
    client.delete_item("item_nope")
    err = client.wait_for("error", timeout=5)
    assert err.error.code == "item_delete_invalid_item_id"
    reply = client.ask("hi")
    client.delete_item(reply.item_ids[0])
    deleted = client.wait_for("conversation.item.deleted", timeout=5)
    assert deleted.item_id == reply.item_ids[0]


# -- threads -------------------------------------------------------------------------------------

def test_four_threads_sending_at_once(client):
    created = collect(client, "conversation.item.created")
    errors: list = []
    n = 50

    def worker(k: int) -> None:
        try:
            for i in range(n):
                client.create_item(f"t{k}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    deadline = time.monotonic() + 10
    while len(created) < 4 * n and time.monotonic() < deadline:
        time.sleep(0.02)
    texts = sorted(ev.item.content[0].text for ev in created)
    assert texts == sorted(f"t{k}-{i}" for k in range(4) for i in range(n))
    # each thread's own items arrive in the order it sent them
    for k in range(4):
        mine = [ev.item.content[0].text for ev in created if ev.item.content[0].text.startswith(f"t{k}-")]
        assert mine == [f"t{k}-{i}" for i in range(n)]


def test_close_inside_callback_and_twice(local_server):
    c = RealtimeClient(url=local_server.url).connect()
    closed = threading.Event()
    after: list = []

    def on_delta(ev):
        c.close()  # returns at once on the dispatcher thread
        after.append(c.state)

    c.once(ResponseTextDelta, on_delta)
    c.on("rtsync.close", lambda ev: closed.set())
    c.create_item("close me")
    c.create_response(modalities=["text"])
    assert closed.wait(5)
    c.close()
    c.close()
    assert c.state == "closed"
    assert after and after[0] in ("closing", "closed")
    with pytest.raises(ClosedError):
        c.create_item("too late")


def test_no_thread_left_after_close(local_server):
    c = RealtimeClient(url=local_server.url).connect()
    names = {t.name for t in threading.enumerate()}
    assert {"rtsync-reader", "rtsync-dispatch"} <= names
    c.close()
    mine = [t for t in threading.enumerate() if t.name in ("rtsync-reader", "rtsync-dispatch")]
    assert mine == []


def test_raising_callback_does_not_stop_delivery(client, caplog):
    caplog.set_level(logging.ERROR, logger="rtsync")
    seen: list[str] = []
    errors: list = []

    def bad(ev):
        raise RuntimeError("boom")

    client.on(ResponseTextDelta, bad)
    client.on(ResponseTextDelta, lambda ev: seen.append(ev.delta))
    client.on("rtsync.callback_error", errors.append)
    reply = client.ask("a b c")
    assert "".join(seen) == reply.text == "You said: a b c"
    assert len(errors) == len(seen)
    assert isinstance(errors[0].exception, RuntimeError) and errors[0].callback is bad
    assert errors[0].event.type == "response.text.delta"
    assert "boom" in caplog.text


def test_wait_for_and_ask_raise_when_connection_ends(peer):
    c = RealtimeClient(url=peer.url).connect()
    try:
        result: dict = {}

        def waiter():
            try:
                c.ask("anyone?")
            except Exception as exc:
                result["exc"] = exc

        t = threading.Thread(target=waiter)
        t.start()
        peer.wait_received(2)
        peer.close(1001, "going away")
        t.join(5)
        assert isinstance(result.get("exc"), ClosedError)
        assert result["exc"].code == 1001
        with pytest.raises(ClosedError):
            c.wait_for("response.done", timeout=5)
    finally:
        c.close()


def test_callbacks_run_in_order_on_dispatcher_thread(client):
    order: list = []
    client.on("*", lambda ev: order.append((ev.type, threading.current_thread().name)))
    client.ask("x y")
    types = [t for t, _ in order]
    assert types.index("response.created") < types.index("response.text.delta") < types.index("response.done")
    assert {n for _, n in order} == {"rtsync-dispatch"}


def test_decorator_once_off(client):
    hits: list = []

    @client.on("conversation.item.created")
    def every(ev):
        hits.append("on")

    client.once("conversation.item.created", lambda ev: hits.append("once"))
    client.create_item("1")
    client.wait_for("conversation.item.created", timeout=5)
    assert client.off("conversation.item.created", every) == 1
    client.create_item("2")
    client.wait_for("conversation.item.created", timeout=5)
    assert hits == ["on", "once"]


def test_calling_blocking_helpers_from_a_callback_is_refused(client):
    errors: list = []

    def cb(ev):
        try:
            client.wait_for("response.done", timeout=1)
        except RuntimeError as exc:
            errors.append(exc)

    client.once("conversation.item.created", cb)
    client.create_item("z")
    client.wait_for("conversation.item.created", timeout=5)
    assert errors and "callback" in str(errors[0])


# -- bad input from the server -------------------------------------------------------------------

def test_unknown_event_reaches_star_handler(peer):
    c = RealtimeClient(url=peer.url)
    every = collect(c)
    typed = collect(c, "brand.new_event")
    unknown = collect(c, UnknownEvent)
    with c:
        peer.send({"type": "brand.new_event", "event_id": "event_x", "payload": [1, 2]})
        peer.send({"type": "response.text.delta", "event_id": "e2", "delta": "ok"})
        ev = c.wait_for("response.text.delta", timeout=5)
        assert ev.delta == "ok"
    kinds = [e.type for e in every]
    assert kinds[:3] == ["session.created", "brand.new_event", "response.text.delta"]
    assert isinstance(every[1], UnknownEvent) and every[1].raw["payload"] == [1, 2]
    assert typed == [every[1]] and unknown == [every[1]]


def test_invalid_frames_do_not_kill_the_reader(peer, caplog):
    with RealtimeClient(url=peer.url) as c:
        bad = collect(c, "rtsync.protocol_error")
        peer.send("{not json")
        peer.send(b"\x00\x01binary")
        peer.send('{"no_type": 1}')
        peer.send('"just a string"')
        peer.send({"type": "response.text.delta", "event_id": "e3", "delta": "after"})
        ev = c.wait_for(ResponseTextDelta, timeout=5)
        assert ev.delta == "after"
        assert len(bad) == 4
        assert all(isinstance(e.error, rtsync.ProtocolError) for e in bad)
        c.send(ConversationItemCreate(item=Item.user_text("still here")))
        assert peer.wait_received(1)[-1]["item"]["content"][0]["text"] == "still here"


def test_server_close_gives_one_close_event_after_all_events(peer):
    c = RealtimeClient(url=peer.url).connect()
    got = collect(c)
    for i in range(100):
        peer.send({"type": "response.text.delta", "event_id": f"e{i}", "delta": str(i)})
    peer.close(4000, "bye now")
    c._dispatcher.finished.wait(5)
    c.close()
    deltas = [e.delta for e in got if e.type == "response.text.delta"]
    assert deltas == [str(i) for i in range(100)]
    closes = [e for e in got if e.type == "rtsync.close"]
    assert len(closes) == 1 and got[-1] is closes[0]
    assert closes[0].code == 4000 and closes[0].reason == "bye now"


def test_dropped_connection_gives_close_event(peer):
    c = RealtimeClient(url=peer.url).connect()
    got = collect(c, "rtsync.close")
    peer.drop()
    c._dispatcher.finished.wait(5)
    assert len(got) == 1 and got[0].code == 1006
    with pytest.raises(ClosedError):
        c.create_item("x")
    c.close()


def test_send_on_unopened_client_raises():
    c = RealtimeClient(url="ws://127.0.0.1:9/v1/realtime")
    with pytest.raises(ClosedError, match="unopened"):
        c.create_item("x")
    c.close()
