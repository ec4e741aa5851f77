"""Audio behaviour of the local server (server VAD, spoken responses, truncation, transcription).

Like ``test_local_server.py``, the peer is plain ``websocket-client`` over a real loopback
WebSocket. Speech input comes from espeak-ng, generated at test time; without espeak-ng the
speech tests are skipped (and fail when the ``CI`` environment variable is set).
"""

from __future__ import annotations

import base64
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websocket

from rtsync.audio.formats import decode_audio, encode_audio, read_wav, resample
from rtsync.server import LocalServer
from rtsync.server.vad import frame_dbfs, threshold_dbfs
from rtsync.server.voice import synthesize
from tests.server.test_local_server import Peer

pytestmark = pytest.mark.timeout(20)

RATE = 24000
LEAD_MS = 500  # silence before the speech
TAIL_MS = 1000  # silence after it




@pytest.fixture
def connect() -> Iterator[Any]:
    peers: list[Peer] = []

    def open_peer(server: LocalServer) -> Peer:
        peer = Peer(websocket.create_connection(server.url, timeout=5))
        peers.append(peer)
        peer.expect("session.created")
        return peer

    yield open_peer
    for peer in peers:
        peer.close()


@pytest.fixture
def peer(make_server: Any, connect: Any) -> Peer:
    return connect(make_server())


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """espeak-ng speech at 24 kHz, int16."""
    program = shutil.which("espeak-ng")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is required on CI")
        pytest.skip("espeak-ng is not installed")
    path: Path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run([program, "-w", str(path), "hello there how are you today"], check=True)
    samples, rate = read_wav(path)
    return np.asarray(resample(samples, rate, RATE), dtype=np.int16)


def _silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def _append(peer: Peer, samples: np.ndarray, fmt: str = "pcm16", chunk_bytes: int = 2470) -> None:
    """Append in chunks that do not fall on the VAD's 10 ms frames."""
    data = encode_audio(samples, fmt, RATE)
    for offset in range(0, len(data), chunk_bytes):
        peer.send({"type": "input_audio_buffer.append",
                   "audio": base64.b64encode(data[offset:offset + chunk_bytes]).decode()})


def _barrier(peer: Peer) -> list[dict[str, Any]]:
    """Everything the server sent before it answers an empty session.update."""
    peer.send({"type": "session.update", "session": {}})
    return peer.until("session.updated")[:-1]


def _audio_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta")


def _transcript(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.audio_transcript.delta")


def _speech_bounds(samples: np.ndarray) -> tuple[float, float]:
    """Start and end (ms) of the speech, independently of the server: |x| above -40 dBFS."""
    loud = np.nonzero(np.abs(samples.astype(np.int32)) > 32768 * 10 ** (-40 / 20))[0]
    return loud[0] * 1000 / RATE, (loud[-1] + 1) * 1000 / RATE


def test_threshold_mapping() -> None:
    assert threshold_dbfs(0.5) == -40.0
    assert threshold_dbfs(0.0) == -70.0 and threshold_dbfs(1.0) == -10.0
    assert frame_dbfs(np.zeros(240, dtype=np.int16)) == -math.inf
    assert frame_dbfs(np.full(240, 5000, dtype=np.int16)) == -math.inf  # DC is not sound


def test_server_vad_turn_on_speech(peer: Peer, speech: np.ndarray) -> None:
    peer.send({"type": "session.update", "session": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 500}}})
    peer.expect("session.updated")
    _append(peer, np.concatenate((_silence(LEAD_MS), speech, _silence(TAIL_MS))))

    started = peer.expect("input_audio_buffer.speech_started")
    stopped = peer.expect("input_audio_buffer.speech_stopped")
    assert stopped["item_id"] == started["item_id"]
    first, last = _speech_bounds(speech)
    assert abs(started["audio_start_ms"] - (LEAD_MS + first - 300)) <= 40, (started, first)
    assert abs(stopped["audio_end_ms"] - (LEAD_MS + last + 500)) <= 40, (stopped, last)

    committed = peer.expect("input_audio_buffer.committed")
    assert committed == {**committed, "item_id": started["item_id"], "previous_item_id": None}
    created = peer.expect("conversation.item.created")
    assert created["item"]["id"] == started["item_id"]
    assert created["item"]["role"] == "user"
    assert created["item"]["content"] == [{"type": "input_audio", "transcript": None}]

    events = peer.until("response.done")  # the automatic response
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-5:] == ["response.audio.done", "response.audio_transcript.done", "response.content_part.done",
                          "response.output_item.done", "response.done"]
    seconds = (stopped["audio_end_ms"] - started["audio_start_ms"]) / 1000
    expected = f"I heard {seconds:.1f} seconds of speech."
    transcript = _transcript(events)
    assert transcript == expected
    assert "response.text.delta" not in kinds
    part = next(e for e in events if e["type"] == "response.content_part.added")["part"]
    assert part == {"type": "audio", "transcript": ""}
    audio = _audio_bytes(events)
    assert len(decode_audio(audio, "pcm16")) == len(synthesize(expected))
    assert events[-4]["transcript"] == expected
    assert events[-3]["part"] == {"type": "audio", "transcript": expected}
    response = events[-1]["response"]
    assert response["status"] == "completed"
    assert response["output"][0]["content"] == [{"type": "audio", "transcript": expected}]
    assert response["usage"]["output_token_details"]["audio_tokens"] > 0
    # Interleaved: transcript words arrive between audio chunks, not all at the end.
    first_audio = kinds.index("response.audio.delta")
    last_word = max(i for i, k in enumerate(kinds) if k == "response.audio_transcript.delta")
    assert last_word > first_audio
    assert all(len(base64.b64decode(e["delta"])) <= 4800 for e in events if e["type"] == "response.audio.delta")
    assert _barrier(peer) == []


def test_silence_and_quiet_noise_do_not_trigger(peer: Peer) -> None:
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(RATE) * 32768 * 10 ** (-60 / 20)
    _append(peer, np.concatenate((_silence(1000), np.round(noise).astype(np.int16), _silence(300))))
    assert _barrier(peer) == []


def test_g711_ulaw_output_is_8khz(peer: Peer) -> None:
    peer.send({"type": "session.update", "session": {"output_audio_format": "g711_ulaw"}})
    peer.expect("session.updated")
    peer.user_text("g711 please")
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    audio = _audio_bytes(events)
    voice = synthesize("You said: g711 please")
    assert len(audio) == len(encode_audio(voice, "g711_ulaw", RATE))
    assert abs(len(audio) / 8 - len(voice) / 24) <= 1  # 8 bytes (samples) per ms
    assert max(len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.audio.delta") == 800
    assert events[-1]["response"]["output_audio_format"] == "g711_ulaw"


def test_g711_input_vad(peer: Peer, speech: np.ndarray) -> None:
    peer.send({"type": "session.update", "session": {"input_audio_format": "g711_alaw",
                                                     "turn_detection": {"create_response": False}}})
    peer.expect("session.updated")
    _append(peer, np.concatenate((_silence(LEAD_MS), speech, _silence(TAIL_MS))), "g711_alaw", 333)
    started = peer.expect("input_audio_buffer.speech_started")
    first, _ = _speech_bounds(speech)
    assert abs(started["audio_start_ms"] - (LEAD_MS + first - 300)) <= 40
    peer.until("conversation.item.created")
    assert _barrier(peer) == []  # create_response false: no automatic response


def test_barge_in_cancels_a_paced_audio_response(make_server: Any, connect: Any, speech: np.ndarray) -> None:
    peer = connect(make_server(audio_pace=1.0))
    peer.send({"type": "session.update", "session": {"turn_detection": {"create_response": False}}})
    peer.expect("session.updated")
    peer.user_text(" ".join(["talking"] * 20))
    peer.send({"type": "response.create"})
    before = peer.until("response.audio.delta")
    _append(peer, np.concatenate((speech, _silence(500))))
    events = before + peer.until("response.done")
    kinds = [e["type"] for e in events]
    start = kinds.index("input_audio_buffer.speech_started")
    tail = [k for k in kinds[start:] if k not in ("response.audio.delta", "response.audio_transcript.delta")]
    assert tail == ["input_audio_buffer.speech_started", "response.audio.done", "response.audio_transcript.done",
                    "response.content_part.done", "response.output_item.done", "response.done"]
    transcript = _transcript(events)
    assert events[-4]["transcript"] == transcript and 0 < len(transcript) < len(" talking") * 20
    assert events[-2]["item"]["status"] == "incomplete"
    response = events[-1]["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert response["output"][0]["content"] == [{"type": "audio", "transcript": transcript}]
    after = peer.until("conversation.item.created")
    assert [e["type"] for e in after] == ["input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
                                          "conversation.item.created"]


def test_client_cancel_of_an_audio_response(make_server: Any, connect: Any) -> None:
    peer = connect(make_server(audio_pace=0.5))
    peer.user_text(" ".join(["word"] * 20))
    peer.send({"type": "response.create"})
    events = peer.until("response.audio.delta")
    peer.send({"type": "response.cancel"})
    events += peer.until("response.done")
    assert [e["type"] for e in events[-5:]] == [
        "response.audio.done", "response.audio_transcript.done", "response.content_part.done",
        "response.output_item.done", "response.done"]
    assert events[-2]["item"]["status"] == "incomplete"
    assert events[-1]["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}


def test_truncate_checks_the_audio_length(peer: Peer) -> None:
    peer.user_text("one two three four five six")
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    item_id = events[-1]["response"]["output"][0]["id"]
    have = len(_audio_bytes(events)) // 48
    full = _transcript(events)

    peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
               "audio_end_ms": have + 1000})
    error = peer.error()
    assert error["message"] == f"Audio content of {have}ms is already shorter than {have + 1000}ms"
    assert error["code"] is None and error["type"] == "invalid_request_error"

    half = have // 2
    peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": half})
    truncated = peer.expect("conversation.item.truncated")
    assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (item_id, 0, half)
    peer.send({"type": "conversation.item.retrieve", "item_id": item_id})
    kept = peer.expect("conversation.item.retrieved")["item"]["content"][0]["transcript"]
    assert full.startswith(kept) and 0 < len(kept) < len(full)

    peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
               "audio_end_ms": half + 1})  # the audio after the point is gone
    assert peer.error()["message"] == f"Audio content of {half}ms is already shorter than {half + 1}ms"


def test_manual_commit_then_response_and_transcription(peer: Peer) -> None:
    peer.send({"type": "session.update", "session": {"turn_detection": None,
                                                     "input_audio_transcription": {"model": "whisper-1"}}})
    peer.expect("session.updated")
    t = np.arange(RATE * 3 // 2) / RATE
    _append(peer, np.round(np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16))  # 1.5 s, loud
    assert _barrier(peer) == []  # no VAD
    peer.send({"type": "input_audio_buffer.commit"})
    committed = peer.expect("input_audio_buffer.committed")
    created = peer.expect("conversation.item.created")
    assert created["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    peer.send({"type": "response.create"})
    events = peer.until("response.done")
    transcription = [e for e in events if e["type"].startswith("conversation.item.input_audio_transcription")]
    if len(transcription) < 2:
        transcription += [e for e in _barrier(peer) if e["type"].startswith("conversation.item.input")]
    assert [e["type"] for e in transcription] == [
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed"]
    assert transcription[0]["delta"] == transcription[1]["transcript"] == "[speech 1.5 s]"
    assert all(e["item_id"] == committed["item_id"] and e["content_index"] == 0 for e in transcription)
    assert _transcript(events) == "I heard 1.5 seconds of speech."


def test_truncate_while_streaming(make_server: Any, connect: Any) -> None:
    peer = connect(make_server(audio_pace=1.0))
    peer.user_text(" ".join(["streaming"] * 20))
    peer.send({"type": "response.create"})
    events = peer.until("response.audio.delta")
    item_id = events[-1]["item_id"]
    events += peer.until("response.audio.delta")
    peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 60000})
    error = peer.until("error")[-1]["error"]
    have = int(error["message"].split("ms")[0].rsplit(" ", 1)[1])
    assert have >= 200 and have % 100 == 0  # only the audio generated so far
    peer.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 150})
    assert peer.until("conversation.item.truncated")[-1]["audio_end_ms"] == 150
    peer.send({"type": "response.cancel"})
    assert peer.until("response.done")[-1]["response"]["status"] == "cancelled"
    peer.send({"type": "conversation.item.retrieve", "item_id": item_id})
    assert len(peer.expect("conversation.item.retrieved")["item"]["content"][0]["transcript"]) < len("You said:")


def test_tone_voice_and_bad_options(make_server: Any, connect: Any) -> None:
    with pytest.raises(ValueError):
        LocalServer(voice="robot")
    with pytest.raises(ValueError):
        LocalServer(audio_pace=-1)
    peer = connect(make_server(voice="tone"))
    peer.user_text("beep")
    peer.send({"type": "response.create"})
    audio = decode_audio(_audio_bytes(peer.until("response.done")), "pcm16")
    assert len(audio) == 3 * RATE * 3 // 10  # "You said: beep": three words, 300 ms each
    assert 0.2 < np.max(np.abs(audio)) / 32768 < 0.26  # -12 dBFS peak
