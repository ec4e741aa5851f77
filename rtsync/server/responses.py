"""Responses of the local server: ``response.create`` and ``response.cancel``.

``response.create`` checks its parameters, plans the reply with the scripted model
(:func:`rtsync.server.model.plan_reply`) from the conversation or the response's own ``input``,
sends ``response.created`` (and ``rate_limits.updated``) and streams the reply from a thread of
its own (``rtsync-server-response-N``, :class:`~rtsync.server.streaming.Streamer`). One response
at a time may be in the default conversation; out-of-band ones (``conversation: "none"``) may
run beside it. A cancel, by the client or by speech starting (server VAD), stops a response
between two events and waits for its ``response.done``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rtsync.audio.formats import bytes_per_ms
from rtsync.server import model as fake_model
from rtsync.server.items import check_item
from rtsync.server.store import ItemStore, input_audio_seconds
from rtsync.server.streaming import Run, Streamer
from rtsync.server.validation import ClientError, check_response_cancel, check_response_create
from rtsync.server.wire import Emit, new_id

__all__ = ["Responses"]

_RATE_REQUESTS = 20_000
_RATE_TOKENS = 15_000_000


class Responses:
    """The responses of one session.

    Args:
        settings: the session settings (the defaults of every response).
        store: the session's items (the context of a response, and where its items go).
        lock: the session lock; state changes and their events happen under it.
        emit: sends one server event.
        on_thread: called with every response thread before it starts.
        rate_limits: send ``rate_limits.updated`` after each ``response.created``.
        text_delay: seconds to wait between streamed deltas.
        audio_pace: ``None``, or a factor of real time for output audio.
        voice: the resolved voice (see :func:`rtsync.server.voice.resolve_voice`).
    """

    def __init__(
        self,
        settings: dict[str, Any],
        store: ItemStore,
        lock: threading.RLock,
        emit: Emit,
        *,
        on_thread: Callable[[threading.Thread], None] | None,
        rate_limits: bool,
        text_delay: float,
        audio_pace: float | None,
        voice: str,
    ) -> None:
        self._settings = settings
        self._store = store
        self._lock = lock
        self._emit = emit
        self._on_thread = on_thread
        self._rate_limits = rate_limits
        self._runs: dict[str, Run] = {}
        self._active: Run | None = None  # the default-conversation response in flight
        self._run_count = 0
        self._streamer = Streamer(
            store, lock, emit, self._release, text_delay=text_delay, audio_pace=audio_pace, voice=voice
        )

    def interrupt(self, reason: str) -> threading.Thread | None:
        """Cancel the default-conversation response in flight, if any; call with the lock held.

        Args:
            reason: the ``status_details.reason`` of its ``response.done`` (``turn_detected``).

        Returns:
            The thread of the cancelled response (to join once the lock is released), or ``None``.
        """
        run = self._active
        if run is None or run.finished:
            return None
        run.reason = reason
        run.cancel.set()
        return run.thread

    def cancel_all(self) -> list[threading.Thread]:
        """Cancel every response in flight (the session is closing); call with the lock held.

        Returns:
            Their threads, to join once the lock is released.
        """
        runs = list(self._runs.values())
        for run in runs:
            run.cancel.set()
        return [run.thread for run in runs if run.thread is not None]

    def _release(self, run: Run) -> None:
        """Forget a run that is over (called by the streamer, with the lock held)."""
        run.finished = True
        self._runs.pop(run.id, None)
        if self._active is run:
            self._active = None

    def _input_bytes_per_ms(self) -> int:
        return bytes_per_ms(str(self._settings["input_audio_format"]))  # validated on session.update

    def create(self, event: dict[str, Any]) -> None:
        """``response.create``: plan the reply, send ``response.created`` and start streaming it."""
        request = check_response_create(event)
        in_conversation = request.in_conversation
        with self._lock:
            session = {**self._settings, **request.settings}
        modalities, instructions, voice = session["modalities"], session["instructions"], session["voice"]
        out_format, tools, tool_choice = session["output_audio_format"], session["tools"], session["tool_choice"]
        temperature = session["temperature"]
        cap_value = session["max_response_output_tokens"]
        metadata = request.metadata
        raw_input = request.input

        with self._lock:
            if in_conversation and self._active is not None:
                raise ClientError(
                    "Conversation already has an active response",
                    code="conversation_already_has_active_response",
                )
            audio_seconds = {
                item_id: info.audio_seconds
                for item_id, info in self._store.info.items()
                if info.audio_seconds is not None
            }
            if raw_input is None:
                context = list(self._store.items)
            else:
                context = self._resolve_input(raw_input, audio_seconds)
            outputs = fake_model.plan_reply(
                context,
                tools=tools,
                tool_choice=tool_choice,
                audio_seconds=audio_seconds,
                reasoning=fake_model.is_reasoning_model(str(session["model"])),
            )
            text_in, audio_in = fake_model.context_tokens(context, audio_seconds)
            text_in += fake_model.text_tokens(instructions)
            response_id = new_id("resp")
            response: dict[str, Any] = {
                "object": "realtime.response",
                "id": response_id,
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "conversation_id": self._store.id if in_conversation else None,
                "modalities": modalities,
                # The response object's voice is a string: a custom voice is named by its id.
                "voice": voice["id"] if isinstance(voice, dict) else voice,
                "output_audio_format": out_format,
                "temperature": temperature,
                "max_output_tokens": cap_value,
                "usage": None,
                "metadata": metadata,
            }
            run = Run(
                id=response_id,
                response=response,
                outputs=outputs,
                in_conversation=in_conversation,
                cap=cap_value if isinstance(cap_value, int) else None,
                input_text_tokens=text_in,
                input_audio_tokens=audio_in,
            )
            self._emit("response.created", response=response)
            if self._rate_limits:
                self._emit_rate_limits(run)
            self._runs[response_id] = run
            if in_conversation:
                self._active = run
            self._run_count += 1
            run.thread = threading.Thread(
                target=self._streamer.stream,
                args=(run,),
                name=f"rtsync-server-response-{self._run_count}",
                daemon=True,
            )
            if self._on_thread is not None:
                self._on_thread(run.thread)
            run.thread.start()

    def _resolve_input(
        self, raw_input: list[Any], audio_seconds: dict[str, float]
    ) -> list[dict[str, Any]]:
        context = []
        for index, raw in enumerate(raw_input):
            param = f"response.input[{index}]"
            if isinstance(raw, dict) and raw.get("type") == "item_reference":
                ref = raw.get("id")
                item = self._store.find(ref) if isinstance(ref, str) else None
                if item is None:
                    raise ClientError(
                        f"Invalid value: '{ref}'. No item with this id exists in the conversation.",
                        code="invalid_value",
                        param=f"{param}.id",
                    )
                context.append(item)
                continue
            item, audio = check_item(raw, param)
            if audio is not None:
                audio_seconds[item["id"]] = input_audio_seconds(audio, self._input_bytes_per_ms())
            context.append(item)
        return context

    def _emit_rate_limits(self, run: Run) -> None:
        reserved = run.input_text_tokens + run.input_audio_tokens + 4096
        self._emit(
            "rate_limits.updated",
            rate_limits=[
                {"name": "requests", "limit": _RATE_REQUESTS, "remaining": _RATE_REQUESTS - 1,
                 "reset_seconds": 0.003},
                {"name": "tokens", "limit": _RATE_TOKENS, "remaining": _RATE_TOKENS - reserved,
                 "reset_seconds": round(reserved * 60 / _RATE_TOKENS, 3)},
            ],
        )

    def cancel(self, event: dict[str, Any]) -> None:
        """``response.cancel``: stop the response named (or the active one) and wait for its end."""
        response_id = check_response_cancel(event)
        with self._lock:
            run = self._runs.get(response_id) if response_id else self._active
            if run is None or run.finished:
                raise ClientError(
                    "Cancellation failed: no active response found", code="response_cancel_not_active"
                )
            run.reason = "client_cancelled"
            run.cancel.set()
        # Wait for the response to wind down, so that the events of the next client event come
        # after its response.done (and a new response.create finds no active response).
        if run.thread is not None:
            run.thread.join()
