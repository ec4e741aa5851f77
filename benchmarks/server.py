"""The event server of the benchmarks: a plain ``socket`` server that sends pre-encoded frames.

Run as its own process (``python -m benchmarks.server``; :class:`ServerProcess` does it), so it
never shares the client's GIL. It performs the WebSocket upgrade by hand, then writes
pre-built, unmasked frames. What it does after the upgrade depends on the first path segment:

``/blast``
    ``session.created``, then (as soon as the client sends any frame, e.g. ``response.create``)
    the whole audio response, pre-encoded as one ~30 MB ``bytes`` object written with one
    ``sendall`` — no per-event work at all on the server.
``/drain``
    the same, then it half-closes the connection: a client that only counts bytes until EOF
    measures how fast the server and the kernel can deliver (the headroom row of the table).
``/paced/N/R``
    the first ``N`` events of the same response, one ``sendall`` per event at ``R`` events per
    second. Each frame's ``event_id`` is ``event_`` followed by 21 digits: the
    ``time.monotonic_ns()`` of the moment it was sent, patched into the pre-built frame just
    before the ``sendall``. ``CLOCK_MONOTONIC`` is system-wide, so the client compares it with
    its own ``time.monotonic_ns()``.

After the response it answers a close frame with a close frame, so clients shut down cleanly.
The process prints ``PORT <n>`` when it listens and exits when its stdin closes.

The response (see :func:`response_events`) is what the beta Realtime API sends for a spoken
answer: ``response.created``, ``rate_limits.updated``, ``response.output_item.added``,
``conversation.item.created``, ``response.content_part.added``, then the deltas —
``response.audio.delta`` of 20 ms of 24 kHz pcm16 each (960 bytes, 1280 base64 characters,
a ~1.45 KB frame) with one ``response.audio_transcript.delta`` (one word) after every five audio
deltas — then ``response.audio.done``, ``response.audio_transcript.done``,
``response.content_part.done``, ``response.output_item.done`` and ``response.done`` with usage.
Compact JSON (no spaces), as the service sends it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import socket
import struct
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FRAMING_EVENTS", "ServerProcess", "encode_frame", "response_events"]

#: Events of a response that are not deltas.
FRAMING_EVENTS = 10

SAMPLE_RATE = 24_000
CHUNK_MS = 20
CHUNK_BYTES = SAMPLE_RATE * CHUNK_MS // 1000 * 2  # 960 bytes of pcm16 -> 1280 base64 chars

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RESP_ID = "resp_AH9uo0VtptyureQv7lN0a"
_ITEM_ID = "item_BaU74LY2Poiq8lBMVXZ4R"
_WORDS = ("Sure,", "here", "is", "a", "long", "spoken", "answer", "about", "the", "weather", "in",
          "Paris", "today:", "mild,", "cloudy,", "with", "a", "light", "breeze", "from", "the", "west.")


def _eid(i: int) -> str:
    return f"event_{i:021d}"  # the real ids are event_ + 21 characters


def response_events(n_audio: int, n_transcript: int) -> list[dict[str, Any]]:
    """The events of one spoken response: ``n_audio`` + ``n_transcript`` deltas + 10 framing events."""
    rnd = random.Random(1234)
    # A few distinct chunks of low-level noise (the content does not change the parsing cost).
    chunks = [base64.b64encode(rnd.randbytes(CHUNK_BYTES)).decode() for _ in range(16)]
    ids: dict[str, Any] = {"response_id": _RESP_ID, "item_id": _ITEM_ID, "output_index": 0, "content_index": 0}
    item = {"id": _ITEM_ID, "object": "realtime.item", "type": "message", "status": "in_progress",
            "role": "assistant", "content": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"object": "realtime.response", "id": _RESP_ID,
                                                  "status": "in_progress", "status_details": None,
                                                  "output": [], "usage": None}},
        {"type": "rate_limits.updated", "rate_limits": [
            {"name": "requests", "limit": 20000, "remaining": 19999, "reset_seconds": 0.003},
            {"name": "tokens", "limit": 15000000, "remaining": 14994510, "reset_seconds": 0.021}]},
        {"type": "response.output_item.added", "response_id": _RESP_ID, "output_index": 0, "item": item},
        {"type": "conversation.item.created", "previous_item_id": "item_AH9uo0VtptyureQvFFFFF", "item": item},
        {"type": "response.content_part.added", **ids, "part": {"type": "audio", "transcript": ""}},
    ]
    words: list[str] = []
    total = n_audio + n_transcript
    a = t = 0
    for k in range(total):
        # Spread the transcript deltas evenly among the audio deltas.
        want_t = (k + 1) * n_transcript // total if total else 0
        if t < want_t:
            w = (" " if t else "") + _WORDS[t % len(_WORDS)]
            words.append(w)
            events.append({"type": "response.audio_transcript.delta", **ids, "delta": w})
            t += 1
        else:
            events.append({"type": "response.audio.delta", **ids, "delta": chunks[a % len(chunks)]})
            a += 1
    transcript = "".join(words)
    part = {"type": "audio", "transcript": transcript}
    done_item = dict(item, status="completed", content=[part])
    events += [
        {"type": "response.audio.done", **ids},
        {"type": "response.audio_transcript.done", **ids, "transcript": transcript},
        {"type": "response.content_part.done", **ids, "part": part},
        {"type": "response.output_item.done", "response_id": _RESP_ID, "output_index": 0, "item": done_item},
        {"type": "response.done", "response": {
            "object": "realtime.response", "id": _RESP_ID, "status": "completed", "status_details": None,
            "output": [done_item],
            "usage": {"total_tokens": 1062 + n_audio, "input_tokens": 919, "output_tokens": 143 + n_audio,
                      "input_token_details": {"cached_tokens": 0, "text_tokens": 643, "audio_tokens": 276},
                      "output_token_details": {"text_tokens": 36 + n_transcript, "audio_tokens": 107 + n_audio}}}},
    ]
    assert len(events) == total + FRAMING_EVENTS
    # event_id second, as on the wire.
    return [{"type": ev["type"], "event_id": _eid(i + 1), **{k: v for k, v in ev.items() if k != "type"}}
            for i, ev in enumerate(events)]


SESSION_CREATED = {
    "type": "session.created", "event_id": _eid(0),
    "session": {"id": "sess_AHBMPG1ztUb3ZREx87NFG", "object": "realtime.session", "model": "gpt-4o-realtime-preview",
                "expires_at": 1728659509, "modalities": ["audio", "text"], "instructions": "Be brief.",
                "voice": "alloy", "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                                     "silence_duration_ms": 200},
                "input_audio_format": "pcm16", "output_audio_format": "pcm16", "input_audio_transcription": None,
                "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf", "tools": []},
}


def encode_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# -- the server process ------------------------------------------------------------------------

class _Conn:
    """Reads the client's (masked) frames; enough of RFC 6455 for what benchmark clients send."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _need(self, n: int) -> bool:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_request(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head

    def read_frame(self) -> tuple[int, bytes] | None:
        if not self._need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126:
            if not self._need(4):
                return None
            n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self._need(10):
                return None
            n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
        mask = b""
        if b1 & 0x80:
            if not self._need(pos + 4):
                return None
            mask, pos = self.buf[pos:pos + 4], pos + 4
        if not self._need(pos + n):
            return None
        payload, self.buf = self.buf[pos:pos + n], self.buf[pos + n:]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return b0 & 0x0F, payload


class _Server:
    def __init__(self, n_audio: int, n_transcript: int) -> None:
        self.events = response_events(n_audio, n_transcript)
        self.session_frame = encode_frame(_dumps(SESSION_CREATED))
        self.frames = [encode_frame(_dumps(ev)) for ev in self.events]
        self.blob = b"".join(self.frames)
        self.paced = []
        for fr in self.frames:  # where the 21 digits of event_id sit in each pre-built frame
            i = fr.index(b'"event_id":"event_') + len(b'"event_id":"event_')
            self.paced.append((fr, i))

    def handle(self, sock: socket.socket) -> None:
        try:
            self._handle(sock)
        except OSError:
            pass
        finally:
            sock.close()

    def _handle(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock)
        head = conn.read_request()
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        # Parameters travel in the path: openai-python appends "/realtime" and its own query.
        segs = urlsplit(target).path.strip("/").split("/")
        mode = segs[0] or "blast"
        sock.sendall(self.session_frame)
        # Wait for the client's request (any data frame); answer a close at once.
        while True:
            fr = conn.read_frame()
            if fr is None:
                return
            if fr[0] == 0x8:
                sock.sendall(encode_frame(fr[1][:2], 0x8))
                return
            if fr[0] in (0x1, 0x2):
                break
        if mode == "drain":
            sock.sendall(self.blob)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
            return
        if mode == "paced":
            self._paced(sock, int(segs[1]), float(segs[2]))
        else:
            sock.sendall(self.blob)
        while True:  # until the client's close frame
            fr = conn.read_frame()
            if fr is None:
                return
            if fr[0] == 0x8:
                sock.sendall(encode_frame(fr[1][:2], 0x8))
                return

    def _paced(self, sock: socket.socket, n: int, rate: float) -> None:
        frames = [*self.paced[:max(n - 1, 0)], self.paced[-1]]  # always end with response.done
        period = int(1e9 / rate)
        mono, sleep, send = time.monotonic_ns, time.sleep, sock.sendall
        start = mono() + 1_000_000
        for k, (fr, at) in enumerate(frames):
            delay = start + k * period - mono()
            if delay > 0:
                sleep(delay / 1e9)
            buf = bytearray(fr)
            buf[at:at + 21] = b"%021d" % mono()
            send(buf)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="pre-encoded Realtime event server for the benchmarks")
    ap.add_argument("--audio", type=int, default=20_000, help="audio deltas per response")
    ap.add_argument("--transcript", type=int, default=4_000, help="transcript deltas per response")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    server = _Server(args.audio, args.transcript)
    listener = socket.create_server(("127.0.0.1", args.port), backlog=64)

    def accept_loop() -> None:
        while True:
            s, _ = listener.accept()
            threading.Thread(target=server.handle, args=(s,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    print(f"PORT {listener.getsockname()[1]} EVENTS {len(server.frames)} BYTES {len(server.blob)}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)


class ServerProcess:
    """Start :func:`main` in a child process; a context manager.

    Attributes:
        port, events (per response), nbytes (of the response frames), url(mode).
    """

    def __init__(self, n_audio: int, n_transcript: int) -> None:
        self.n_audio = n_audio
        self.n_transcript = n_transcript
        self.proc: Any = None

    def __enter__(self) -> ServerProcess:
        import os
        import subprocess

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--audio", str(self.n_audio),
             "--transcript", str(self.n_transcript)],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORT":
            self.__exit__()
            raise RuntimeError("the benchmark server did not start")
        self.port, self.events, self.nbytes = int(line[1]), int(line[3]), int(line[5])
        return self

    def url(self, mode: str = "blast", *params: object) -> str:
        """``ws://127.0.0.1:PORT/mode[/param...]`` (e.g. ``url("paced", 2000, 1000)``)."""
        return "/".join([f"ws://127.0.0.1:{self.port}", mode, *map(str, params)])

    def __exit__(self, *exc: object) -> None:
        p = self.proc
        if p is None:
            return
        try:
            p.stdin.close()
            p.wait(5)
        except Exception:
            p.kill()
            p.wait()
        p.stdout.close()


if __name__ == "__main__":
    main()
