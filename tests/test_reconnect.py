"""Reconnection and session renewal (opt in), against the local server's scripted faults."""

from __future__ import annotations

import time

import pytest

from rtsync import RealtimeClient
from rtsync.errors import ClosedError
from rtsync.server import LocalServer
from tests.helpers import eventually, record


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


def test_gives_up_after_max_attempts() -> None:
    server = LocalServer(faults=["drop@start"]).start()
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
        probe = RealtimeClient(url=server.url).connect()
        lifetime = probe.session.expires_at - time.time()
        probe.close()
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


def test_asks_go_on_across_renewals() -> None:
    with LocalServer(text_delay=0.01) as server:
        probe = RealtimeClient(url=server.url).connect()
        lifetime = probe.session.expires_at - time.time()
        probe.close()
        client = RealtimeClient(url=server.url, renew_before=lifetime - 0.3)
        renewed = record(client, "rtsync.reconnected")
        with client:
            end = time.monotonic() + 2.5
            n = 0
            while time.monotonic() < end:
                n += 1
                assert client.ask(f"turn {n} of many", timeout=20).text == f"You said: turn {n} of many"
            assert renewed and not client.response_active
