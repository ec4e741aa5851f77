"""The server of the scale benchmark: real-time-paced audio to many connections at once.

Run as its own process (``python -m benchmarks._scale_server``; :class:`StreamServer` does it).
Each connection gets the WebSocket upgrade (by hand) and ``session.created``; when the client's
first data frame arrives (its first ``input_audio_buffer.append``) the server sends the framing
events that open a spoken response (``response.created`` ... ``response.content_part.added``)
and from then on one ``response.audio.delta`` of 20 ms of 24 kHz pcm16 (a pre-encoded ~1.45 KB
frame, see :mod:`benchmarks.server`) every 20 ms, on that connection's own schedule (start +
k × 20 ms), until the client closes.

Why not ``rtsync.server.LocalServer(voice="tone", audio_pace=1.0)``: for 50 connections it would
parse 2,500 appends/s and synthesise/encode 2,500 deltas/s in Python on the same 2 cores as the
clients under test. Here the per-frame work is almost nil: one ticker thread wakes every 5 ms
and writes whatever frames are due to every streaming connection; one reader thread per
connection parses the client's frame headers and skips the (masked) payloads without unmasking
them, except for a close frame, which it answers. The ticker's lateness and the process's CPU
time are printed when the parent closes stdin, so the benchmark can show the server was not the
bottleneck.

Protocol on stdout: ``PORT <n>`` once listening; ``STATS <json>`` at the end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.server import SESSION_CREATED, encode_frame, response_events

__all__ = ["StreamServer"]

PERIOD_NS = 20_000_000  # one 20 ms delta per connection per period
TICK_NS = 5_000_000  # the ticker's grid: a frame leaves at most 5 ms after its due time
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class _Conn:
    __slots__ = ("closed", "lock", "sent", "sock", "start")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()  # one writer at a time (ticker vs. the close reply)
        self.start = 0  # monotonic ns of the first data frame; 0 = not streaming yet
        self.sent = 0
        self.closed = False


class _Server:
    def __init__(self) -> None:
        events = response_events(16, 0)
        self.session_frame = encode_frame(_dumps(SESSION_CREATED))
        self.opening = b"".join(encode_frame(_dumps(ev)) for ev in events[:5])
        self.deltas = [encode_frame(_dumps(ev)) for ev in events if ev["type"] == "response.audio.delta"]
        self.conns: list[_Conn] = []
        self.conns_lock = threading.Lock()
        self.lags_ns: list[int] = []
        self.frames = 0

    # -- per connection: handshake, then read frames until close ---------------------------------
    def handle(self, sock: socket.socket) -> None:
        conn = _Conn(sock)
        try:
            self._handle(conn)
        except OSError:
            pass
        finally:
            with conn.lock:
                conn.closed = True
            with self.conns_lock:
                if conn in self.conns:
                    self.conns.remove(conn)
            sock.close()

    def _handle(self, conn: _Conn) -> None:
        sock = conn.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        end = buf.index(b"\r\n\r\n")
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[:end + 4]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode() + self.session_frame)
        with self.conns_lock:
            self.conns.append(conn)
        pos = 0
        while True:
            # One frame header at buf[pos:]; skip its payload without unmasking it.
            while True:
                avail = len(buf) - pos
                if avail >= 2:
                    b0, b1 = buf[pos], buf[pos + 1]
                    n, hl = b1 & 0x7F, 2
                    if n == 126:
                        hl = 4
                    elif n == 127:
                        hl = 10
                    hl += 4 if b1 & 0x80 else 0
                    if avail >= hl:
                        if n == 126:
                            n = struct.unpack_from("!H", buf, pos + 2)[0]
                        elif n == 127:
                            n = struct.unpack_from("!Q", buf, pos + 2)[0]
                        if avail >= hl + n:
                            break
                if pos:
                    del buf[:pos]
                    pos = 0
                chunk = sock.recv(262144)
                if not chunk:
                    return
                buf += chunk
            opcode = b0 & 0x0F
            payload_at = pos + hl
            pos = payload_at + n
            if opcode == 0x8:
                mask = buf[payload_at - 4:payload_at] if b1 & 0x80 else b"\0\0\0\0"
                code = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[payload_at:payload_at + min(n, 2)]))
                with conn.lock:
                    conn.closed = True
                    sock.sendall(encode_frame(code, 0x8))
                return
            if opcode in (0x1, 0x2) and not conn.start:
                with conn.lock:
                    sock.sendall(self.opening)
                    conn.start = time.monotonic_ns()

    # -- one ticker for every connection ---------------------------------------------------------
    def tick_loop(self) -> None:
        mono = time.monotonic_ns
        deltas = self.deltas
        nd = len(deltas)
        next_tick = mono()
        while True:
            next_tick += TICK_NS
            delay = next_tick - mono()
            if delay > 0:
                time.sleep(delay / 1e9)
            now = mono()
            with self.conns_lock:
                conns = list(self.conns)
            for c in conns:
                if not c.start or c.closed:
                    continue
                due = (now - c.start) // PERIOD_NS + 1
                if due <= c.sent:
                    continue
                # Lateness of the oldest frame due now (0 when the ticker keeps up).
                self.lags_ns.append(now - (c.start + c.sent * PERIOD_NS))
                with c.lock:
                    if c.closed:
                        continue
                    try:
                        c.sock.sendall(b"".join(deltas[(c.sent + k) % nd] for k in range(due - c.sent)))
                    except OSError:
                        c.closed = True
                        continue
                self.frames += due - c.sent
                c.sent = due


def main() -> None:
    server = _Server()
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)

    def accept_loop() -> None:
        while True:
            s, _ = listener.accept()
            threading.Thread(target=server.handle, args=(s,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    threading.Thread(target=server.tick_loop, daemon=True).start()
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    lags = sorted(server.lags_ns)
    t = os.times()
    stats = {"frames": server.frames, "cpu_s": t.user + t.system,
             "lag_p99_ms": lags[int(0.99 * (len(lags) - 1))] / 1e6 if lags else 0.0,
             "lag_max_ms": lags[-1] / 1e6 if lags else 0.0}
    print("STATS " + json.dumps(stats), flush=True)


class StreamServer:
    """:func:`main` in a child process; a context manager. ``url`` while open, ``stats`` after."""

    def __init__(self) -> None:
        self.proc: Any = None
        self.url = ""
        self.stats: dict[str, Any] = {}

    def __enter__(self) -> StreamServer:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks._scale_server"], cwd=root,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORT":
            self.__exit__()
            raise RuntimeError("the scale benchmark's server did not start")
        self.url = f"ws://127.0.0.1:{line[1]}/stream"
        return self

    def __exit__(self, *exc: object) -> None:
        p = self.proc
        if p is None:
            return
        self.proc = None
        try:
            p.stdin.close()
            out = p.stdout.read()
            p.wait(5)
            for ln in out.splitlines():
                if ln.startswith("STATS "):
                    self.stats = json.loads(ln[6:])
        except Exception:
            p.kill()
            p.wait()
        p.stdout.close()


if __name__ == "__main__":
    main()
