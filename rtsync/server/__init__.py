"""A local, offline OpenAI Realtime server (beta protocol 2024-10-01, WebSocket transport).

Demos and tests run against it instead of the real service::

    from rtsync.server import LocalServer

    with LocalServer() as server:           # binds 127.0.0.1 on a free port
        print(server.url)                   # ws://127.0.0.1:PORT/v1/realtime

``serve(host, port, **options)`` runs one in the foreground until Ctrl-C.

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

The scripted model
    Replies are computed from the latest user message of the context, deterministically:

    * a user text message ``T`` gets ``You said: T``, one ``response.text.delta`` per word;
    * when a session (or response) tool's name appears in ``T``, the response is a
      ``function_call`` to that tool, with the first JSON object in ``T`` as arguments (``{}``
      if none); several named tools give several calls in one response;
    * once ``function_call_output`` items follow the user message, the next response says
      ``Tool NAME returned: OUTPUT``, one line per answered call;
    * a committed audio turn gets ``I heard N.N seconds of speech.``; with input transcription
      enabled its transcript completes as ``[speech N.N s]`` (there is no speech recogniser);
    * with no user message at all, the reply is ``How can I help you?``.

    See :mod:`rtsync.server.model` for the exact rules.

Differences from the real service
    * Instructions, temperature and voice are echoed where the protocol shows them but never
      change the words.
    * Audio output is not synthesised yet: a response whose modalities include ``"audio"`` carries
      its words as a **text** content part (``response.text.*`` events), not as an audio part with
      ``response.audio*`` events. Consequently no item has model audio yet and every
      ``conversation.item.truncate`` is answered with "Only model output audio messages can be
      truncated".
    * Server VAD is not run yet: the ``turn_detection`` setting is stored and echoed, but appended
      audio only accumulates until the client commits it.
    * Token counts in ``usage`` and ``rate_limits.updated`` are estimates (about four characters
      per text token, ten tokens per second of audio); nothing is ever rate limited.
    * ``transcription_session.update`` and ``output_audio_buffer.clear`` are rejected with an
      explanatory error (transcription sessions and WebRTC are not emulated).
    * A ``model`` key in ``session.update`` is accepted and ignored; the model is fixed by the URL.
    * Error texts the beta sources do not pin down (unknown ``previous_item_id``, retrieving an
      unknown item, duplicate item ids, invalid base64) are written in the service's style.
    * ``text_delay`` (a :class:`LocalServer` option) slows streaming down on purpose, so that
      clients can exercise cancellation.
"""

from rtsync.server.app import LocalServer, serve

__all__ = ["LocalServer", "serve"]
