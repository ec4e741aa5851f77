"""A local, offline OpenAI Realtime server (beta protocol 2024-10-01 and GA, WebSocket transport).

Demos and tests run against it instead of the real service::

    from rtsync.server import LocalServer

    with LocalServer() as server:           # binds 127.0.0.1 on a free port
        print(server.url)                   # ws://127.0.0.1:PORT/v1/realtime

``serve(host, port, **options)`` runs one in the foreground until Ctrl-C.

Two more endpoints share the port: transcription sessions (``/v1/realtime?intent=transcription``,
:mod:`rtsync.server.transcription`), which transcribe each committed turn as ``[speech N.N s]``
(deltas, then ``.completed`` with ``usage``), and the translation endpoint
(``/v1/realtime/translations?model=gpt-realtime-translate``, :mod:`rtsync.server.translation`),
which answers each speech segment with ``[LANG] [speech N.N s]`` and espeak-ng speech in that
language (a tone without espeak-ng).

Protocol
    The server speaks the beta event vocabulary event for event: ``session.created`` (with the
    defaults the real service sent in 2025, ``silence_duration_ms`` 200) as the first frame,
    ``session.update`` merging, an ordered conversation with ``previous_item_id`` and ``"root"``
    inserts, the input audio buffer (bytes counted per format, commits under 100 ms rejected),
    the full response lifecycle (``response.created``, ``rate_limits.updated``, output items with
    their ``conversation.item.created``, content parts, deltas, ``response.done`` with usage),
    out-of-band responses (``conversation: "none"``), ``input`` context overrides, token caps
    (``incomplete``/``max_output_tokens``), cancellation, truncation, deletion and retrieval.
    Mistakes produce ``error`` events with the real codes and messages where they are known, and
    the session goes on. ``conversation.created`` is not sent: it was never observed live.

Dialects
    ``LocalServer(dialect="auto"|"beta"|"ga")`` (``python -m rtsync serve --dialect``). The
    session logic below speaks the beta vocabulary; a GA connection is translated at the frame
    boundaries (:mod:`rtsync.events.dialect`): GA session shapes, ``response.output_text.*``,
    ``response.output_audio.*``, ``response.output_audio_transcript.*``,
    ``conversation.item.added`` (plus ``conversation.item.done`` once an item is final),
    ``output_text``/``output_audio`` item content. Beta-shaped client events on a GA connection
    get the errors the GA service sends (:mod:`rtsync.server.ga_checks`: ``session.update``
    without ``session.type``,
    ``Unknown parameter: 'session.modalities'``...); errors of the shared checks name the GA
    place of a field (``session.audio.output.voice``). The GA-only session settings
    ``truncation`` and ``prompt`` are accepted and echoed, not emulated.

    * ``"auto"`` (default): the ``OpenAI-Beta: realtime=v1`` header (or the
      ``openai-beta.realtime-v1`` subprotocol) gives beta; without it, a ``?model=`` that is not
      a ``*-realtime-preview*`` id gives GA, while no model or a preview model gives beta (so
      clients written for this server before it knew GA keep working).
    * ``"beta"``: always beta.
    * ``"ga"``: always GA; a handshake with the beta header gets, as from the live service, one
      ``error`` (code ``beta_api_shape_disabled``) and a close with code 4000.

The scripted model
    Replies are computed from the latest user message of the context, deterministically:

    * a user text message ``T`` gets ``You said: T``, one ``response.text.delta`` per word;
    * when a session (or response) tool's name appears in ``T``, the response is a
      ``function_call`` to that tool, with the first JSON object in ``T`` as arguments (``{}``
      if none); several named tools give several calls in one response;
    * once ``function_call_output`` items follow the user message, the next response says
      ``Tool NAME returned: OUTPUT``, one line per answered call;
    * a committed audio turn gets ``I heard N.N seconds of speech.`` (``N.N`` = duration of the
      committed audio, one decimal; spoken when audio is among the modalities); with input
      transcription
      enabled its transcript completes as ``[speech N.N s]`` (there is no speech recogniser);
    * with no user message at all, the reply is ``How can I help you?``;
    * a reasoning model (``?model=gpt-realtime-2``, ``gpt-realtime-2.1``, any
      ``gpt-realtime-2*``) answers with two message items in one response, as the service's
      reasoning models do: the preamble ``Let me think.`` with ``phase: "commentary"``, then the
      answer above with ``phase: "final_answer"``, each with its own ``output_index``, content
      part and text/audio/transcript deltas (both are spoken when audio is among the
      modalities). Tool calls stay as they are, without a preamble; other models answer with
      one item and no ``phase``.

    See :mod:`rtsync.server.model` for the exact rules.

Options of today's service
    Both dialects accept, check and echo ``reasoning`` (``{"effort": "minimal"|"low"|"medium"|
    "high"|"xhigh"}``) and ``parallel_tool_calls`` (a boolean) on the session and on
    ``response.create``, custom voices ``{"id": "voice_..."}`` (a response object names a
    custom voice by its id, since its ``voice`` is a string), noise reduction ``strength``
    (0 to 1; an update without it keeps the one in effect) and transcription ``delay``
    (``minimal``...``xhigh``), ``keywords`` and ``languages``. ``response.create``'s ``input``
    may hold ``{"type": "item_reference", "id": ...}`` entries, resolved to those conversation
    items (an unknown id is an ``invalid_value`` error). None of them changes the words.

Differences from the real service
    * Instructions, temperature, voice and reasoning effort are echoed where the protocol shows
      them but never change the words.
    * Server VAD (``turn_detection.type == "server_vad"``, on by default) is an energy detector
      over 10 ms frames of the decoded input (pcm16 24 kHz or G.711 8 kHz), fed incrementally by
      each append. A frame is speech when its RMS level (DC offset removed) exceeds
      ``-70 + 60 × threshold`` dBFS (the default 0.5 gives -40 dBFS: normal speech triggers,
      digital silence and -60 dBFS noise do not). ``speech_started`` comes as soon as a speech
      frame arrives, with ``audio_start_ms`` = frame start minus ``prefix_padding_ms`` (not below
      0) on the clock of all audio appended in the session; after ``silence_duration_ms`` without
      speech come ``speech_stopped`` (``audio_end_ms`` includes the silence window),
      ``input_audio_buffer.committed`` (the audio from ``audio_start_ms`` to ``audio_end_ms``),
      ``conversation.item.created`` and, if ``create_response``, an automatic response. With
      ``interrupt_response``, speech starting during a response cancels it (reason
      ``turn_detected``). Audio before a turn is dropped when the turn is committed; with no
      speech the buffer keeps at most the last 60 s. A manual commit or clear ends a turn in
      progress without ``speech_stopped``. ``semantic_vad`` is stored and echoed but not run
      (audio accumulates until the client commits, as with ``turn_detection: null``).
    * Audio output: when a response's modalities include ``"audio"`` (the session default), the
      message has an ``audio`` part: ``response.audio.delta`` chunks of 100 ms in the
      ``output_audio_format`` (pcm16 24 kHz, G.711 8 kHz) interleaved with one
      ``response.audio_transcript.delta`` per word (a word is sent just before the first audio
      chunk that reaches its estimated start), then ``response.audio.done``,
      ``response.audio_transcript.done``, ``response.content_part.done`` (transcript, no audio
      bytes), ``response.output_item.done`` and ``response.done``. Function calls have no audio.
      The voice (:class:`LocalServer` option ``voice``) is espeak-ng speech when the program is
      installed (``"auto"``, the default, or ``"espeak"``), else a 440 Hz beep of 250 ms plus 50 ms
      of silence per word at -12 dBFS (``"tone"``); see :mod:`rtsync.server.voice`. Audio is
      sent as fast as possible unless ``audio_pace`` is set (1.0 = real time, 0.5 = twice real
      time); ``text_delay`` still spaces the transcript words. Output audio tokens in ``usage``
      are estimated like input audio (ten per second).
    * Truncation works on assistant audio items, also while they stream (up to the audio sent so
      far): ``audio_end_ms`` beyond the item's audio gives ``Audio content of <have>ms is already
      shorter than <asked>ms`` (code ``null``); success sends ``conversation.item.truncated``,
      forgets the audio after the point (a later truncate can only go shorter) and cuts the
      transcript to the words whose estimated end (word positions proportional to their length
      in characters) falls before the point.
    * Input transcription, when ``input_audio_transcription`` is set, runs on its own thread after
      each commit: one ``conversation.item.input_audio_transcription.delta`` and a ``.completed``
      with the transcript ``[speech N.N s]`` and a ``usage``: ``{"type": "duration", "seconds"}``
      for ``whisper-1``, else ``{"type": "tokens", ...}`` (ten audio tokens per second in, the
      transcript's text tokens out). They come after the item's ``conversation.item.created``
      and may interleave with the response events.
    * Token counts in ``usage`` and ``rate_limits.updated`` are estimates (about four characters
      per text token, ten tokens per second of audio); nothing is ever rate limited.
    * On a realtime session, ``transcription_session.update`` and ``output_audio_buffer.clear``
      are rejected with an explanatory error (transcription sessions have their own connection,
      ``?intent=transcription``; WebRTC is not emulated).
    * A ``model`` key in ``session.update`` is accepted and ignored; the model is fixed by the URL.
    * Error texts the beta sources do not pin down (unknown ``previous_item_id``, retrieving an
      unknown item, duplicate item ids, invalid base64) are written in the service's style.
    * ``text_delay`` and ``audio_pace`` (:class:`LocalServer` options) slow streaming down on
      purpose, so that clients can exercise cancellation and barge-in.

Options of :class:`LocalServer` (all keyword-only after ``host`` and ``port``): ``api_key``,
``text_delay`` (seconds between text/transcript deltas, default 0), ``rate_limits`` (default
true), ``audio_pace`` (``None`` or a factor of real time, default ``None``), ``dialect``
(``"auto"``, ``"beta"`` or ``"ga"``, default ``"auto"``) and ``voice``
(``"auto"``, ``"espeak"`` or ``"tone"``; ``"espeak"`` raises ``ValueError`` when espeak-ng is
missing).

Where things are
    :mod:`~rtsync.server.app` (the WebSocket endpoint, :class:`LocalServer`, handshake checks);
    :mod:`~rtsync.server.session` (one connection: the table of client event handlers and the
    GA boundary); its parts :mod:`~rtsync.server.validation` (checks of client input and the
    ``error`` events they give), :mod:`~rtsync.server.store` (the conversation's items),
    :mod:`~rtsync.server.items` (``conversation.item.*``), :mod:`~rtsync.server.input_audio`
    (the input buffer, with :mod:`~rtsync.server.vad`), :mod:`~rtsync.server.responses` and
    :mod:`~rtsync.server.streaming` (with :mod:`~rtsync.server.model` and
    :mod:`~rtsync.server.voice`), :mod:`~rtsync.server.ga_checks`; beside them
    :mod:`~rtsync.server.faults` (injected faults) and :mod:`~rtsync.server.replay` (recordings
    played back).
"""

from rtsync.server.app import LocalServer, serve

__all__ = ["LocalServer", "serve"]
