"""The reader thread, against a raw-socket peer that writes WebSocket frames by hand
(:class:`tests.peer.RawPeer`): split, fragmented, masked, ... frames; pongs and close replies;
a client send blocked by TCP backpressure. Most tests drive :class:`rtsync.transport.Transport`
directly, so they see the batches the reader puts on its queue. The frame parser alone is fuzzed
in ``test_frames.py``.
"""

from __future__ import annotations

import json
import queue
import random
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rtsync import RealtimeClient
from rtsync.errors import ClosedError, ProtocolError
from rtsync.events import ResponseTextDelta, UnknownEvent
from rtsync.events.local import CloseEvent, ProtocolErrorEvent
from rtsync.transport import MAX_BATCH, Transport
from tests.peer import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawPeer, close_frame, delta, frame


class Counting(queue.SimpleQueue):  # type: ignore[type-arg]
    """A SimpleQueue that records the size of every batch put on it."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.sizes.append(len(item))
        super().put(item, block, timeout)


class Conn:
    """A connected Transport with its reader running, and helpers to read its events."""

    def __init__(self, peer: RawPeer, **kwargs: Any) -> None:
        self.peer = peer
        self.q = Counting()
        self.t = Transport(peer.url, {}, self.q, connect_timeout=5, **kwargs)
        self.t.connect()
        first = self.q.get(timeout=5)
        assert [e.type for e in first] == ["session.created"]
        self.q.sizes.clear()
        self.pending: list[Any] = []
        self.closed = False

    def start(self) -> Conn:
        self.t.start_reader()
        return self

    def events(self, n: int, timeout: float = 10.0) -> list[Any]:
        """The next ``n`` events (fails if the connection closes first)."""
        deadline = time.monotonic() + timeout
        while len(self.pending) < n:
            self.pending += self.q.get(timeout=max(0.01, deadline - time.monotonic()))
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def until_close(self, timeout: float = 10.0) -> list[Any]:
        """Every event up to and including the (single, last) ``rtsync.close``."""
        deadline = time.monotonic() + timeout
        out, self.pending = self.pending, []
        while not out or out[-1].__class__ is not CloseEvent:
            out += self.q.get(timeout=max(0.01, deadline - time.monotonic()))
        self.closed = True
        self.t.reader.join(5)
        assert not self.t.reader.is_alive()
        assert sum(e.__class__ is CloseEvent for e in out) == 1
        with pytest.raises(queue.Empty):
            self.q.get_nowait()
        return out

    def finish(self) -> None:
        if not self.closed:
            self.t.close(timeout=3)
            self.until_close()


@pytest.fixture
def peer():
    p = RawPeer()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def conn(peer):
    c = Conn(peer).start()
    try:
        yield c
    finally:
        c.finish()


def _deltas(events: list[Any]) -> list[str]:
    assert all(isinstance(e, ResponseTextDelta) for e in events), [e.type for e in events]
    return [e.delta for e in events]


# -- framing -------------------------------------------------------------------------------------

def test_text_split_into_continuation_frames_with_a_ping_between(conn, peer):
    text = json.dumps({"type": "response.text.delta", "event_id": "frag", "delta": "héllo wörld " * 50})
    raw = text.encode()
    parts = [raw[:7], raw[7:300], raw[300:301], raw[301:]]
    data = frame(parts[0], TEXT, fin=False) + frame(parts[1], CONT, fin=False)
    data += frame(b"mid", PING)  # a control frame may come between the fragments
    data += frame(parts[2], CONT, fin=False) + frame(parts[3], CONT, fin=True) + delta("after")
    peer.send(data)
    evs = conn.events(2)
    assert _deltas(evs) == ["héllo wörld " * 50, "after"]
    assert evs[0].event_id == "frag"
    assert peer.wait_received(PONG) == [b"mid"]


def test_frames_split_at_every_byte_boundary(conn, peer):
    small = delta(1)
    medium = delta(2, "m" * 300)  # 16-bit length
    fragmented = frame(delta(3)[2:][:10], TEXT, fin=False) + frame(delta(3)[2:][10:], CONT)
    peer.send_slowly(small + medium + fragmented + frame(b"p", PING))
    assert _deltas(conn.events(3)) == ["1", "m" * 300, "3"]
    assert peer.wait_received(PONG) == [b"p"]
    # byte by byte, each event was handed over on its own as soon as it was complete
    assert conn.q.sizes == [1, 1, 1]


def test_random_split_points(conn, peer):
    rng = random.Random(1234)
    texts = ["x" * rng.choice([0, 1, 100, 125, 126, 1000, 70000]) for _ in range(60)]
    data = b"".join(delta(i, t) for i, t in enumerate(texts))
    pos = 0
    while pos < len(data):
        k = rng.choice([1, 2, 3, 9, 100, 4096, 65536, 300000])
        peer.send(data[pos:pos + k])
        pos += k
    evs = conn.events(60)
    assert [e.event_id for e in evs] == [f"e{i}" for i in range(60)]
    assert _deltas(evs) == texts


def test_large_text_frames(conn, peer):
    big = "a" * (2 * 1024 * 1024)
    peer.send(delta("big", big) + delta("small"))
    evs = conn.events(2)
    assert len(evs[0].delta) == len(big) and evs[0].delta == big
    assert evs[1].delta == "small"
    # again, arriving together with small frames and after the buffer shrank back
    peer.send(delta("x") + delta("big2", "b" * 3_000_000) + delta("y"))
    assert [len(d) for d in _deltas(conn.events(3))] == [1, 3_000_000, 1]
    peer.send(delta("z"))
    assert _deltas(conn.events(1)) == ["z"]
    assert len(conn.t._ws.frame_buffer.recv_buffer) == 0


def test_many_small_frames_in_one_write_keep_order_and_are_batched(conn, peer):
    n = 3000
    peer.send(b"".join(delta(i) for i in range(n)))
    assert _deltas(conn.events(n)) == [str(i) for i in range(n)]
    assert sum(conn.q.sizes) == n
    assert max(conn.q.sizes) > 1 and max(conn.q.sizes) <= MAX_BATCH
    assert len(conn.q.sizes) < n // 4


def test_a_lone_event_goes_at_once(conn, peer):
    for i in range(5):
        peer.send(delta(i))
        assert _deltas(conn.events(1, timeout=2)) == [str(i)]
    assert conn.q.sizes == [1] * 5


def test_bytes_already_buffered_by_websocket_client_come_first(peer):
    c = Conn(peer)
    try:
        head = delta(1) + delta(2)
        third = delta(3)
        c.t._ws.frame_buffer.recv_buffer = [head[:5], head[5:] + third[:4]]
        c.start()
        peer.send(third[4:])
        assert _deltas(c.events(3)) == ["1", "2", "3"]
    finally:
        c.finish()


def test_unknown_types_and_pong_frames(conn, peer):
    peer.send(frame(b"unsolicited", PONG) + frame(json.dumps({"type": "brand.new", "x": 1})) + delta(1))
    evs = conn.events(2)
    assert isinstance(evs[0], UnknownEvent) and evs[0].raw == {"type": "brand.new", "x": 1}
    assert _deltas(evs[1:]) == ["1"]


# -- bad frames that do not end the connection ---------------------------------------------------

def test_binary_frame_is_a_protocol_error_and_reading_goes_on(conn, peer):
    peer.send(frame(b"\x00\x01binary", BINARY) + frame(b"\x00", BINARY, fin=False) + frame(b"\x01", CONT) + delta(1))
    evs = conn.events(3)
    assert [e.__class__ for e in evs[:2]] == [ProtocolErrorEvent, ProtocolErrorEvent]
    assert evs[0].data == b"\x00\x01binary" and isinstance(evs[0].error, ProtocolError)
    assert evs[1].data == b"\x00\x01"
    assert _deltas(evs[2:]) == ["1"]


def test_invalid_utf8_and_invalid_json(conn, peer):
    bad_utf8 = b'{"type": "response.text.delta", "delta": "\xff\xfe"}'
    peer.send(frame(bad_utf8) + frame("{not json") + frame('"a string"') + frame('{"no_type": 1}') + delta(1))
    evs = conn.events(5)
    errs = evs[:4]
    assert all(isinstance(e, ProtocolErrorEvent) and isinstance(e.error, ProtocolError) for e in errs)
    assert "utf-8" in str(errs[0].error)
    assert errs[0].error.data == bad_utf8  # the original frame, as bytes
    assert isinstance(errs[0].data, str) and errs[0].data.startswith('{"type"')
    assert errs[1].data == "{not json" and errs[2].data == '"a string"'
    assert all(not isinstance(e.error.data, memoryview) for e in errs)
    assert _deltas(evs[4:]) == ["1"]


# -- close and protocol violations ---------------------------------------------------------------

def test_server_close_with_code_and_reason(conn, peer):
    peer.send(delta(1) + delta(2) + close_frame(1001, "going away") + delta("never"))
    evs = conn.until_close()
    assert _deltas(evs[:2]) == ["1", "2"]
    close = evs[2]
    assert len(evs) == 3 and isinstance(close, CloseEvent)
    assert (close.code, close.reason, close.initiated_by_client) == (1001, "going away", False)
    assert close.error is None
    assert peer.wait_received(CLOSE)[0][:2] == struct.pack("!H", 1001)  # the reply echoes the code
    assert conn.t.close_code == 1001


def test_client_close_gets_the_servers_reply(conn, peer):
    peer.send(delta(1))
    assert _deltas(conn.events(1)) == ["1"]
    conn.t.close(1000, "bye")
    evs = conn.until_close()
    assert len(evs) == 1 and evs[0].initiated_by_client and evs[0].code == 1000
    assert peer.wait_received(CLOSE)[0] == struct.pack("!H", 1000) + b"bye"


def _violation(conn: Conn, peer: RawPeer, data: bytes, code: int, words: str) -> None:
    peer.send(delta(1) + data + delta("never"))
    evs = conn.until_close()
    assert _deltas(evs[:1]) == ["1"]
    assert len(evs) == 3, [e.type for e in evs]
    err, close = evs[1], evs[2]
    assert isinstance(err, ProtocolErrorEvent) and isinstance(err.error, ProtocolError)
    assert words in str(err.error)
    assert isinstance(close, CloseEvent) and close.code == code and words in close.reason
    assert close.error is err.error
    assert peer.wait_received(CLOSE)[0][:2] == struct.pack("!H", code)


def test_masked_frame_closes_with_1002(conn, peer):
    _violation(conn, peer, frame(json.dumps({"type": "x"}), mask=b"abcd"), 1002, "masked")


def test_rsv_bits_close_with_1002(conn, peer):
    _violation(conn, peer, frame(json.dumps({"type": "x"}), rsv=4), 1002, "RSV")


def test_continuation_without_a_message_closes_with_1002(conn, peer):
    _violation(conn, peer, frame(b"x", CONT), 1002, "continuation")


def test_new_message_inside_a_fragmented_one_closes_with_1002(conn, peer):
    _violation(conn, peer, frame(b"{", TEXT, fin=False) + delta(2), 1002, "inside a fragmented")


def test_unknown_opcode_closes_with_1002(conn, peer):
    _violation(conn, peer, frame(b"?", 0x3), 1002, "opcode")


def test_fragmented_control_frame_closes_with_1002(conn, peer):
    _violation(conn, peer, frame(b"p", PING, fin=False), 1002, "control frame")


def test_oversized_frame_closes_with_1009(peer):
    c = Conn(peer, max_message_size=4096).start()
    # only the header is sent: the limit applies before the payload is read
    _violation(c, peer, frame(b"x" * 5000)[:4], 1009, "limit")


def test_oversized_fragmented_message_closes_with_1009(peer):
    c = Conn(peer, max_message_size=4096).start()
    parts = frame(b"{" + b" " * 1023, TEXT, fin=False) + frame(b" " * 1024, CONT, fin=False)
    _violation(c, peer, parts + frame(b" " * 3000, CONT, fin=False), 1009, "limit")


def test_frame_at_the_limit_is_accepted(peer):
    c = Conn(peer, max_message_size=4096).start()
    try:
        text = delta(1, "")
        d = delta(1, "y" * (4096 - len(text) + 2))
        assert len(d) - 4 == 4096
        peer.send(d)
        assert _deltas(c.events(1)) == ["y" * (4096 - len(text) + 2)]
    finally:
        c.finish()


def test_connection_dropped_mid_frame(conn, peer):
    peer.send(delta(1) + delta(2)[:10])
    assert _deltas(conn.events(1)) == ["1"]
    peer.conn.shutdown(socket.SHUT_RDWR)
    evs = conn.until_close()
    assert len(evs) == 1 and evs[0].code == 1006 and not evs[0].initiated_by_client


# -- keepalive -----------------------------------------------------------------------------------

def test_keepalive_pings_any_frame_counts_and_silence_ends_the_connection(peer):
    c = Conn(peer, ping_interval=0.1, ping_timeout=1.0).start()
    try:
        assert peer.wait_received(PING, timeout=10)[0] == b"rtsync"
        # The peer never answers a ping; a frame every 0.2 s (well within the timeout) keeps the
        # connection open for three timeouts: any byte counts.
        end = time.monotonic() + 3.0
        i = 0
        while time.monotonic() < end:
            peer.send(delta(i))
            assert _deltas(c.events(1)) == [str(i)]
            i += 1
            time.sleep(0.2)
        assert c.t.close_code is None
        evs = c.until_close(timeout=30)  # now silent
        assert len(evs) == 1 and evs[0].code == 1006 and evs[0].reason.startswith("keepalive timed out")
        assert not evs[0].initiated_by_client and evs[0].error is not None
    finally:
        c.finish()


# -- TLS -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_context(tmp_path_factory) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d: Path = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    return ctx


def test_tls_socket(tls_context):
    peer = RawPeer(tls=tls_context)
    c = None
    try:
        c = Conn(peer, sslopt={"cert_reqs": ssl.CERT_NONE, "check_hostname": False}).start()
        assert isinstance(c.t._ws.sock, ssl.SSLSocket)
        n = 2000
        peer.send(b"".join(delta(i) for i in range(n)) + delta("big", "z" * 1_000_000) + frame(b"t", PING))
        evs = c.events(n + 1)
        assert _deltas(evs[:n]) == [str(i) for i in range(n)]
        assert evs[n].delta == "z" * 1_000_000
        assert peer.wait_received(PONG) == [b"t"]
        assert max(c.q.sizes) > 1
        peer.send(delta("last") + close_frame(1000, "done"))
        evs = c.until_close()
        assert _deltas(evs[:1]) == ["last"] and evs[1].code == 1000 and evs[1].reason == "done"
    finally:
        if c is not None:
            c.finish()
        peer.stop()


# -- a send blocked by TCP backpressure: the reader goes on --------------------------------------

class BlockedSender:
    """A client whose user thread is blocked in ``send()``: the peer stopped reading, and the
    thread sent 1 MB events until the socket buffers were full."""

    def __init__(self, peer: RawPeer) -> None:
        self.peer = peer
        self.client = RealtimeClient(url=peer.url, api_key="", ping_interval=0.2, ping_timeout=30)
        self.deltas: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.closes: list[Any] = []
        self.closed = threading.Event()
        self.client.on("response.text.delta", self.deltas.put)
        self.client.on("rtsync.close", self._on_close)
        self.client.connect()
        self.sent = 0
        self.outcome: list[BaseException | None] = []
        peer.pause_reading()
        self.thread = threading.Thread(target=self._send, name="test-sender", daemon=True)
        self.thread.start()
        self._wait_blocked()

    def _on_close(self, ev: Any) -> None:
        self.closes.append(ev)
        self.closed.set()

    def _send(self) -> None:
        pad = "x" * (1024 * 1024)
        try:
            while True:
                self.client.send({"type": "conversation.item.create", "item": {"pad": pad}})
                self.sent += 1
        except BaseException as exc:
            self.outcome.append(exc)

    def _wait_blocked(self) -> None:
        """Until the count of finished sends has not moved for 1.5 s (the send is blocked)."""
        deadline = time.monotonic() + 60
        last, since = -1, time.monotonic()
        while time.monotonic() - since < 1.5:
            assert time.monotonic() < deadline, "the sender never blocked"
            assert self.thread.is_alive(), f"the sender stopped: {self.outcome}"
            if self.sent != last:
                last, since = self.sent, time.monotonic()
            time.sleep(0.05)
        assert self.sent >= 1

    def still_blocked(self, sent: int) -> None:
        assert self.thread.is_alive() and self.sent == sent, "the send should still be blocked"

    def check_end(self) -> None:
        """The blocked send raised ClosedError, one rtsync.close, no rtsync thread left."""
        self.thread.join(5)
        assert not self.thread.is_alive(), "the blocked send was not released"
        assert len(self.outcome) == 1 and isinstance(self.outcome[0], ClosedError), self.outcome
        assert self.closed.wait(5)
        assert len(self.closes) == 1
        assert [t.name for t in threading.enumerate() if t.name.startswith("rtsync")] == []


@pytest.fixture
def slow_peer():
    p = RawPeer(rcvbuf=32 * 1024)
    try:
        yield p
    finally:
        p.stop()


def test_events_are_delivered_while_a_send_is_blocked_and_close_is_prompt(slow_peer):
    b = BlockedSender(slow_peer)
    try:
        sent = b.sent
        slow_peer.send(frame(b"are you there?", PING) + delta(1))
        assert _deltas([b.deltas.get(timeout=5)]) == ["1"]  # the reader did not wait behind the send
        slow_peer.send(delta(2))
        assert _deltas([b.deltas.get(timeout=5)]) == ["2"]
        b.still_blocked(sent)
        start = time.monotonic()
        b.client.close()
        took = time.monotonic() - start
        assert took < 1.0, f"close() took {took:.2f} s"
        b.check_end()
        assert b.closes[0].initiated_by_client
    finally:
        b.client.close()


def test_a_server_close_while_a_send_is_blocked_ends_the_connection(slow_peer):
    b = BlockedSender(slow_peer)
    try:
        sent = b.sent
        slow_peer.send(delta(1) + close_frame(4001, "server going"))
        assert _deltas([b.deltas.get(timeout=5)]) == ["1"]
        assert b.closed.wait(5), "the server's close was not seen"
        close = b.closes[0]
        assert (close.code, close.reason, close.initiated_by_client) == (4001, "server going", False)
        b.check_end()
        assert b.sent == sent
        start = time.monotonic()
        b.client.close()
        assert time.monotonic() - start < 1.0
        assert len(b.closes) == 1
    finally:
        b.client.close()


def test_a_pong_left_behind_a_blocked_send_goes_out_when_the_send_is_done(slow_peer):
    b = BlockedSender(slow_peer)
    try:
        slow_peer.send(frame(b"ping 1", PING) + frame(b"ping 2", PING) + delta(1))
        assert _deltas([b.deltas.get(timeout=5)]) == ["1"]
        assert not [p for o, p in slow_peer.received if o == PONG]
        slow_peer.resume_reading()  # the blocked send completes; the latest ping is answered
        assert slow_peer.wait_received(PONG, timeout=20) == [b"ping 2"]
        assert b.client.is_open
    finally:
        b.client.close()
    b.check_end()
