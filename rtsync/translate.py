"""Live speech translation: :class:`Translator`, the translation endpoint ``/v1/realtime/translations``.

The endpoint (model ``gpt-realtime-translate``) has no conversation and no responses: audio
goes in, translated speech and transcripts come out, continuously. Its events are a vocabulary
of their own (:mod:`rtsync.events.translation`), so the translator is built on the transport,
the dispatcher and the events directly, not on :class:`~rtsync.RealtimeClient`.

What the service asks of a client, and what the translator does:

* audio in 200 ms appends (24 kHz pcm16 mono): :meth:`Translator.send_audio` cuts whatever it
  is given into 4800-sample appends and keeps the remainder for the next call;
* silence while idle: the live mode sends the microphone all the time, and silence in place of
  it while the translated speech plays (the half-duplex echo guard); :meth:`Translator.translate`
  follows the recording with a second of silence;
* ``session.close`` flushes: the service translates what it still holds, sends
  ``session.closed`` and closes. :meth:`Translator.translate` ends its session that way.

Example::

    from rtsync import Translator

    with Translator(language="es") as tr:          # no key: a local server of its own
        result = tr.translate("hello.wav")          # ends the session (session.close)
        print(result.source_text, "->", result.text, len(result.audio))
"""

from __future__ import annotations

import itertools
import queue
import threading
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import attrs

from rtsync._log import register_secret
from rtsync._session_helpers import RATE, endpoint, load_audio, with_query
from rtsync.dispatch import HandlerRegistry, PumpDispatcher, ThreadDispatcher, event_key
from rtsync.errors import ClosedError, RealtimeError, WaitTimeout
from rtsync.events import translation as te
from rtsync.events._base import Event
from rtsync.transcribe import DEFAULT_TRANSCRIPTION_MODEL
from rtsync.transport import Transport

if TYPE_CHECKING:
    import os

    import numpy as np

    from rtsync.audio import Microphone, Speaker
    from rtsync.server import LocalServer

__all__ = ["CHUNK_SAMPLES", "DEFAULT_TRANSLATION_MODEL", "DEFAULT_TRANSLATION_URL", "Translation", "Translator"]

#: The translation model.
DEFAULT_TRANSLATION_MODEL = "gpt-realtime-translate"
#: OpenAI's translation endpoint.
DEFAULT_TRANSLATION_URL = "wss://api.openai.com/v1/realtime/translations"
#: Samples per append: the engine's 200 ms frame at 24 kHz.
CHUNK_SAMPLES = RATE * 200 // 1000

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class Translation:
    """What :meth:`Translator.translate` returns.

    Attributes:
        text: the translated transcript (the output transcript deltas joined).
        source_text: the source-language transcript ("" when source transcripts are off).
        audio: the translated speech, int16 samples at 24 kHz.
    """

    text: str
    source_text: str
    audio: Any = attrs.field(repr=lambda a: f"<{len(a)} samples>")


class Translator:
    """A session of the translation endpoint, with callbacks.

    Args:
        url: the endpoint (``.../v1/realtime/translations``); ``model`` is set in its query.
            ``None``: OpenAI's endpoint when there is a key (``api_key`` or ``OPENAI_API_KEY``),
            else a :class:`~rtsync.server.LocalServer` started by :meth:`connect` and stopped
            by :meth:`close` (it answers ``[LANG] [speech N.N s]`` with espeak-ng speech).
        api_key: the key (``OPENAI_API_KEY`` when not given).
        language: the output language (``audio.output.language``, e.g. ``"es"``).
        model: the translation model.
        source_transcript: ask for source-language transcripts (``audio.input.transcription``).
        transcription_model: the model of the source transcripts.
        noise_reduction: ``"near_field"``, ``"far_field"`` or ``None``.
        dispatch: ``"thread"`` (callbacks on ``rtsync-dispatch``) or ``"pump"`` (callbacks only
            inside :meth:`dispatch_pending`, e.g. from a Tk ``after`` loop).
        connect_timeout: seconds for the handshake, ``session.created`` and ``session.updated``.
        headers: extra handshake headers.

    Events (classes of :mod:`rtsync.events.translation`): ``session.created``,
    ``session.updated``, ``session.input_transcript.delta``, ``session.output_transcript.delta``,
    ``session.output_audio.delta``, ``session.closed``, ``error``, and rtsync's own
    ``rtsync.close`` (always the last), ``rtsync.callback_error``, ``rtsync.protocol_error``.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        language: str = "es",
        model: str = DEFAULT_TRANSLATION_MODEL,
        *,
        source_transcript: bool = True,
        transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL,
        noise_reduction: str | None = None,
        dispatch: str = "thread",
        connect_timeout: float = 15.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        if dispatch not in ("thread", "pump"):
            raise ValueError(f"dispatch must be 'thread' or 'pump', got {dispatch!r}")
        self.language = language
        self.model = model
        self.source_transcript = source_transcript
        self.transcription_model = transcription_model
        self.noise_reduction = noise_reduction
        self._url, self._api_key = url, api_key
        register_secret(api_key)
        self._dispatch_mode = dispatch
        self._connect_timeout = connect_timeout
        self._headers = dict(headers or {})
        self._registry = HandlerRegistry()
        self._queue: queue.SimpleQueue[list[Event]] = queue.SimpleQueue()
        self._transport: Transport | None = None
        self._dispatcher: ThreadDispatcher | PumpDispatcher | None = None
        self._send_lock = threading.Lock()
        self._rest: Any = None  # samples short of a 200 ms append
        self._ids = itertools.count(1)
        self._closed = threading.Event()  # session.closed or rtsync.close delivered
        self._updated = threading.Event()
        self._mic_thread: threading.Thread | None = None
        self._mic_stop = threading.Event()
        self._owned: list[Any] = []  # devices opened by start_live
        self._speaker: Speaker | None = None
        #: the local server this translator started (``None`` with a URL or a key)
        self.server: LocalServer | None = None
        #: the session as the server last described it (``session.created``/``.updated``)
        self.session: te.TranslationSession | None = None
        #: the URL connected to (``None`` before :meth:`connect`)
        self.url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True from :meth:`connect` until the session ends."""
        return self._transport is not None and not self._closed.is_set()

    def connect(self) -> Translator:
        """Open the session and send its settings; return once ``session.updated`` has arrived.

        Raises:
            ConnectError: (or a subclass) the connection was refused.
            ServerError: the server refused the settings.
            RuntimeError: already connected once.
        """
        if self._transport is not None:
            raise RuntimeError("a Translator connects once; create a new one")
        url, key, server = endpoint(self._url, self._api_key, DEFAULT_TRANSLATION_URL)
        if server is not None:
            url = server.url + "/translations"
        self.server = server
        self.url = with_query(url, model=self.model)
        headers = dict(self._headers)
        if key:
            register_secret(key)
            headers.setdefault("Authorization", f"Bearer {key}")
        transport = Transport(self.url, headers, self._queue, connect_timeout=self._connect_timeout,
                              dialect="translation")
        try:
            first = transport.connect()
        except BaseException:
            self._stop_server()
            raise
        self._transport = transport
        self.session = getattr(first, "session", None)
        hooks: list[Callable[[Event], None]] = [self._track]
        cls = ThreadDispatcher if self._dispatch_mode == "thread" else PumpDispatcher
        self._dispatcher = cls(self._queue, self._registry, hooks)
        transport.start_reader()
        self._dispatcher.start()
        req = self.update()
        if self._dispatch_mode == "thread" and not self._updated.wait(self._connect_timeout):
            self.close()
            raise WaitTimeout(f"no session.updated for {req} within {self._connect_timeout:g} s")
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop the live mode, close the session and stop the local server started here.

        Sends ``session.close`` first (so that the service finishes what it holds) when the
        session is still open, and waits up to ``timeout`` for ``session.closed``. Idempotent;
        from a callback it returns without waiting.
        """
        self.stop_live()
        transport = self._transport
        on_dispatcher = self._on_dispatcher_thread()
        if transport is not None and not self._closed.is_set():
            try:
                self.send(te.TranslationSessionClose())
                if not on_dispatcher and self._dispatch_mode == "thread":
                    self._closed.wait(min(timeout, 2.0))
            except ClosedError:
                pass
        if transport is not None:
            transport.close(1000, "", timeout=min(timeout, 2.0))
            reader = transport.reader
            if reader is not None and reader is not threading.current_thread():
                reader.join(timeout)
        d = self._dispatcher
        if isinstance(d, ThreadDispatcher) and not on_dispatcher and d.thread.is_alive():
            d.thread.join(timeout)
        if not on_dispatcher:
            self._stop_server()

    def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Translator:
        return self.connect() if self._transport is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_dispatcher_thread(self) -> bool:
        d = self._dispatcher
        return d is not None and d.thread_ident == threading.get_ident()

    def _track(self, ev: Event) -> None:  # runs on the dispatcher thread, before the callbacks
        t = ev.type
        if t in ("session.created", "session.updated"):
            s = getattr(ev, "session", None)
            if isinstance(s, te.TranslationSession):
                self.session = s
            if t == "session.updated":
                self._updated.set()
        elif t in ("session.closed", "rtsync.close"):
            self._closed.set()
        elif t == "error" and not self._updated.is_set():
            self._updated.set()  # a refused update must not hang connect()

    # -- callbacks ---------------------------------------------------------------------------
    def on(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> Any:
        """Register ``fn(event)`` for an event type (or class, or ``"*"``); without ``fn``, a decorator.

        Called on: the ``rtsync-dispatch`` thread (with ``dispatch="pump"``, the thread calling
        :meth:`dispatch_pending`), one event at a time, in arrival order. May be called before
        :meth:`connect`.
        """
        return self._registry.register(event, fn)

    def once(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> Any:
        """Like :meth:`on`, for one call only. Called on: the same thread as :meth:`on` callbacks."""
        return self._registry.register(event, fn, once=True)

    def off(self, event: str | type[Event], fn: Callable[..., Any] | None = None) -> int:
        """Unregister ``fn`` (every callback when ``None``) for ``event``; return how many went."""
        return self._registry.remove(event_key(event), fn)

    def dispatch_pending(self, max_events: int | None = None, max_seconds: float | None = None) -> int:
        """Deliver what has arrived, on the calling thread (``dispatch="pump"`` only)."""
        d = self._dispatcher
        if not isinstance(d, PumpDispatcher):
            raise RuntimeError("dispatch_pending() needs Translator(..., dispatch='pump') and connect()")
        return d.dispatch_pending(max_events, max_seconds)

    # -- sending -----------------------------------------------------------------------------
    def send(self, event: Event) -> str:
        """Send a client event (thread-safe); return its ``event_id`` (one is given when unset)."""
        transport = self._transport
        if transport is None:
            raise ClosedError("the translator is not connected")
        if not isinstance(event.event_id, str):
            event.event_id = f"evt_tr_{next(self._ids)}"
        transport.send_text(event.to_json())
        return str(event.event_id)

    def session_settings(self) -> dict[str, Any]:
        """The ``session`` of the ``session.update`` this translator sends."""
        audio_in: dict[str, Any] = {
            "transcription": {"model": self.transcription_model} if self.source_transcript else None,
            "noise_reduction": None if self.noise_reduction is None else {"type": self.noise_reduction},
        }
        return {"audio": {"input": audio_in, "output": {"language": self.language}}}

    def update(self, **changes: Any) -> str:
        """Send ``session.update`` with the settings (attributes such as ``language`` may have
        changed; ``changes`` are merged into the ``session`` object); return its ``event_id``."""
        self._updated.clear()
        session = {**self.session_settings(), **changes}
        return self.send(te.TranslationSessionUpdate(session=te.TranslationSession.from_dict(session)))

    def send_audio(self, audio: np.ndarray | bytes) -> int:
        """Append audio (int16 at 24 kHz, or pcm16 bytes) in 200 ms appends; thread-safe.

        A remainder shorter than 200 ms waits for the next call (or :meth:`flush`).

        Returns:
            How many appends went out.
        """
        import numpy as np

        samples = load_audio(audio)
        sent = 0
        with self._send_lock:
            if self._rest is not None and len(self._rest):
                samples = np.concatenate((self._rest, samples))
            whole = len(samples) - len(samples) % CHUNK_SAMPLES
            self._rest = samples[whole:].copy()
            for i in range(0, whole, CHUNK_SAMPLES):
                self._append(samples[i:i + CHUNK_SAMPLES])
                sent += 1
        return sent

    def flush(self) -> None:
        """Send the remainder that :meth:`send_audio` kept, padded with silence to 200 ms."""
        import numpy as np

        with self._send_lock:
            rest, self._rest = self._rest, None
            if rest is not None and len(rest):
                self._append(np.concatenate((rest, np.zeros(CHUNK_SAMPLES - len(rest), np.int16))))

    def _append(self, block: np.ndarray) -> None:
        import base64

        data = base64.b64encode(block.astype("<i2", copy=False).tobytes()).decode("ascii")
        self.send(te.TranslationInputAudioAppend(audio=data))

    # -- blocking ----------------------------------------------------------------------------
    def translate(self, audio: str | os.PathLike[str] | np.ndarray | bytes,
                  timeout: float | None = 60.0) -> Translation:
        """Translate one recording (blocking); the session ends with it.

        Sends the audio in 200 ms appends, one second of silence, then ``session.close``, and
        collects everything until ``session.closed``. Connects first when not connected; the
        session is closed afterwards either way (the service flushes only on ``session.close``).

        Args:
            audio: a WAV file (any rate; resampled to 24 kHz), an int16 array at 24 kHz, or pcm16 bytes.
            timeout: seconds to wait for ``session.closed``.

        Raises:
            WaitTimeout: no ``session.closed`` within ``timeout``.
            ClosedError: the connection ended first.
            RuntimeError: called from a callback, or with ``dispatch="pump"``.
        """
        import numpy as np

        if self._on_dispatcher_thread() or self._dispatch_mode != "thread":
            raise RuntimeError("translate() blocks until the events are delivered: call it from another "
                               "thread, with dispatch='thread'")
        samples = load_audio(audio)
        if self._transport is None:
            self.connect()
        text: list[str] = []
        source: list[str] = []
        pieces: list[np.ndarray] = []
        ended: list[Event] = []

        def collect(ev: Event) -> None:
            t = ev.type
            if t == "session.output_transcript.delta":
                text.append(str(ev.delta))  # type: ignore[attr-defined]
            elif t == "session.input_transcript.delta":
                source.append(str(ev.delta))  # type: ignore[attr-defined]
            elif t == "session.output_audio.delta":
                pieces.append(ev.samples)  # type: ignore[attr-defined]
            elif t in ("session.closed", "rtsync.close"):
                ended.append(ev)

        d = self._dispatcher
        assert d is not None
        d.add_hook(collect)
        try:
            self.send_audio(samples)
            self.send_audio(np.zeros(RATE, np.int16))
            self.flush()
            self.send(te.TranslationSessionClose())
            if not self._closed.wait(timeout):
                raise WaitTimeout(f"no session.closed within {timeout:g} s")
        finally:
            d.remove_hook(collect)
            self.close()
        if not ended or ended[0].type != "session.closed":
            raise ClosedError("the connection ended before session.closed")
        out = np.concatenate(pieces).astype(np.int16) if pieces else np.zeros(0, np.int16)
        return Translation("".join(text), "".join(source), out)

    # -- live mode ---------------------------------------------------------------------------
    def start_live(self, microphone: Microphone | None = None, speaker: Speaker | None = None, *,
                   echo_guard: str | None = "half_duplex", block_ms: int = 20) -> None:
        """Stream a microphone in and play the translated speech on a speaker, until :meth:`stop_live`.

        The microphone is read on a thread named ``rtsync-translate-mic``; its blocks go out in
        200 ms appends. The translated audio is written to the speaker from the dispatcher
        thread as it arrives.

        Args:
            microphone: a :class:`~rtsync.audio.Microphone` at 24 kHz (default input device when None).
            speaker: a :class:`~rtsync.audio.Speaker` at 24 kHz (default output device when None).
            echo_guard: ``"half_duplex"`` (default) sends silence in place of the microphone
                while translated speech plays, so the translation is not translated again; ``None``
                sends the microphone all the time (for headsets or an echo-cancelled input).
            block_ms: block size of the devices opened here.
        """
        if echo_guard not in (None, "half_duplex"):
            raise ValueError(f"echo_guard must be None or 'half_duplex', got {echo_guard!r}")
        if self._mic_thread is not None:
            raise RuntimeError("the live mode is already running")
        from rtsync.audio import Microphone, Speaker

        if self._transport is None:
            self.connect()
        if microphone is None:
            microphone = Microphone(rate=RATE, block_ms=block_ms)
            self._owned.append(microphone)
        if speaker is None:
            speaker = Speaker(rate=RATE, block_ms=block_ms, buffer_ms=120_000)
            self._owned.append(speaker)
        self._speaker = speaker
        self.on(te.TranslationOutputAudioDelta, self._play)
        speaker.start()
        microphone.start()
        mic = microphone
        self._mic_stop.clear()

        def pump() -> None:
            import numpy as np

            while not self._mic_stop.is_set():
                block = mic.read_block(timeout=0.5)
                if len(block) == 0:
                    continue
                if echo_guard == "half_duplex" and speaker.queued_samples > 0:
                    block = np.zeros_like(block)
                try:
                    self.send_audio(block)
                except ClosedError:
                    return
                except RealtimeError:
                    continue

        self._mic_thread = threading.Thread(target=pump, name="rtsync-translate-mic", daemon=True)
        self._mic_thread.start()

    def _play(self, ev: te.TranslationOutputAudioDelta) -> None:
        sp = self._speaker
        if sp is not None:
            sp.write(ev.samples)

    def stop_live(self) -> None:
        """Stop the live mode (closing the devices it opened). Idempotent."""
        self._mic_stop.set()
        thread, self._mic_thread = self._mic_thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        if self._speaker is not None:
            self.off(te.TranslationOutputAudioDelta, self._play)
            self._speaker = None
        owned, self._owned = self._owned, []
        for dev in owned:
            dev.close()
