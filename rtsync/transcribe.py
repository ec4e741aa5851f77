"""Live captions: :class:`Transcriber`, a transcription session (``/v1/realtime?intent=transcription``).

A transcription session turns input audio into text and nothing else: no conversation, no
responses. Each committed turn (an explicit :meth:`Transcriber.commit`, or the end of speech
found by server VAD) gets ``conversation.item.input_audio_transcription.delta`` events and then
``.completed`` with the whole transcript. Built on :class:`~rtsync.RealtimeClient`: in GA it
connects with ``?intent=transcription`` and sends ``session.update`` with
``type: "transcription"``; in the beta dialect the same call is ``transcription_session.update``
(the client's dialect layer does the translation).

Example::

    from rtsync import Transcriber

    with Transcriber() as t:                      # no key: a local server of its own
        print(t.transcribe("hello.wav"))          # "[speech 1.2 s]" from the local server
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from rtsync._session_helpers import RATE, endpoint, load_audio, with_query
from rtsync.client import RealtimeClient, Request
from rtsync.errors import ClosedError, RealtimeError
from rtsync.events import client as ce
from rtsync.events._base import Event
from rtsync.events.models import TranscriptionSession

if TYPE_CHECKING:
    import os

    import numpy as np

    from rtsync.audio import Microphone
    from rtsync.server import LocalServer

__all__ = ["DEFAULT_TRANSCRIPTION_MODEL", "DEFAULT_TRANSCRIPTION_URL", "Transcriber"]

#: The default transcription model: ``gpt-transcribe``, a current model of the GA API (the
#: ``whisper-1``, ``gpt-4o-transcribe`` and ``gpt-4o-mini-transcribe`` families shut down on
#: 2027-02-26). It works with server VAD; ``gpt-live-transcribe`` and ``gpt-realtime-whisper``
#: need ``turn_detection=None`` and explicit commits.
DEFAULT_TRANSCRIPTION_MODEL = "gpt-transcribe"
#: OpenAI's endpoint of transcription sessions.
DEFAULT_TRANSCRIPTION_URL = "wss://api.openai.com/v1/realtime?intent=transcription"

F = TypeVar("F", bound=Callable[..., Any])
_DELTA = "conversation.item.input_audio_transcription.delta"
_COMPLETED = "conversation.item.input_audio_transcription.completed"
_APPEND_SAMPLES = RATE * 10  # 10 s per append (well under the 15 MiB limit)


class Transcriber:
    """A transcription session (live captions), with the client's callbacks.

    Args:
        url: the WebSocket endpoint; ``intent=transcription`` is set in its query. ``None``:
            OpenAI's endpoint when there is a key (``api_key`` or ``OPENAI_API_KEY``), else a
            :class:`~rtsync.server.LocalServer` started by :meth:`connect` and stopped by
            :meth:`close` (its transcripts read ``[speech N.N s]``).
        api_key: the key (``OPENAI_API_KEY`` when not given).
        model: the transcription model (:data:`DEFAULT_TRANSCRIPTION_MODEL`).
        language: the language of the input (ISO-639-1, e.g. ``"en"``), or ``None``.
        prompt: text to guide the transcription, or ``None``.
        turn_detection: ``"server_vad"`` (default: the server finds the turns), ``None``
            (turns end only at :meth:`commit`), or a whole ``turn_detection`` object.
        noise_reduction: ``"near_field"``, ``"far_field"`` or ``None``.
        dialect: ``"auto"``, ``"ga"`` or ``"beta"``, as for :class:`~rtsync.RealtimeClient`.
        dispatch: ``"thread"`` or ``"pump"`` (callbacks only inside :meth:`dispatch_pending`,
            e.g. from a Tk ``after`` loop).
        client_options: other :class:`~rtsync.RealtimeClient` keyword arguments.

    Events arrive in the client's beta vocabulary: ``conversation.item.input_audio_transcription.delta``
    (``delta``), ``.completed`` (``transcript``), ``input_audio_buffer.speech_started/stopped``,
    ``input_audio_buffer.committed``, ``transcription_session.updated``, ``error``,
    ``rtsync.close``.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        model: str = DEFAULT_TRANSCRIPTION_MODEL,
        language: str | None = None,
        *,
        prompt: str | None = None,
        turn_detection: str | dict[str, Any] | None = "server_vad",
        noise_reduction: str | None = None,
        dialect: str = "auto",
        dispatch: str = "thread",
        **client_options: Any,
    ) -> None:
        self.model = model
        self.language = language
        self.prompt = prompt
        self.turn_detection: dict[str, Any] | None = (
            {"type": turn_detection} if isinstance(turn_detection, str) else turn_detection)
        self.noise_reduction = noise_reduction
        self._url, self._api_key = url, api_key
        self._dialect = dialect
        self._dispatch = dispatch
        self._options = client_options
        self._connect_timeout = float(client_options.get("connect_timeout", 15.0))
        self._server: LocalServer | None = None
        self._client: RealtimeClient | None = None
        self._pending: list[tuple[str, Callable[..., Any], bool]] = []  # callbacks before connect
        self._call_lock = threading.Lock()
        self._mic_thread: threading.Thread | None = None
        self._mic_stop = threading.Event()
        self._own_mic: Microphone | None = None
        #: the local server this transcriber started (``None`` with a URL or a key)
        self.server: LocalServer | None = None
        #: the session as the server last described it (``transcription_session.created/updated``)
        self.session: TranscriptionSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def client(self) -> RealtimeClient:
        """The underlying :class:`~rtsync.RealtimeClient` (after :meth:`connect`)."""
        if self._client is None:
            raise ClosedError("the transcriber is not connected")
        return self._client

    @property
    def url(self) -> str | None:
        """The endpoint connected to (``None`` before :meth:`connect`)."""
        return None if self._client is None else self._client.url

    def connect(self) -> Transcriber:
        """Open the session and send its settings; return once the server has confirmed them
        (with ``dispatch="pump"``, at once: the confirmation is delivered by the pump).

        Raises:
            ConnectError: (or a subclass) the connection was refused.
            ServerError: the server refused the session settings.
        """
        url, key, server = endpoint(self._url, self._api_key, DEFAULT_TRANSCRIPTION_URL)
        self.server = server
        client = RealtimeClient(model=None, api_key=key or "", url=with_query(url, intent="transcription"),
                                dialect=self._dialect, dispatch=self._dispatch, **self._options)
        client.on("transcription_session.created", self._track)
        client.on("transcription_session.updated", self._track)
        for key_, fn, once in self._pending:
            (client.once if once else client.on)(key_, fn)
        self._pending.clear()
        try:
            client.connect()
            self._client = client
            req = self.update()
            if self._dispatch == "thread":  # with "pump", the answer comes when the loop pumps
                req.wait(self._connect_timeout)
        except BaseException:
            self._client = None
            client.close()
            if server is not None:
                server.stop()
                self.server = None
            raise
        return self

    def _track(self, ev: Event) -> None:  # on the dispatcher thread
        session = getattr(ev, "session", None)
        if isinstance(session, TranscriptionSession):
            self.session = session

    def close(self) -> None:
        """Stop the microphone, close the session and stop the local server started here. Idempotent."""
        self.stop_microphone()
        client, self._client = self._client, None
        if client is not None:
            client.close()
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Transcriber:
        return self.connect() if self._client is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- callbacks ---------------------------------------------------------------------------
    def on(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> Any:
        """Register ``fn(event)`` for an event type (or class, or ``"*"``); without ``fn``, a decorator.

        Called on: the ``rtsync-dispatch`` thread (with ``dispatch="pump"``, the thread calling
        :meth:`dispatch_pending`), one event at a time, in arrival order. May be called before
        :meth:`connect`.
        """
        return self._register(event, fn, once=False)

    def once(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> Any:
        """Like :meth:`on`, for one call only. Called on: the same thread as :meth:`on` callbacks."""
        return self._register(event, fn, once=True)

    def off(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> int:
        """Unregister ``fn`` (every callback when ``None``) for ``event``; return how many went."""
        if self._client is not None:
            return self._client.off(event, fn)
        before = len(self._pending)
        key = event if isinstance(event, str) else event.type
        self._pending = [p for p in self._pending if not (p[0] == key and (fn is None or p[1] == fn))]
        return before - len(self._pending)

    def _register(self, event: str | type[Event], fn: Callable[..., Any] | None, once: bool) -> Any:
        if fn is None:
            def deco(f: F) -> F:
                self._register(event, f, once)
                return f
            return deco
        if self._client is not None:
            (self._client.once if once else self._client.on)(event, fn)
        else:
            self._pending.append((event if isinstance(event, str) else event.type, fn, once))
        return fn

    def dispatch_pending(self, max_events: int | None = None, max_seconds: float | None = None) -> int:
        """Deliver what has arrived, on the calling thread (``dispatch="pump"`` only)."""
        return self.client.dispatch_pending(max_events, max_seconds)

    # -- requests ----------------------------------------------------------------------------
    def session_settings(self) -> dict[str, Any]:
        """The transcription session settings this transcriber sends (beta vocabulary)."""
        transcription: dict[str, Any] = {"model": self.model}
        if self.language is not None:
            transcription["language"] = self.language
        if self.prompt is not None:
            transcription["prompt"] = self.prompt
        return {
            "input_audio_format": "pcm16",
            "input_audio_transcription": transcription,
            "turn_detection": self.turn_detection,
            "input_audio_noise_reduction": None if self.noise_reduction is None else {"type": self.noise_reduction},
        }

    def update(self, **changes: Any) -> Request:
        """Send the session settings (with ``changes``, e.g. ``turn_detection=None``); a request
        handle whose ``wait()`` returns ``transcription_session.updated``."""
        session = {**self.session_settings(), **changes}
        return self.client.send(ce.TranscriptionSessionUpdate(session=TranscriptionSession.from_dict(session)))

    def send_audio(self, audio: np.ndarray | bytes) -> None:
        """Append audio: an int16 array (24 kHz mono) or pcm16 bytes. Safe from any thread."""
        self.client.append_audio(audio)

    def commit(self) -> Request:
        """End the turn now; ``wait()`` on the handle returns ``input_audio_buffer.committed``."""
        return self.client.commit_audio()

    def transcribe(self, audio: str | os.PathLike[str] | np.ndarray | bytes, timeout: float | None = 60.0) -> str:
        """The transcript of one recording (blocking).

        Server VAD, if on, is switched off for the call (the whole recording is one turn) and
        back on afterwards. Connects first when the transcriber is not connected, and closes again.

        Args:
            audio: a WAV file (any rate; resampled to 24 kHz), an int16 array at 24 kHz, or pcm16 bytes.
            timeout: seconds to wait for the transcript.

        Raises:
            ServerError: the server refused the audio (e.g. less than 100 ms).
            WaitTimeout: no transcript within ``timeout``.
        """
        samples = load_audio(audio)
        opened_here = self._client is None
        if opened_here:
            self.connect()
        try:
            with self._call_lock:
                client = self.client
                vad = self.turn_detection
                if vad is not None:
                    self.update(turn_detection=None).wait(timeout)
                try:
                    for i in range(0, len(samples), _APPEND_SAMPLES):
                        client.append_audio(samples[i:i + _APPEND_SAMPLES])
                    committed = client.commit_audio().wait(timeout)
                    item_id = getattr(committed, "item_id", None)
                    done = client.wait_for(_COMPLETED, lambda ev: ev.item_id == item_id, timeout=timeout)
                finally:
                    if vad is not None and client.is_open:
                        self.update()
            return str(done.transcript)
        finally:
            if opened_here:
                self.close()

    # -- live mode ---------------------------------------------------------------------------
    def start_microphone(self, microphone: Microphone | None = None, *, block_ms: int = 100) -> None:
        """Stream a microphone into the session (captions arrive through the callbacks).

        With server VAD on (the default), each pause ends a turn and its caption follows. The
        audio is sent from a thread named ``rtsync-transcribe-mic``.

        Args:
            microphone: an open-able :class:`~rtsync.audio.Microphone` at 24 kHz; the default
                input device when ``None`` (opened here, closed by :meth:`stop_microphone`).
            block_ms: block size of the appends.
        """
        if self._mic_thread is not None:
            raise RuntimeError("the microphone is already streaming")
        client = self.client
        if microphone is None:
            from rtsync.audio import Microphone

            microphone = self._own_mic = Microphone(rate=RATE, block_ms=block_ms)
        mic = microphone
        mic.start()
        self._mic_stop.clear()

        def pump() -> None:
            while not self._mic_stop.is_set():
                block = mic.read_block(timeout=0.5)
                if len(block) == 0:
                    continue
                try:
                    client.append_audio(block)
                except ClosedError:
                    return
                except RealtimeError:
                    continue

        self._mic_thread = threading.Thread(target=pump, name="rtsync-transcribe-mic", daemon=True)
        self._mic_thread.start()

    def stop_microphone(self) -> None:
        """Stop streaming the microphone (closing it if it was opened here). Idempotent."""
        self._mic_stop.set()
        thread, self._mic_thread = self._mic_thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        mic, self._own_mic = self._own_mic, None
        if mic is not None:
            mic.close()

