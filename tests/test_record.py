"""Recording, replaying and inspecting sessions: rtsync.record, rtsync.server.replay, rtsync.inspect.

The Recorder is tested directly with real event objects; the client-level tests record a real
session against the LocalServer over loopback (``RealtimeClient(..., record=...)``), replay it
with a ReplayServer to a fresh client, and read it back with the timeline.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtsync.audio.formats import read_wav, ulaw_encode
from rtsync.events import parse_event
from rtsync.events.local import CloseEvent, ProtocolErrorEvent
from rtsync.inspect import timeline
from rtsync.record import Recorder, load_recording, wav_paths

KEY = "sk-rtsync-record-test-" + os.urandom(6).hex()


def b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode("ascii")


def tone(seconds: float, freq: float = 300.0, level: float = 8000.0) -> np.ndarray:
    t = np.arange(int(24000 * seconds)) / 24000.0
    return (np.sin(2 * np.pi * freq * t) * level).astype(np.int16)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def audio_delta(response_id: str, samples: np.ndarray) -> Any:
    return parse_event({"type": "response.audio.delta", "event_id": "event_x", "response_id": response_id,
                        "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": b64(samples)})


# ------------------------------------------------------------------------------------ Recorder


def test_header_and_event_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    rec = Recorder(path, url="wss://example.test/v1/realtime?model=m", model="m", dialect="beta")
    rec.sent({"type": "response.create", "event_id": "evt_1"})
    rec.received(parse_event({"type": "response.created", "event_id": "e1", "response": {"id": "resp_1"}}))
    rec.close()
    lines = lines_of(path)
    header = lines[0]
    assert header["format"] == "rtsync-recording"
    assert header["version"] == 1
    assert header["model"] == "m"
    assert header["url"] == "wss://example.test/v1/realtime?model=m"
    assert header["dialect"] == "beta"
    assert header["rtsync_version"]
    assert header["started"].endswith("+00:00")
    assert header["audio"] == {"input": "s.input.wav", "output": "s.output.wav", "rate": 24000, "format": "pcm16"}
    assert [(x["dir"], x["event"]["type"]) for x in lines[1:]] == [("send", "response.create"),
                                                                  ("recv", "response.created")]
    assert lines[1]["event"] == {"type": "response.create", "event_id": "evt_1"}
    assert lines[2]["event"]["response"] == {"id": "resp_1"}
    assert 0 <= lines[1]["t"] <= lines[2]["t"]


def test_audio_goes_to_wavs_and_rebuilds_exactly(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    rng = np.random.default_rng(1)
    sent_chunks = [rng.integers(-32768, 32767, n, dtype=np.int16) for n in (2400, 1, 4800, 333)]
    recv_chunks = [rng.integers(-32768, 32767, n, dtype=np.int16) for n in (2400, 2400, 17)]
    originals: list[dict[str, Any]] = []
    with Recorder(path, url="ws://x", model="m") as rec:
        for chunk in sent_chunks:
            payload = {"type": "input_audio_buffer.append", "event_id": f"evt_{len(originals)}", "audio": b64(chunk)}
            originals.append(payload)
            rec.sent(payload)
        for chunk in recv_chunks:
            ev = audio_delta("resp_1", chunk)
            originals.append(ev.to_dict())
            rec.received(ev)
    lines = lines_of(path)[1:]
    # Not inline: the JSONL holds references.
    assert all("audio" not in x["event"] and "delta" not in x["event"] for x in lines)
    assert [x["audio"]["offset"] for x in lines[:4]] == [0, 2400, 2401, 7201]
    assert [x["audio"]["samples"] for x in lines[4:]] == [2400, 2400, 17]
    wavs = wav_paths(path)
    inp, rate_in = read_wav(wavs["input"])
    out, rate_out = read_wav(wavs["output"])
    assert rate_in == rate_out == 24000
    assert np.array_equal(inp, np.concatenate(sent_chunks))
    assert np.array_equal(out, np.concatenate(recv_chunks))
    loaded = load_recording(path)
    assert [r.event for r in loaded.events] == originals
    assert [r.direction for r in loaded.events] == ["send"] * 4 + ["recv"] * 3
    assert [r.audio_samples for r in loaded.events] == [2400, 1, 4800, 333, 2400, 2400, 17]


def test_wavs_are_valid_before_close(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    rec = Recorder(path)
    chunk = tone(0.1)
    rec.received(audio_delta("resp_1", chunk))
    try:
        samples, rate = read_wav(wav_paths(path)["output"])
        assert rate == 24000
        assert np.array_equal(samples, chunk)
        assert load_recording(path).events[0].event["delta"] == b64(chunk)
    finally:
        rec.close()


def test_g711_and_odd_audio_stay_inline(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    codes = base64.b64encode(ulaw_encode(tone(0.05)).tobytes()).decode("ascii")
    odd = base64.b64encode(b"\x01\x02\x03").decode("ascii")
    with Recorder(path) as rec:
        rec.sent({"type": "input_audio_buffer.append", "audio": odd})
        rec.sent({"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}})
        rec.sent({"type": "input_audio_buffer.append", "audio": codes})
        rec.received(parse_event({"type": "session.updated", "session": {"output_audio_format": "g711_alaw"}}))
        rec.received(parse_event({"type": "response.audio.delta", "response_id": "r", "delta": codes}))
    lines = lines_of(path)[1:]
    assert lines[0]["event"]["audio"] == odd and "audio" not in lines[0]
    assert lines[2]["event"]["audio"] == codes and "audio" not in lines[2]
    assert lines[4]["event"]["delta"] == codes and "audio" not in lines[4]
    assert read_wav(wav_paths(path)["input"])[0].size == 0
    assert read_wav(wav_paths(path)["output"])[0].size == 0


def test_key_is_never_written(tmp_path: Path) -> None:
    from rtsync._log import register_secret

    register_secret(KEY)
    path = tmp_path / "k.jsonl"
    with Recorder(path, url=f"wss://example.test/v1/realtime?api-key={KEY}", model="m") as rec:
        rec.sent({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": f"my key is {KEY}"}]}})
        rec.sent({"type": "session.update", "session": {"instructions": f"Authorization: Bearer {KEY}"}})
        rec.sent({"type": "x.note", "note": f'Bearer {KEY}\\"quoted" api_key="{KEY}"'})
        rec.received(parse_event({"type": "error", "error": {"type": "x", "message": f"bad key {KEY}"}}))
        rec.received(CloseEvent(code=1011, reason=f"failed with {KEY}", error=RuntimeError(KEY)))
    for file in (path, *wav_paths(path).values()):
        assert KEY.encode() not in file.read_bytes()
    lines = lines_of(path)  # every line is still valid JSON
    assert lines[3]["event"]["note"].startswith("Bearer ***")
    text = path.read_text()
    assert "my key is ***" in text
    assert "bad key ***" in text


def test_concurrent_senders_keep_lines_whole_and_audio_exact(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rec = Recorder(path)
    threads_n, per_thread = 8, 150
    start = threading.Barrier(threads_n)

    def sender(k: int) -> None:
        start.wait()
        for i in range(per_thread):
            chunk = np.full(10 + (i % 7), k * 1000 + i % 1000, dtype=np.int16)
            rec.sent({"type": "input_audio_buffer.append", "event_id": f"evt_{k}_{i}", "audio": b64(chunk)})
            rec.sent({"type": "response.cancel", "event_id": f"c_{k}_{i}"})

    workers = [threading.Thread(target=sender, args=(k,)) for k in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    rec.close()
    loaded = load_recording(path)
    assert len(loaded.events) == threads_n * per_thread * 2
    times = [r.t for r in loaded.events]
    assert times == sorted(times)
    offsets = sorted((r.event["event_id"], r.audio_samples) for r in loaded.events if r.audio_samples)
    assert len(offsets) == threads_n * per_thread
    for r in loaded.events:
        if r.type == "input_audio_buffer.append":
            k, i = (int(x) for x in r.event["event_id"].split("_")[1:])
            got = np.frombuffer(base64.b64decode(r.event["audio"]), dtype="<i2")
            assert np.array_equal(got, np.full(10 + (i % 7), k * 1000 + i % 1000, dtype=np.int16))
    total = sum(10 + (i % 7) for i in range(per_thread)) * threads_n
    assert read_wav(wav_paths(path)["input"])[0].size == total


def test_close_is_idempotent_and_later_calls_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    rec = Recorder(path)
    rec.close()
    rec.close()
    rec.sent({"type": "response.create"})
    rec.received(parse_event({"type": "response.created", "response": {"id": "r"}}))
    assert rec.closed
    assert len(lines_of(path)) == 1


def test_load_ignores_a_cut_last_line_and_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    with Recorder(path) as rec:
        rec.sent({"type": "response.create"})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"t": 1.0, "dir": "recv", "ev')
    assert [r.type for r in load_recording(path)] == ["response.create"]
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(ValueError, match="not an rtsync recording"):
        load_recording(other)


# ------------------------------------------------------------------------------- replay server


def _hand_made(tmp_path: Path, close: CloseEvent) -> Path:
    path = tmp_path / "hand.jsonl"
    with Recorder(path, url="ws://x", model="m") as rec:
        rec.received(parse_event({"type": "session.created", "event_id": "e0",
                                  "session": {"id": "sess_hand", "object": "realtime.session"}}))
        rec.sent({"type": "response.create", "event_id": "evt_a"})
        rec.received(parse_event({"type": "error", "event_id": "e1", "error": {
            "type": "invalid_request_error", "code": "x", "message": "recorded error", "event_id": "evt_a"}}))
        rec.received(ProtocolErrorEvent(error=ValueError("bad"), data="this is not json"))
        rec.received(close)
    return path


def test_replay_of_a_server_close_and_a_bad_frame(tmp_path: Path) -> None:
    from rtsync import RealtimeClient
    from rtsync.server.replay import ReplayProgress, ReplayServer

    path = _hand_made(tmp_path, CloseEvent(code=4000, reason="bye", initiated_by_client=False))
    progress: list[ReplayProgress] = []
    with ReplayServer(path, speed=None, on_progress=progress.append) as server:
        client = RealtimeClient(url=server.url, api_key="")
        counter = Counter(client)
        client.connect()
        assert client.session_id == "sess_hand"
        try:
            sent_id = client.create_response()
            assert server.wait_finished(1, timeout=10)
            counter.wait("rtsync.close", 1)
        finally:
            client.close()
    got = counter.events
    types = [ev.type for ev in got]
    assert types == ["session.created", "error", "rtsync.protocol_error", "rtsync.close"]
    assert got[1].error.event_id == sent_id  # remapped to the live client's id
    assert got[1].error.message == "recorded error"
    assert got[3].code == 4000 and got[3].reason == "bye"
    assert progress[-1].finished and progress[-1].done == progress[-1].total == 5
    assert [p.done for p in progress] == sorted(p.done for p in progress)


def test_replay_server_rejects_a_bad_speed(tmp_path: Path) -> None:
    from rtsync.server.replay import ReplayServer

    path = _hand_made(tmp_path, CloseEvent(code=1000, initiated_by_client=True))
    with pytest.raises(ValueError, match="speed"):
        ReplayServer(path, speed=-1)


# ------------------------------------------------------------------------ client-level (record=)


class Counter:
    """Counts delivered events of some types, so a driver can wait without racing the replay."""

    def __init__(self, client: Any) -> None:
        self.cond = threading.Condition()
        self.counts: dict[str, int] = {}
        self.events: list[Any] = []
        client.on("*", self._on)

    def _on(self, ev: Any) -> None:
        with self.cond:
            self.events.append(ev)
            self.counts[ev.type] = self.counts.get(ev.type, 0) + 1
            self.cond.notify_all()

    def wait(self, type_: str, n: int, timeout: float = 20.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.counts.get(type_, 0) >= n, timeout), (type_, n, self.counts)


def drive(client: Any, counter: Counter) -> dict[str, Any]:
    """One session: a text turn, a VAD audio turn, a manual audio turn, a failing commit."""
    out: dict[str, Any] = {}
    reply = client.ask("hello there")
    out["text"] = reply.text
    counter.wait("response.done", 1)
    # Server VAD (the session default) with an automatic response: 1 s of tone, then silence.
    client.append_audio(tone(1.0))
    client.append_audio(np.zeros(24000 * 6 // 10, dtype=np.int16))
    counter.wait("response.done", 2)
    # Manual turn.
    client.update_session(turn_detection=None)
    counter.wait("session.updated", 1)
    client.append_audio(tone(0.5, 500))
    client.commit_audio()
    client.create_response(modalities=["audio", "text"])
    counter.wait("response.done", 3)
    out["bad_commit"] = client.commit_audio()  # the buffer is empty: an error
    counter.wait("error", 1)
    return out


def _server_events(events: list[Any]) -> list[dict[str, Any]]:
    return [ev.to_dict() for ev in events if not ev.type.startswith("rtsync.")]


def _out_audio(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta")


@pytest.fixture
def recorded(tmp_path: Path) -> dict[str, Any]:
    """A real session recorded against a LocalServer that requires KEY."""
    from rtsync import RealtimeClient
    from rtsync.server import LocalServer

    path = tmp_path / "s.jsonl"
    with LocalServer(api_key=KEY, voice="tone") as server:
        client = RealtimeClient(url=server.url, api_key=KEY, record=path)
        counter = Counter(client)
        client.connect()
        try:
            out = drive(client, counter)
        finally:
            client.close()
    return {"path": path, "events": counter.events, **out}


def test_close_from_a_callback_closes_the_recording(tmp_path: Path) -> None:
    """client.close() inside a callback cannot join the dispatcher; the recording still ends whole."""
    from rtsync import RealtimeClient
    from rtsync.server import LocalServer

    path = tmp_path / "cb.jsonl"
    closed = threading.Event()
    with LocalServer() as server:
        client = RealtimeClient(url=server.url, record=path)
        client.on("response.done", lambda ev: client.close())
        client.on("rtsync.close", lambda ev: closed.set())
        client.connect()
        client.create_item("hello")
        client.create_response()
        assert closed.wait(20)
        recorder = client._recorder
        assert recorder is not None and recorder.closed  # internal hooks run before the callbacks
        lines = lines_of(path)
        assert lines[-1]["event"]["type"] == "rtsync.close"
        assert lines[-1]["event"]["initiated_by_client"] is True
        assert "response.done" in [x["event"]["type"] for x in lines[1:]]
        client.close()


def test_client_records_every_event(recorded: dict[str, Any]) -> None:
    path: Path = recorded["path"]
    loaded = load_recording(path)
    recv = [r.event for r in loaded.events if r.direction == "recv"]
    delivered = [ev.to_dict() for ev in recorded["events"]]
    assert [e["type"] for e in recv] == [e["type"] for e in delivered]
    assert _server_events(recorded["events"]) == [e for e in recv if not e["type"].startswith("rtsync.")]
    assert recv[-1]["type"] == "rtsync.close" and recv[-1]["initiated_by_client"] is True
    sent_types = [r.type for r in loaded.events if r.direction == "send"]
    assert sent_types[:2] == ["conversation.item.create", "response.create"]
    assert sent_types.count("input_audio_buffer.append") == 3
    assert sent_types.count("input_audio_buffer.commit") == 2
    # Audio in the WAVs, exactly what was sent and received.
    inp = read_wav(wav_paths(path)["input"])[0]
    assert np.array_equal(inp, np.concatenate([tone(1.0), np.zeros(14400, dtype=np.int16), tone(0.5, 500)]))
    out = read_wav(wav_paths(path)["output"])[0]
    assert out.size > 0 and out.astype("<i2").tobytes() == _out_audio(delivered)
    for file in (path, *wav_paths(path).values()):
        assert KEY.encode() not in file.read_bytes()


def test_replay_gives_the_recorded_events(recorded: dict[str, Any]) -> None:
    from rtsync import RealtimeClient
    from rtsync.server.replay import ReplayServer

    path: Path = recorded["path"]
    with ReplayServer(path, speed=None) as server:
        client = RealtimeClient(url=server.url, api_key="")
        counter = Counter(client)
        client.connect()
        try:
            out = drive(client, counter)
        finally:
            client.close()
        assert server.wait_finished(1, timeout=10)
    assert out["text"] == recorded["text"] == "You said: hello there"
    want = _server_events(recorded["events"])
    got = _server_events(counter.events)
    assert [e["type"] for e in got] == [e["type"] for e in want]
    errors = [(i, e) for i, e in enumerate(got) if e["type"] == "error"]
    assert len(errors) == 1
    i, err = errors[0]
    assert err["error"]["event_id"] == out["bad_commit"]  # the live client's id
    assert want[i]["error"]["event_id"] == recorded["bad_commit"]
    want[i] = {**want[i], "error": {**want[i]["error"], "event_id": out["bad_commit"]}}
    assert got == want
    assert _out_audio(got) == _out_audio(want) != b""
    assert counter.events[-1].type == "rtsync.close"


def test_replay_at_recorded_speed(recorded: dict[str, Any]) -> None:
    from rtsync import RealtimeClient
    from rtsync.server.replay import ReplayServer

    with ReplayServer(recorded["path"], speed=4.0, sync=True) as server:
        client = RealtimeClient(url=server.url, api_key="")
        counter = Counter(client)
        client.connect()
        try:
            drive(client, counter)
        finally:
            client.close()
    assert [e["type"] for e in _server_events(counter.events)] == \
        [e["type"] for e in _server_events(recorded["events"])]


def test_inspect_lists_turns_responses_and_usage(recorded: dict[str, Any], capsys: Any) -> None:
    from rtsync.cli import main

    path: Path = recorded["path"]
    events = [ev.to_dict() for ev in recorded["events"]]
    lines = timeline(path)
    text = "\n".join(lines)
    assert "user turn 1: text \"hello there\"" in text
    started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
    vad_s = (stopped["audio_end_ms"] - started["audio_start_ms"]) / 1000
    assert f"user turn 2: audio {vad_s:.1f} s" in text
    transcripts = [e["transcript"] for e in events if e["type"] == "response.audio_transcript.done"]
    assert transcripts[1].startswith("I heard ")  # the server's measure of the manual turn
    manual_s = transcripts[1].split()[2]
    assert f"user turn 3: audio {manual_s} s" in text
    dones = [e["response"] for e in events if e["type"] == "response.done"]
    assert len(dones) == 3
    response_lines = [line for line in lines if " completed; " in line]
    assert len(response_lines) == 3
    for resp, line in zip(dones, response_lines, strict=True):
        assert resp["id"] in line
        assert f"total {resp['usage']['total_tokens']}" in line
    assert '"You said: hello there"' in response_lines[0]
    assert f'transcript "{transcripts[1]}"' in response_lines[2]
    out_ms = round(sum(len(base64.b64decode(e["delta"])) // 2 for e in events
                       if e["type"] == "response.audio.delta" and e["response_id"] == dones[2]["id"]) / 24)
    assert f"audio {out_ms} ms" in response_lines[2]
    assert "ERROR invalid_request_error" in text
    assert "closed by the client: code 1000" in text
    total = sum(r["usage"]["total_tokens"] for r in dones)
    assert f"total {total}" in lines[-2] or f"total {total}" in lines[-1]
    assert any("3 user turns; 3 responses (3 completed)" in line for line in lines)
    assert main(["inspect", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    assert main(["inspect", str(path.with_name("missing.jsonl"))]) == 2


def test_inspect_shows_interruptions(tmp_path: Path) -> None:
    from rtsync import RealtimeClient
    from rtsync.server import LocalServer

    path = tmp_path / "cancel.jsonl"
    with LocalServer(text_delay=0.05, voice="tone") as server:
        client = RealtimeClient(url=server.url, api_key="", record=path)
        counter = Counter(client)
        client.connect()
        try:
            client.create_item("one two three four five six seven eight nine ten")
            client.create_response(modalities=["text"])
            counter.wait("response.text.delta", 1)
            client.cancel_response()
            counter.wait("response.done", 1)
        finally:
            client.close()
    text = "\n".join(timeline(path))
    assert "INTERRUPT: response.cancel sent" in text
    assert " cancelled (client_cancelled)" in text
    assert "interruptions 1" in text


def test_cli_parses_record_replay_and_inspect() -> None:
    from rtsync.cli import build_parser

    p = build_parser()
    a = p.parse_args(["serve", "--replay", "s.jsonl", "--speed", "0"])
    assert a.replay == "s.jsonl" and a.speed == 0.0
    assert p.parse_args(["serve"]).replay is None
    assert p.parse_args(["chat", "--record", "c.jsonl"]).record == "c.jsonl"
    assert p.parse_args(["voice", "--record", "v.jsonl"]).record == "v.jsonl"
    assert p.parse_args(["inspect", "f.jsonl"]).file == "f.jsonl"
