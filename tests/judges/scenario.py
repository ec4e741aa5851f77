"""A broad scenario against the local server through a raw WebSocket peer, every frame recorded.

:func:`run_scenario` drives one connection in the GA or the beta dialect and returns every frame
that crossed the wire, both directions, in order. The peer writes its client frames by hand (no
rtsync code builds them), so what the judges check is exactly what was sent and received.

The scenario: ``session.update`` (tools, input transcription, server VAD, the newer options),
a server-VAD audio turn answered with audio, input transcription, truncate, retrieve, delete,
a function call and its output, a text reply over an ``item_reference`` input, an out-of-band
response, a cancel, an error, a buffer clear.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import connect

Json = dict[str, Any]

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

RATE = 24000


def tone_pcm16(seconds: float, amplitude: float = 0.25, hz: float = 220.0) -> bytes:
    """Mono pcm16 at 24 kHz: a sine (``amplitude`` 0 gives silence)."""
    count = int(RATE * seconds)
    peak = int(32767 * amplitude)
    return struct.pack(f"<{count}h", *(int(peak * math.sin(2 * math.pi * hz * n / RATE)) for n in range(count)))


class RawPeer:
    """A raw WebSocket client that records every frame: ``frames`` is ``[(direction, dict)]``.

    ``direction`` is ``"out"`` (client to server) or ``"in"``.
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.frames: list[tuple[str, Json]] = []
        self.raw_in: list[str | bytes] = []
        self._cond = threading.Condition()
        self._ws = connect(url, additional_headers=headers or {}, max_size=None, open_timeout=10)
        self._ws.__enter__()  # the reader thread needs the connection beyond a with block
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="judge-peer-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                message = self._ws.recv()
                with self._cond:
                    self.raw_in.append(message)
                    if isinstance(message, str):
                        self.frames.append(("in", json.loads(message)))
                    self._cond.notify_all()
        except Exception:
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def send(self, event: Json) -> None:
        with self._cond:
            self.frames.append(("out", event))
        self._ws.send(json.dumps(event))

    def mark(self) -> int:
        """The number of frames so far (to wait only for frames after this point)."""
        with self._cond:
            return len(self.frames)

    def wait(self, kind: str, since: int = 0, where: Callable[[Json], bool] | None = None,
             timeout: float = 20.0) -> Json:
        """The first received frame of type ``kind`` after ``since`` (matching ``where``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for direction, frame in self.frames[since:]:
                    if direction == "in" and frame.get("type") == kind and (where is None or where(frame)):
                        return frame
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    seen = [f.get("type") for d, f in self.frames[since:] if d == "in"]
                    raise AssertionError(f"no {kind} after frame {since}; received {seen}")
                self._cond.wait(left)

    def received(self, since: int = 0) -> list[Json]:
        with self._cond:
            return [f for d, f in self.frames[since:] if d == "in"]

    def close(self) -> None:
        self._ws.close()
        self._reader.join(5)


def _done_of(peer: RawPeer, since: int) -> Json:
    return peer.wait("response.done", since)["response"]


def run_scenario(url: str, ga: bool, model: str, reasoning: bool = False) -> list[tuple[str, Json]]:
    """Run the broad scenario; return every frame (see :class:`RawPeer`).

    Args:
        url: the server's ``ws://`` URL (without query).
        ga: speak GA (else beta, with the ``OpenAI-Beta: realtime=v1`` header).
        model: the ``?model=`` value.
        reasoning: also send the reasoning models' options (``reasoning``, ``parallel_tool_calls``).
    """
    headers = {"Authorization": "Bearer sk-local"}
    if not ga:
        headers["OpenAI-Beta"] = "realtime=v1"
    peer = RawPeer(f"{url}?model={model}", headers)
    try:
        peer.wait("session.created")
        _scenario(peer, ga, reasoning)
    finally:
        peer.close()
    return peer.frames


def _session_update(ga: bool, reasoning: bool) -> Json:
    transcription: Json = {"model": "gpt-4o-transcribe", "language": "en", "prompt": "weather"}
    vad = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 300,
           "create_response": True, "interrupt_response": True}
    if ga:
        session: Json = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "instructions": "Be brief.",
            "tools": [TOOL],
            "tool_choice": "auto",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {**transcription, "keywords": ["Paris"], "languages": ["en"]},
                    "noise_reduction": {"type": "near_field", "strength": 0.5},
                    "turn_detection": {**vad, "idle_timeout_ms": 6000},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000},
                           "voice": {"id": "voice_1234"} if reasoning else "marin", "speed": 1.0},
            },
            "max_output_tokens": "inf",
        }
        if reasoning:
            session["reasoning"] = {"effort": "low"}
            session["parallel_tool_calls"] = True
            session["audio"]["input"]["transcription"] = {"model": "gpt-realtime-whisper", "delay": "low"}
        return {"type": "session.update", "event_id": "evt_update", "session": session}
    session = {
        "modalities": ["text", "audio"],
        "instructions": "Be brief.",
        "voice": "verse",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": transcription,
        "input_audio_noise_reduction": {"type": "near_field"},
        "turn_detection": vad,
        "tools": [TOOL],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }
    return {"type": "session.update", "event_id": "evt_update", "session": session}


def _user_text(ga: bool, text: str) -> Json:
    return {"type": "conversation.item.create", "event_id": "evt_user_text",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def _response_create(ga: bool, reasoning: bool, **params: Any) -> Json:
    if reasoning:
        params.setdefault("reasoning", {"effort": "minimal"})
        params.setdefault("parallel_tool_calls", False)
    event: Json = {"type": "response.create", "event_id": "evt_response"}
    if params:
        event["response"] = params
    return event


def _scenario(peer: RawPeer, ga: bool, reasoning: bool) -> None:
    since = peer.mark()
    peer.send(_session_update(ga, reasoning))
    peer.wait("session.updated", since)

    # A server-VAD audio turn: speech, then silence; an audio reply and a transcript follow.
    since = peer.mark()
    audio = tone_pcm16(1.0) + tone_pcm16(0.6, amplitude=0.0)
    for offset in range(0, len(audio), 4800):
        chunk = base64.b64encode(audio[offset:offset + 4800]).decode("ascii")
        peer.send({"type": "input_audio_buffer.append", "audio": chunk})
    committed = peer.wait("input_audio_buffer.committed", since)
    user_item = committed["item_id"]
    done = _done_of(peer, since)
    peer.wait("conversation.item.input_audio_transcription.completed", since)
    assistant = [item for item in done["output"] if item["type"] == "message"]
    assert assistant, done

    # Truncate the (last) spoken item, retrieve the user's audio item, delete the assistant item.
    since = peer.mark()
    peer.send({"type": "conversation.item.truncate", "event_id": "evt_truncate",
               "item_id": assistant[-1]["id"], "content_index": 0, "audio_end_ms": 200})
    peer.wait("conversation.item.truncated", since)
    peer.send({"type": "conversation.item.retrieve", "event_id": "evt_retrieve", "item_id": user_item})
    peer.wait("conversation.item.retrieved", since)
    peer.send({"type": "conversation.item.delete", "event_id": "evt_delete", "item_id": assistant[0]["id"]})
    peer.wait("conversation.item.deleted", since)

    # A function call, its output, and the text reply that follows.
    text_only = {"output_modalities": ["text"]} if ga else {"modalities": ["text"]}
    since = peer.mark()
    peer.send(_user_text(ga, 'get_weather {"city": "Paris"}'))
    peer.send(_response_create(ga, reasoning, **text_only))
    call = _done_of(peer, since)["output"][-1]
    assert call["type"] == "function_call", call
    since = peer.mark()
    peer.send({"type": "conversation.item.create", "event_id": "evt_output",
               "item": {"type": "function_call_output", "call_id": call["call_id"], "output": '{"temp": 21}'}})
    peer.send(_response_create(ga, reasoning, **text_only))
    assert _done_of(peer, since)["status"] == "completed"

    # A response over an item reference, out of band.
    since = peer.mark()
    peer.send({"type": "conversation.item.create", "event_id": "evt_hello",
               "item": {"id": "item_hello", "type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "hello there"}]}})
    peer.wait("conversation.item.done" if ga else "conversation.item.created", since)
    peer.send(_response_create(ga, reasoning, conversation="none", metadata={"topic": "ref"},
                               input=[{"type": "item_reference", "id": "item_hello"}], **text_only))
    assert _done_of(peer, since)["status"] == "completed"

    # A cancel while an audio reply streams.
    since = peer.mark()
    peer.send(_user_text(ga, "please tell me a rather long story about the sea and the wind"))
    peer.send(_response_create(ga, reasoning))
    peer.wait("response.created", since)
    peer.send({"type": "response.cancel", "event_id": "evt_cancel"})
    response = _done_of(peer, since)
    assert response["status"] in ("cancelled", "completed"), response

    # An error (an unknown item), then a clear of the input buffer.
    since = peer.mark()
    peer.send({"type": "conversation.item.retrieve", "event_id": "evt_bad", "item_id": "item_nope"})
    peer.wait("error", since)
    peer.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(tone_pcm16(0.1, 0.0)).decode()})
    peer.send({"type": "input_audio_buffer.clear", "event_id": "evt_clear"})
    peer.wait("input_audio_buffer.cleared", since)
