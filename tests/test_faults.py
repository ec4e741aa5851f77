"""Each scripted fault of the local server, injected through the real server over loopback, and
what the client makes of it: events before the fault delivered, exactly one ``rtsync.close``
(last), blocking helpers released with an exception, the reader surviving bad frames, keepalive
catching a silent peer, ``send()`` after the end raising ``ClosedError``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rtsync import RealtimeClient
from rtsync.errors import ClosedError, ProtocolError
from rtsync.events import UnknownEvent
from rtsync.server import LocalServer
from rtsync.server.faults import Fault, parse_fault
from rtsync.transport import Transport

WORDS = "one two three four five"
REPLY = f"You said: {WORDS}"


class Recorder:
    """Every event a client delivers, in order (appended on the dispatcher thread)."""

    def __init__(self, client: RealtimeClient) -> None:
        self.events: list[Any] = []
        self.closed = threading.Event()
        client.on("*", self._on)

    def _on(self, ev: Any) -> None:
        self.events.append(ev)
        if ev.type == "rtsync.close":
            self.closed.set()

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def of(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]

    def close_event(self, timeout: float = 5.0) -> Any:
        assert self.closed.wait(timeout), "no rtsync.close event"
        closes = self.of("rtsync.close")
        assert len(closes) == 1, f"{len(closes)} rtsync.close events"
        assert self.events[-1] is closes[0], "rtsync.close is not the last event"
        return closes[0]


@contextmanager
def faulty(*faults: str | Fault, **client_kw: Any) -> Iterator[tuple[LocalServer, RealtimeClient, Recorder]]:
    server = LocalServer(faults=list(faults), voice="tone").start()
    try:
        client = RealtimeClient(url=server.url, api_key="", **client_kw)
        rec = Recorder(client)
        client.connect()
        try:
            yield server, client, rec
        finally:
            client.close()
    finally:
        server.stop()


def assert_send_raises_closed(client: RealtimeClient) -> None:
    with pytest.raises(ClosedError):
        client.create_item("after the end")


# -- the fault language ---------------------------------------------------------------------------


def test_fault_specs_parse():
    f = parse_fault("drop@response.text.delta:3")
    assert (f.kind, f.event, f.count, f.delay) == ("drop", "response.text.delta", 3, None)
    assert parse_fault("drop-after=response.done") == parse_fault("drop@response.done").__class__(
        kind="drop", event="response.done", count=1, spec="drop-after=response.done")
    assert parse_fault("silent-after=2s").delay == 2.0
    assert parse_fault("close=4000:a reason: with colons").value == "4000:a reason: with colons"
    assert parse_fault("expire=250ms").delay == 0.25
    assert parse_fault("slow-read=0.01:1024@start#2-").connections == (2, None)
    assert parse_fault("invalid-json#1").connections == (1, 1)


@pytest.mark.parametrize("spec", [
    "", "explode", "close", "close=abc", "close=1006:x", "close=999", "invalid-json=3", "drop=sideways",
    "slow-read", "slow-read=-1", "expire=soon", "expire=1s@response.done", "binary=0", "large=10",
    "drop@response.done:0", "drop#0", "silent-after=",
])
def test_bad_fault_specs_are_refused(spec):
    with pytest.raises(ValueError):
        parse_fault(spec)
    with pytest.raises(ValueError):
        LocalServer(faults=[spec])


def test_cli_serve_accepts_and_checks_faults(capsys):
    from rtsync.cli import build_parser

    args = build_parser().parse_args(["serve", "--fault", "drop@response.text.delta:3", "--fault", "expire=30s"])
    assert args.fault == ["drop@response.text.delta:3", "expire=30s"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--fault", "explode"])
    assert "unknown kind" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    assert "slow-read=DELAY" in capsys.readouterr().out


# -- faults that end the connection ------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["drop@response.text.delta:3", "drop=mid-frame@response.text.delta:3",
                                  "drop-after=response.text.delta:3"])
def test_dropped_tcp_mid_response(spec):
    with faulty(spec) as (server, client, rec):
        with pytest.raises(ClosedError) as info:
            client.ask(WORDS, timeout=10)
        assert info.value.code == 1006
        close = rec.close_event()
        assert close.code == 1006 and "lost" in close.reason and not close.initiated_by_client
        deltas = rec.of("response.text.delta")
        assert [d.delta for d in deltas] == ["You", " said:", " one"]  # all three before the cut
        assert not rec.of("rtsync.protocol_error")  # half a frame then EOF is not a bad frame
        assert server.fault_log == [(1, spec)]
        assert_send_raises_closed(client)


@pytest.mark.parametrize(("spec", "code", "reason"), [
    ("close=4000:reason@response.text.delta:2", 4000, "reason"),
    ("close=1001:going away@response.text.delta:2", 1001, "going away"),
])
def test_server_close_with_code_and_reason_mid_response(spec, code, reason):
    with faulty(spec) as (_server, client, rec):
        waiter_error: list[BaseException] = []

        def waiter() -> None:
            try:
                client.wait_for("session.updated")
            except BaseException as exc:
                waiter_error.append(exc)

        t = threading.Thread(target=waiter, name="test-waiter")
        t.start()
        with pytest.raises(ClosedError) as info:
            client.ask(WORDS, timeout=10)
        assert (info.value.code, info.value.reason) == (code, reason)
        t.join(5)
        assert not t.is_alive(), "wait_for was left hanging"
        assert len(waiter_error) == 1 and isinstance(waiter_error[0], ClosedError)
        close = rec.close_event()
        assert (close.code, close.reason, close.initiated_by_client) == (code, reason, False)
        assert len(rec.of("response.text.delta")) == 2
        assert_send_raises_closed(client)


def test_timed_close_releases_an_idle_wait_for():
    with faulty("close=4000:timed out here@300ms") as (_server, client, rec):
        with pytest.raises(ClosedError) as info:
            client.wait_for("response.done", timeout=10)
        assert info.value.code == 4000
        assert rec.close_event().reason == "timed out here"


def test_session_expiry_is_an_error_then_a_close():
    with faulty("expire=0.3s") as (server, client, rec):
        with pytest.raises(ClosedError):
            client.wait_for("response.done", timeout=10)
        close = rec.close_event()
        assert (close.code, close.reason) == (1000, "session expired")
        error = rec.events[-2]
        assert error.type == "error"
        assert (error.error.type, error.error.code) == ("invalid_request_error", "session_expired")
        assert error.error.message == "Your session hit the maximum duration of 0.3 seconds."
        assert server.fault_log == [(1, "expire=0.3s")]
        assert_send_raises_closed(client)


def test_fault_limited_to_the_first_connection():
    server = LocalServer(faults=["drop@response.text.delta:1#1"]).start()
    try:
        with RealtimeClient(url=server.url, api_key="") as first, pytest.raises(ClosedError):
            first.ask(WORDS, timeout=10)
        with RealtimeClient(url=server.url, api_key="") as second:
            assert second.ask(WORDS, timeout=10).text == REPLY
        assert server.fault_log == [(1, "drop@response.text.delta:1#1")]
    finally:
        server.stop()


# -- bad frames: the reader survives, the response goes on ------------------------------------------


def _finish_despite(spec: str) -> Recorder:
    with faulty(spec) as (_server, client, rec):
        reply = client.ask(WORDS, timeout=10)
        assert reply.text == REPLY  # every delta, before and after the bad frame
        assert client.ask("again", timeout=10).text == "You said: again"
        assert client.is_open
        assert not rec.of("rtsync.callback_error")
    return rec


def test_invalid_json_is_a_protocol_error_and_reading_goes_on():
    rec = _finish_despite("invalid-json@response.text.delta:2")
    (err,) = rec.of("rtsync.protocol_error")
    assert isinstance(err.error, ProtocolError) and "unterminated" in err.data
    i = rec.events.index(err)
    assert [e.type for e in rec.events[i - 2:i]] == ["response.text.delta"] * 2


def test_binary_frame_is_a_protocol_error():
    rec = _finish_despite("binary=300@response.text.delta:2")
    (err,) = rec.of("rtsync.protocol_error")
    assert err.data == bytes(i % 256 for i in range(300))


def test_one_megabyte_text_frame_is_delivered():
    rec = _finish_despite("large@response.text.delta:2")
    (big,) = rec.of("fault.large")
    assert isinstance(big, UnknownEvent)
    assert 1024 * 1024 - 100 < len(big.raw["padding"]) <= 1024 * 1024


def test_event_with_missing_fields_is_delivered_with_them_unset():
    rec = _finish_despite("missing-field@response.text.delta:2")
    deltas = rec.of("response.text.delta")
    bare = [d for d in deltas if not isinstance(d.delta, str)]
    assert len(bare) == 1 and "delta" not in bare[0].to_dict()
    assert len(deltas) - 1 == len(REPLY.split()) + len("You said: again".split())


def test_unknown_event_type_is_delivered_as_unknown_event():
    rec = _finish_despite("unknown-type@response.text.delta:2")
    (unknown,) = rec.of("fault.unknown")
    assert isinstance(unknown, UnknownEvent) and unknown.raw["detail"]


def test_burst_of_error_events_is_delivered_and_ask_is_not_confused():
    rec = _finish_despite("error-burst=200@response.text.delta:2")
    errors = rec.of("error")
    assert [e.error.message for e in errors] == [f"injected error {k} of 200" for k in range(1, 201)]
    assert all(e.error.code == "fault_injected" for e in errors)


# -- silence and keepalive -----------------------------------------------------------------------


def test_keepalive_detects_a_silent_server():
    with faulty("silent@200ms", ping_interval=0.2, ping_timeout=0.4) as (_server, client, rec):
        start = time.monotonic()
        with pytest.raises(ClosedError) as info:
            client.wait_for("response.done", timeout=60)
        waited = time.monotonic() - start
        assert info.value.code == 1006
        close = rec.close_event(timeout=10)
        assert close.code == 1006 and close.reason.startswith("keepalive timed out")
        assert close.error is not None and not close.initiated_by_client
        # Detection takes silence start + interval + timeout (0.8 s); the bound only tells keepalive
        # from the wait's own timeout, with room for a loaded two-core machine.
        assert waited < 30.0, f"keepalive took {waited:.1f} s"
        assert_send_raises_closed(client)


def test_keepalive_leaves_a_healthy_idle_connection_open():
    # A ping every 50 ms, each answer due within 1.5 s: staying open for 4.5 s (three timeouts,
    # about 90 pings) needs every pong to count, while a pong delayed by a loaded machine does not
    # end the connection.
    with faulty("unknown-type", ping_interval=0.05, ping_timeout=1.5) as (_server, client, rec):
        assert not rec.closed.wait(4.5), f"closed: {rec.of('rtsync.close')}"
        assert client.is_open
        assert client.ask(WORDS, timeout=30).text == REPLY


def test_keepalive_on_the_transport_directly():
    import queue

    q: queue.SimpleQueue = queue.SimpleQueue()
    server = LocalServer(faults=["silent"]).start()
    try:
        t = Transport(server.url, {}, q, ping_interval=0.1, ping_timeout=0.2)
        t.connect()
        t.start_reader()
        events = []
        deadline = time.monotonic() + 30
        while not any(e.type == "rtsync.close" for e in events) and time.monotonic() < deadline:
            events.extend(q.get(timeout=30))
        assert t.reader is not None
        t.reader.join(10)
        assert not t.reader.is_alive()
        close = events[-1]
        assert close.type == "rtsync.close" and close.code == 1006 and "keepalive" in close.reason
        with pytest.raises(ClosedError):
            t.send_text("{}")
        t.close()
    finally:
        server.stop()


# -- slow reads: TCP backpressure ----------------------------------------------------------------------


def test_slow_reading_server_gets_every_byte_in_order():
    with faulty("slow-read=0.001:16384") as (server, client, _rec):
        client.update_session(turn_detection=None)
        chunk = bytes(4800)  # 100 ms of pcm16 24 kHz
        for _ in range(120):  # 12 s of audio, about 770 kB of frames
            client.append_audio(chunk)
        client.commit_audio()
        client.create_response(modalities=["text"])
        done = client.wait_for("response.done", timeout=30)
        text = done.response.output[0].content[0].text
        assert text == "I heard 12.0 seconds of speech."
        assert server.fault_log == [(1, "slow-read=0.001:16384")]


@pytest.mark.slow
def test_close_releases_a_send_blocked_by_backpressure():
    with faulty("slow-read=0.2:512") as (_server, client, rec):
        outcome: list[BaseException | None] = []
        blob = bytes(4 * 1024 * 1024)

        def sender() -> None:
            try:
                for _ in range(8):
                    client.append_audio(blob)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        t = threading.Thread(target=sender, name="test-sender")
        t.start()
        time.sleep(0.5)
        assert t.is_alive(), "the sender should be held up by the slow reader"
        client.close()
        t.join(10)
        assert not t.is_alive(), "close() left a sender blocked"
        assert len(outcome) == 1 and isinstance(outcome[0], ClosedError)
        assert rec.close_event().initiated_by_client
