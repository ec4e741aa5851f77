"""Streaming of the local server's responses: the scripted model's outputs sent as events.

A :class:`Run` is one response being generated; :meth:`Streamer.stream` runs on the response's
own thread and sends, output by output, ``response.output_item.added`` (with the item's
``conversation.item.created`` when the response is in the conversation), content parts and
their deltas (text; audio interleaved with transcript words; function call arguments),
``response.output_item.done`` and at last ``response.done`` with usage. Every event is sent
under the session lock; each delta only if the run's ``cancel`` is not set, so that a cancelled
response stops between two deltas and still closes its parts, items and itself.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtsync.audio.formats import bytes_per_ms, encode_audio
from rtsync.server import model as fake_model
from rtsync.server import voice as fake_voice
from rtsync.server.store import ItemInfo, ItemStore, cut_transcript
from rtsync.server.wire import Emit, Gone, new_id

__all__ = ["Run", "Streamer"]

logger = logging.getLogger("rtsync.server")

_AUDIO_CHUNK_MS = 100


@dataclass
class Run:
    """One response being generated.

    The response thread changes it under the session lock; ``cancel`` (with ``reason``) is how
    others stop it.
    """

    id: str
    response: dict[str, Any]
    outputs: list[fake_model.Output]
    in_conversation: bool
    cap: int | None
    input_text_tokens: int
    input_audio_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str = "client_cancelled"
    truncated: bool = False
    finished: bool = False
    output_tokens: int = 0
    output_audio_tokens: int = 0
    thread: threading.Thread | None = None


class Streamer:
    """Streams the responses of one session.

    Args:
        store: the session's items; output items of in-conversation responses go there.
        lock: the session lock; every event is sent under it.
        emit: sends one server event.
        release: called (under the lock) when a run is over, to forget it.
        text_delay: seconds to wait between streamed deltas (0 = as fast as possible).
        audio_pace: ``None`` sends output audio as fast as possible; ``p`` waits ``p`` times
            the duration of each audio chunk before the next one.
        voice: the resolved voice (see :func:`rtsync.server.voice.resolve_voice`).
    """

    def __init__(
        self,
        store: ItemStore,
        lock: threading.RLock,
        emit: Emit,
        release: Callable[[Run], None],
        *,
        text_delay: float,
        audio_pace: float | None,
        voice: str,
    ) -> None:
        self._store = store
        self._lock = lock
        self._emit = emit
        self._release = release
        self._text_delay = text_delay
        self._audio_pace = audio_pace
        self._voice = voice

    def _wait(self, run: Run) -> None:
        if self._text_delay:
            run.cancel.wait(self._text_delay)

    def stream(self, run: Run) -> None:
        """Stream ``run``'s outputs, then its ``response.done`` (the target of its thread)."""
        try:
            for index, output in enumerate(run.outputs):
                if index:
                    self._wait(run)
                if run.cancel.is_set() or run.truncated:
                    break
                if isinstance(output, fake_model.Message):
                    self._stream_message(run, index, output)
                else:
                    self._stream_call(run, index, output)
            self._finish(run)
        except Gone:
            pass
        except Exception:
            logger.exception("local server: response %s failed", run.id)
            try:
                self._finish(run, failed=True)
            except Gone:
                pass
        finally:
            with self._lock:
                self._release(run)

    def _start_item(self, run: Run, index: int, item: dict[str, Any]) -> bool:
        """Announce a new output item; False when the response was cancelled first."""
        with self._lock:
            if run.cancel.is_set():
                return False
            self._emit("response.output_item.added", response_id=run.id, output_index=index, item=item)
            if run.in_conversation:
                previous = self._store.insert(item)
                self._emit("conversation.item.created", previous_item_id=previous, item=item)
            return True

    def _stream_message(self, run: Run, index: int, output: fake_model.Message) -> None:
        item: dict[str, Any] = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        if output.phase is not None:
            item["phase"] = output.phase
        envelope = {"response_id": run.id, "item_id": item["id"], "output_index": index, "content_index": 0}
        if not self._start_item(run, index, item):
            return
        chunks, cut = fake_model.cap_chunks(fake_model.split_words(output.text), run.cap)
        run.truncated = run.truncated or cut
        if "audio" in run.response["modalities"]:
            self._stream_audio_part(run, index, item, envelope, chunks)
            return
        with self._lock:
            self._emit("response.content_part.added", **envelope, part={"type": "text", "text": ""})
        text = ""
        for number, chunk in enumerate(chunks):
            if number:
                self._wait(run)
            with self._lock:
                if run.cancel.is_set():
                    break
                self._emit("response.text.delta", **envelope, delta=chunk)
                text += chunk
        with self._lock:
            status = "incomplete" if run.cancel.is_set() or run.truncated else "completed"
            part = {"type": "text", "text": text}
            self._emit("response.text.done", **envelope, text=text)
            self._emit("response.content_part.done", **envelope, part=part)
            item["status"] = status
            item["content"] = [dict(part)]
            self._emit("response.output_item.done", response_id=run.id, output_index=index, item=item)
            run.response["output"].append(item)
            run.output_tokens += fake_model.text_tokens(text)

    def _stream_audio_part(
        self,
        run: Run,
        index: int,
        item: dict[str, Any],
        envelope: dict[str, Any],
        words: list[str],
    ) -> None:
        """Stream an ``audio`` content part: audio deltas interleaved with transcript deltas."""
        text = "".join(words)
        fmt = str(run.response["output_audio_format"])
        samples = fake_voice.synthesize(text, self._voice) if text.strip() else None
        data = encode_audio(samples, fmt, fake_voice.RATE) if samples is not None else b""
        per_ms = bytes_per_ms(fmt)
        chunk_bytes = per_ms * _AUDIO_CHUNK_MS
        total_ms = len(data) / per_ms
        # Where each word starts and ends in the audio, in proportion to its length.
        total_chars = sum(len(w) for w in words) or 1
        starts: list[float] = []
        ends: list[float] = []
        done_chars = 0
        for word in words:
            starts.append(total_ms * done_chars / total_chars)
            done_chars += len(word)
            ends.append(total_ms * done_chars / total_chars)
        part: dict[str, Any] = {"type": "audio", "transcript": ""}
        info: ItemInfo | None = None
        with self._lock:
            self._emit("response.content_part.added", **envelope, part=dict(part))
            item["content"] = [part]
            if run.in_conversation:
                info = self._store.info.get(item["id"])
                if info is not None:
                    info.words = list(words)
                    info.word_ends_ms = ends
        transcript = ""
        sent_words = 0
        sent_bytes = 0

        def send_words(until_ms: float) -> bool:
            nonlocal transcript, sent_words
            while sent_words < len(words) and starts[sent_words] < until_ms:
                if sent_words:
                    self._wait(run)
                with self._lock:
                    if run.cancel.is_set():
                        return False
                    word = words[sent_words]
                    self._emit("response.audio_transcript.delta", **envelope, delta=word)
                    transcript += word
                    sent_words += 1
                    if info is None or info.truncated_ms is None:
                        part["transcript"] = transcript
            return True

        for offset in range(0, len(data), chunk_bytes):
            chunk = data[offset:offset + chunk_bytes]
            if not send_words((offset + len(chunk)) / per_ms):
                break
            if offset and self._audio_pace:
                run.cancel.wait(self._audio_pace * len(chunk) / per_ms / 1000.0)
            with self._lock:
                if run.cancel.is_set():
                    break
                self._emit("response.audio.delta", **envelope, delta=base64.b64encode(chunk).decode("ascii"))
                sent_bytes += len(chunk)
                if info is not None and info.truncated_ms is None:
                    info.audio_ms = int(sent_bytes / per_ms)
        else:
            send_words(float("inf"))
        with self._lock:
            status = "incomplete" if run.cancel.is_set() or run.truncated else "completed"
            self._emit("response.audio.done", **envelope)
            self._emit("response.audio_transcript.done", **envelope, transcript=transcript)
            self._emit("response.content_part.done", **envelope, part={"type": "audio", "transcript": transcript})
            item["status"] = status
            self._emit(
                "response.output_item.done",
                response_id=run.id,
                output_index=index,
                item={**item, "content": [{"type": "audio", "transcript": transcript}]},
            )
            if info is None or info.truncated_ms is None:
                part["transcript"] = transcript
            else:  # truncated while streaming: keep what was heard
                part["transcript"] = cut_transcript(info, transcript, info.truncated_ms, info.audio_ms or 0)
            run.response["output"].append(item)
            run.output_tokens += fake_model.text_tokens(transcript)
            run.output_audio_tokens += fake_model.audio_tokens(sent_bytes / per_ms / 1000.0)

    def _stream_call(self, run: Run, index: int, output: fake_model.ToolCall) -> None:
        item: dict[str, Any] = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": output.name,
            "call_id": new_id("call", 16),
            "arguments": "",
        }
        envelope = {
            "response_id": run.id,
            "item_id": item["id"],
            "output_index": index,
            "call_id": item["call_id"],
        }
        if not self._start_item(run, index, item):
            return
        arguments = ""
        for number, chunk in enumerate(fake_model.split_arguments(output.arguments)):
            if number:
                self._wait(run)
            with self._lock:
                if run.cancel.is_set():
                    break
                self._emit("response.function_call_arguments.delta", **envelope, delta=chunk)
                arguments += chunk
        with self._lock:
            self._emit(
                "response.function_call_arguments.done", **envelope, name=output.name, arguments=arguments
            )
            item["status"] = "incomplete" if run.cancel.is_set() else "completed"
            item["arguments"] = arguments
            self._emit("response.output_item.done", response_id=run.id, output_index=index, item=item)
            run.response["output"].append(item)
            run.output_tokens += fake_model.text_tokens(output.name) + fake_model.text_tokens(arguments)

    def _finish(self, run: Run, failed: bool = False) -> None:
        with self._lock:
            response = run.response
            if failed:
                response["status"] = "failed"
                response["status_details"] = {
                    "type": "failed",
                    "error": {"type": "server_error", "code": None,
                              "message": "The server had an error while processing your request."},
                }
            elif run.cancel.is_set():
                response["status"] = "cancelled"
                response["status_details"] = {"type": "cancelled", "reason": run.reason}
            elif run.truncated:
                response["status"] = "incomplete"
                response["status_details"] = {"type": "incomplete", "reason": "max_output_tokens"}
            else:
                response["status"] = "completed"
            if response["status"] == "cancelled" and not response["output"]:
                text_in = audio_in = 0
            else:
                text_in, audio_in = run.input_text_tokens, run.input_audio_tokens
            output_total = run.output_tokens + run.output_audio_tokens
            response["usage"] = {
                "total_tokens": text_in + audio_in + output_total,
                "input_tokens": text_in + audio_in,
                "output_tokens": output_total,
                "input_token_details": {
                    "text_tokens": text_in,
                    "audio_tokens": audio_in,
                    "cached_tokens": 0,
                    "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
                },
                "output_token_details": {
                    "text_tokens": run.output_tokens,
                    "audio_tokens": run.output_audio_tokens,
                },
            }
            self._release(run)
            self._emit("response.done", response=response)
