"""A scripted reasoning-model response: a preamble message (``phase: "commentary"``) and the
answer (``phase: "final_answer"``) in one response, as the service sends it, in either dialect.

:func:`two_message_response` builds the server frames of such a response in the beta shape, or
(``dialect="ga"``) in the GA shape through the dialect layer's server-side translation (the
frames are then checked against the openai SDK's GA types in ``tests/test_reasoning.py``).
:func:`answer_when_asked` makes a :class:`~tests.peer.ScriptedPeer` answer the client's next
``response.create`` with it.
"""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

import numpy as np

from rtsync.events.dialect import server_to_ga_events

PREAMBLE = "Let me check."
ANSWER = "It is sunny in Paris."

_ids = itertools.count(1)

GA_SESSION_CREATED = {
    "type": "session.created",
    "event_id": "event_peer_0",
    "session": {"type": "realtime", "object": "realtime.session", "id": "sess_peer", "model": "gpt-realtime-2.1",
                "output_modalities": ["audio"], "audio": {"output": {"voice": "marin"}}},
}
BETA_SESSION_CREATED = {
    "type": "session.created",
    "event_id": "event_peer_0",
    "session": {"object": "realtime.session", "id": "sess_peer", "model": "gpt-realtime-2.1",
                "modalities": ["text", "audio"], "voice": "marin", "output_audio_format": "pcm16"},
}


def tone(seconds: float, freq: float, amplitude: int = 8000) -> np.ndarray:
    """A sine tone at 24 kHz (distinct per item, so that a speaker file shows which played)."""
    t = np.arange(int(seconds * 24000)) / 24000
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _eid() -> str:
    return f"event_s{next(_ids)}"


def two_message_response(
    response_id: str,
    *,
    audio: bool,
    dialect: str,
    messages: tuple[tuple[str, str], ...] = (("commentary", PREAMBLE), ("final_answer", ANSWER)),
    samples: tuple[np.ndarray, ...] = (),
    chunk: int = 2400,
    previous_item_id: str | None = None,
) -> list[dict[str, Any]]:
    """The server frames of one response holding ``messages`` (``(phase, text)`` each), in order.

    With ``audio`` each message is spoken: its ``samples`` (one array per message; a short tone
    when not given) as ``response.audio.delta`` chunks of ``chunk`` samples, its text as the
    transcript. ``dialect="ga"`` gives the GA frames (renamed events, ``output_text``/
    ``output_audio`` content, ``conversation.item.added``/``.done``).
    """
    beta: list[dict[str, Any]] = []
    out_items: list[dict[str, Any]] = []
    beta.append({"type": "response.created", "event_id": _eid(), "response": {
        "object": "realtime.response", "id": response_id, "status": "in_progress", "status_details": None,
        "output": [], "conversation_id": "conv_peer", "modalities": ["text", "audio"] if audio else ["text"],
        "usage": None, "metadata": None}})
    prev = previous_item_id
    for index, (phase, text) in enumerate(messages):
        item_id = f"item_{response_id}_{index}"
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": "in_progress", "content": [], "phase": phase}
        env = {"response_id": response_id, "item_id": item_id, "output_index": index, "content_index": 0}
        beta.append({"type": "response.output_item.added", "event_id": _eid(), "response_id": response_id,
                     "output_index": index, "item": dict(item)})
        beta.append({"type": "conversation.item.created", "event_id": _eid(), "previous_item_id": prev,
                     "item": dict(item)})
        empty = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        beta.append({"type": "response.content_part.added", "event_id": _eid(), **env, "part": empty})
        words = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
        if audio:
            pcm = samples[index] if index < len(samples) else tone(0.3, 440.0 * (index + 1))
            for word in words:
                beta.append({"type": "response.audio_transcript.delta", "event_id": _eid(), **env, "delta": word})
            for start in range(0, len(pcm), chunk):
                b64 = base64.b64encode(pcm[start : start + chunk].astype("<i2").tobytes()).decode()
                beta.append({"type": "response.audio.delta", "event_id": _eid(), **env, "delta": b64})
            beta.append({"type": "response.audio.done", "event_id": _eid(), **env})
            beta.append({"type": "response.audio_transcript.done", "event_id": _eid(), **env, "transcript": text})
            part = {"type": "audio", "transcript": text}
        else:
            for word in words:
                beta.append({"type": "response.text.delta", "event_id": _eid(), **env, "delta": word})
            beta.append({"type": "response.text.done", "event_id": _eid(), **env, "text": text})
            part = {"type": "text", "text": text}
        beta.append({"type": "response.content_part.done", "event_id": _eid(), **env, "part": part})
        done_item = {**item, "status": "completed", "content": [part]}
        beta.append({"type": "response.output_item.done", "event_id": _eid(), "response_id": response_id,
                     "output_index": index, "item": done_item})
        out_items.append(done_item)
        prev = item_id
    beta.append({"type": "response.done", "event_id": _eid(), "response": {
        "object": "realtime.response", "id": response_id, "status": "completed", "status_details": None,
        "output": out_items, "conversation_id": "conv_peer", "modalities": ["text", "audio"] if audio else ["text"],
        "usage": {"total_tokens": 30, "input_tokens": 10, "output_tokens": 20,
                  "input_token_details": {"cached_tokens": 0, "text_tokens": 10, "audio_tokens": 0},
                  "output_token_details": {"text_tokens": 20, "audio_tokens": 0}},
        "metadata": None}})
    if dialect == "beta":
        return beta
    return [ga for frame in beta for ga in server_to_ga_events(frame)]


def answer_when_asked(peer: Any, frames_for: Any, timeout: float = 10.0, skip: int = 0) -> dict[str, Any]:
    """Wait until ``peer`` received a ``response.create`` (after its first ``skip`` frames), then
    queue ``frames_for(event)``.

    Returns:
        The ``response.create`` the client sent.
    """
    end = time.monotonic() + timeout
    seen = skip
    while time.monotonic() < end:
        received = peer.wait_received(seen + 1, timeout=0.2)
        for frame in received[seen:]:
            if isinstance(frame, dict) and frame.get("type") == "response.create":
                for out in frames_for(frame):
                    peer.send(out)
                return frame
        seen = len(received)
    raise AssertionError("the client sent no response.create")
