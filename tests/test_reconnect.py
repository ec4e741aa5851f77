"""Reconnection and session renewal (opt in), against the local server's scripted faults."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rtsync import RealtimeClient, ReconnectPolicy
from rtsync.errors import ClosedError
from rtsync.server import LocalServer
from tests.helpers import eventually, record


def session_lifetime(server: LocalServer) -> float:
    """Seconds from now to the ``expires_at`` of a fresh session on ``server`` (one probe connection)."""
    with RealtimeClient(url=server.url) as probe:
        return float(probe.session.expires_at - time.time())


def test_drop_mid_response_reconnects_and_reapplies_config() -> None:
    with LocalServer(text_delay=0.02, faults=["drop@response.text.delta:2#1"]) as server:
        client = RealtimeClient(url=server.url, reconnect=True, replay_text_items=True)
        seen = record(client, "rtsync.disconnected", "rtsync.reconnected", "rtsync.close", "session.updated")

        @client.tool
        def lookup(word: str) -> str:
            """Look a word up."""
            return word.upper()

        with client:
            first_session = client.session_id
            client.update_session(instructions="Be brief.", modalities=["text"])
            client.create_item("remember this")
            with pytest.raises(ClosedError):
                client.ask("one two three four", timeout=20)
            eventually(lambda: any(e.type == "rtsync.reconnected" for e in seen))
            kinds = [e.type for e in seen]
            disc = next(e for e in seen if e.type == "rtsync.disconnected")
            rec = next(e for e in seen if e.type == "rtsync.reconnected")
            assert disc.code == 1006
            assert kinds.count("rtsync.reconnected") == 1 and "rtsync.close" not in kinds
            assert kinds.index("rtsync.disconnected") < kinds.index("rtsync.reconnected")
            assert rec.previous_session_id == first_session and rec.session_id != first_session
            assert rec.reason == "reconnected" and rec.attempts >= 1
            # the text items were replayed: the new conversation holds them, in order
            assert rec.replayed_items == 2
            eventually(lambda: [e.text for e in client.conversation.items][:2] == ["remember this",
                                                                                  "one two three four"])
            # the configuration (and the tools) were sent again to the new session
            updated = [e for e in seen if e.type == "session.updated"][-1]
            assert updated.session.instructions == "Be brief." and updated.session.modalities == ["text"]
            assert [t.name for t in updated.session.tools] == ["lookup"]
            assert client.ask("hello", timeout=20).text == "You said: hello"
            assert client.state == "open"
        assert [e.type for e in seen].count("rtsync.close") == 1
        assert server.fault_log == [(1, "drop@response.text.delta:2#1")]


def test_fatal_close_is_never_retried() -> None:
    with LocalServer(faults=["close=4000:invalid_request_error.beta_api_shape_disabled@start"]) as server:
        client = RealtimeClient(url=server.url, reconnect=True)
        seen = record(client, "rtsync.disconnected", "rtsync.reconnected", "rtsync.close")
        with client:
            eventually(lambda: any(e.type == "rtsync.close" for e in seen))
            assert [e.type for e in seen] == ["rtsync.close"]
            assert seen[0].code == 4000 and "beta_api_shape_disabled" in seen[0].reason
            with pytest.raises(ClosedError):
                client.create_item("x")


def test_policy_and_the_older_keywords_mean_the_same() -> None:
    url = "ws://127.0.0.1:9/v1/realtime"
    assert RealtimeClient(url=url).reconnect_policy is None
    assert RealtimeClient(url=url, reconnect=True).reconnect_policy == ReconnectPolicy()
    old = RealtimeClient(url=url, reconnect=True, max_reconnect_attempts=2, renew_before=30, replay_text_items=True)
    assert old.reconnect_policy == ReconnectPolicy(max_attempts=2, renew_before=30, replay_text_items=True)
    renew_only = RealtimeClient(url=url, renew_before=30).reconnect_policy
    assert renew_only == ReconnectPolicy(on_drop=False, renew_before=30)
    policy = ReconnectPolicy(max_attempts=3, backoff=0.1)
    assert RealtimeClient(url=url, reconnect=policy).reconnect_policy is policy
    with pytest.raises(ValueError, match="inside the ReconnectPolicy"):
        RealtimeClient(url=url, reconnect=policy, renew_before=30)
    with pytest.raises(ValueError, match="max_reconnect_attempts must be at least 1"):
        RealtimeClient(url=url, reconnect=True, max_reconnect_attempts=0)
    with pytest.raises(ValueError, match="max_attempts"):
        ReconnectPolicy(max_attempts=0)


@pytest.mark.parametrize("spelling", ["policy", "keywords"])
def test_gives_up_after_max_attempts(spelling: str) -> None:
    server = LocalServer(faults=["drop@start"]).start()
    if spelling == "policy":
        client = RealtimeClient(url=server.url, reconnect=ReconnectPolicy(max_attempts=2))
    else:
        client = RealtimeClient(url=server.url, reconnect=True, max_reconnect_attempts=2)
    seen = record(client, "rtsync.disconnected", "rtsync.reconnected", "rtsync.close")
    client.on("rtsync.disconnected", lambda ev: server.stop())
    try:
        client.connect()
        eventually(lambda: any(e.type == "rtsync.close" for e in seen), timeout=20)
        assert [e.type for e in seen] == ["rtsync.disconnected", "rtsync.close"]
        assert "reconnecting failed after 2 attempt(s)" in seen[1].reason
        assert client.state == "closed"
        with pytest.raises(ClosedError):
            client.wait_for("response.done", timeout=1)
    finally:
        client.close()
        server.stop()


def test_close_while_reconnecting() -> None:
    server = LocalServer(faults=["drop@start"]).start()
    client = RealtimeClient(url=server.url, reconnect=True, max_reconnect_attempts=6)
    seen = record(client, "rtsync.disconnected", "rtsync.close")
    client.on("rtsync.disconnected", lambda ev: server.stop())
    try:
        client.connect()
        eventually(lambda: client.state == "reconnecting")
        with pytest.raises(ClosedError, match="reconnecting"):
            client.create_item("x")
        client.close()
        assert client.state == "closed"
        assert [e.type for e in seen] == ["rtsync.disconnected", "rtsync.close"]
        assert seen[1].initiated_by_client
    finally:
        client.close()
        server.stop()


def test_session_expiry_is_survived() -> None:
    with LocalServer(faults=["expire=300ms#1"]) as server:
        client = RealtimeClient(url=server.url, reconnect=True)
        seen = record(client, "error", "rtsync.disconnected", "rtsync.reconnected", "rtsync.close")
        with client:
            eventually(lambda: any(e.type == "rtsync.reconnected" for e in seen))
            assert [e.type for e in seen][:3] == ["error", "rtsync.disconnected", "rtsync.reconnected"]
            assert seen[0].error.code == "session_expired"
            assert client.ask("hello", timeout=20).text == "You said: hello"


def test_renewal_before_expiry() -> None:
    with LocalServer() as server:
        lifetime = session_lifetime(server)
        # ask for renewal 0.3 s after the start: make before break, no disconnect in between
        client = RealtimeClient(url=server.url, renew_before=lifetime - 0.3, replay_text_items=True)
        seen = record(client, "rtsync.disconnected", "rtsync.reconnected", "rtsync.close")
        with client:
            old = client.session_id
            client.update_session(instructions="Renewed sessions keep this.")
            client.ask("hello", timeout=20)
            eventually(lambda: any(e.type == "rtsync.reconnected" for e in seen))
            rec = seen[0]
            assert rec.reason == "renewed" and rec.previous_session_id == old != rec.session_id
            assert rec.replayed_items == 2
            eventually(lambda: client.session.instructions == "Renewed sessions keep this.")
            # every new session has the same lifetime, so renewals go on; none is a disconnect
        kinds = [e.type for e in seen]
        assert set(kinds[:-1]) == {"rtsync.reconnected"} and kinds[-1] == "rtsync.close"
        assert all(e.reason == "renewed" for e in seen[:-1])


@pytest.mark.slow
def test_asks_go_on_across_renewals() -> None:
    with LocalServer(text_delay=0.01) as server:
        lifetime = session_lifetime(server)
        client = RealtimeClient(url=server.url, renew_before=lifetime - 0.3)
        renewed = record(client, "rtsync.reconnected")
        with client:
            end = time.monotonic() + 2.5
            n = 0
            while time.monotonic() < end:
                n += 1
                assert client.ask(f"turn {n} of many", timeout=20).text == f"You said: turn {n} of many"
            assert renewed and not client.response_active


@pytest.mark.slow
def test_an_ask_queued_at_a_renewal_is_answered_where_its_message_went() -> None:
    """ask() sends its message, and its response.create waits behind a running response; the
    renewal must not move that create to a new session that never saw the message."""
    with LocalServer(text_delay=0.03) as server:
        lifetime = session_lifetime(server)
        # expires_at is whole seconds: the renewal falls 0 to 1.3 s after connecting, while the
        # first reply (100 words at 30 ms) is still streaming
        client = RealtimeClient(url=server.url, renew_before=lifetime - 0.3)
        renewed = record(client, "rtsync.reconnected")
        long_text = " ".join(f"w{i}" for i in range(100))
        with client:
            replies: list[Any] = []
            first = threading.Thread(target=lambda: replies.append(client.ask(long_text, timeout=30)))
            first.start()
            started_in = client.session_id
            due = client.session.expires_at - (lifetime - 0.3)  # wall-clock time of the renewal
            eventually(lambda: client.active_response_id is not None)
            second = client.ask("the second question", timeout=30)
            first.join(30)
            assert due < time.time() - 1.0, "the renewal must fall due while the first reply streams"
            assert replies and replies[0].text == f"You said: {long_text}"
            assert second.text == "You said: the second question"
            eventually(lambda: renewed)  # after the queued ask was answered, at the quiet point
            assert renewed[0].reason == "renewed" and renewed[0].previous_session_id == started_in
            assert client.ask("and a third", timeout=30).text == "You said: and a third"


def test_a_tool_call_running_at_a_renewal_is_followed_up_in_its_own_session() -> None:
    """The follow-up response.create comes after the tool's output: both stay on the session
    that made the call, and the renewal waits for them."""
    with LocalServer() as server:
        lifetime = session_lifetime(server)
        client = RealtimeClient(url=server.url, renew_before=lifetime - 0.3)
        renewed = record(client, "rtsync.reconnected")
        done = record(client, "response.done")
        with client:
            started_in = client.session_id
            due = client.session.expires_at - (lifetime - 0.3)

            @client.tool
            def slow_lookup(word: str) -> str:
                """Look a word up, slowly: until after the renewal falls due."""
                time.sleep(max(0.0, due - time.time()) + 0.3)
                return word.upper()

            client.update_session(modalities=["text"])
            reply = client.ask('slow_lookup {"word": "renewal"}', timeout=20)
            assert [c.name for c in reply.function_calls] == ["slow_lookup"]
            eventually(lambda: len(done) == 2 and renewed, timeout=20)
            follow = done[1].response
            text = "".join(p.text or "" for it in follow.output for p in (it.content or []))
            assert text == "Tool slow_lookup returned: RENEWAL"
            assert renewed[0].previous_session_id == started_in


def test_ask_timeout_covers_the_wait_for_a_renewal() -> None:
    from rtsync.errors import WaitTimeout

    with LocalServer() as server, RealtimeClient(url=server.url, renew_before=1.0) as client:
        with client._switch_lock:  # what a renewal holds while the old session finishes
            started = time.monotonic()
            with pytest.raises(WaitTimeout, match="renewal"):
                client.ask("hello", timeout=0.3)
            assert time.monotonic() - started < 2.0
        assert client.ask("hello", timeout=20).text == "You said: hello"


def test_renewal_beats_the_announced_expiry() -> None:
    """The expire fault announces its end in session.created's expires_at; renew_before acts on
    it, so each session is replaced before the server ends it, and nothing is ever lost."""
    with LocalServer(faults=["expire=3s"]) as server:
        client = RealtimeClient(url=server.url, renew_before=1.5)
        seen = record(client, "error", "rtsync.disconnected", "rtsync.reconnected", "rtsync.close")
        with client:
            created = time.time()
            expires = client.session.expires_at
            assert created + 1.9 <= expires <= created + 3.0  # 3 s from now, rounded down to seconds
            eventually(lambda: sum(e.type == "rtsync.reconnected" for e in seen) >= 2, timeout=15)
            assert client.ask("still here", timeout=20).text == "You said: still here"
        kinds = [e.type for e in seen]
        assert "error" not in kinds and "rtsync.disconnected" not in kinds, kinds
        assert kinds[-1] == "rtsync.close" and all(e.reason == "renewed" for e in seen[:-1])


def test_close_while_a_renewal_waits_for_a_quiet_point() -> None:
    """The renewal holds new requests while a long reply streams; close() ends both at once."""
    with LocalServer(text_delay=0.05) as server:
        lifetime = session_lifetime(server)
        client = RealtimeClient(url=server.url, renew_before=lifetime - 0.3)
        closes = record(client, "rtsync.close")
        client.connect()
        client.create_item(" ".join(f"w{i}" for i in range(200)))  # a 10 s reply
        client.create_response()
        eventually(lambda: any(t.name == "rtsync-renew" and t.is_alive() for t in threading.enumerate())
                   and client._switch_lock.locked(), timeout=5)
        blocked: list[BaseException] = []

        def ask_now() -> None:
            try:
                client.ask("behind the renewal", timeout=30)
            except BaseException as exc:
                blocked.append(exc)

        asker = threading.Thread(target=ask_now)
        asker.start()
        started = time.monotonic()
        client.close()
        asker.join(5)
        assert time.monotonic() - started < 5 and not asker.is_alive()
        assert len(blocked) == 1 and isinstance(blocked[0], ClosedError)
        assert len(closes) == 1 and closes[0].initiated_by_client
        assert not [t.name for t in threading.enumerate() if t.name.startswith("rtsync-renew") and t.is_alive()]
