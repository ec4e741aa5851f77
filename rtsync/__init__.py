"""rtsync: a synchronous, threaded Python client for the OpenAI Realtime API, with callbacks.

No asyncio: a reader thread parses frames into typed (attrs) events and a dispatcher thread
runs your callbacks in arrival order. The API, by group:

* Connection: :class:`RealtimeClient` (``connect``/``close``/``with``), ``on``/``off``/``once``,
  ``send`` and the typed senders (each returns a :class:`Request` handle to ``wait()`` on),
  ``wait_for``, ``ask`` -> :class:`Reply`; GA or beta wire protocol (``dialect=``), Azure
  (``RealtimeClient.azure``), reconnection (``reconnect=True`` or a :class:`ReconnectPolicy`),
  recording (``record=``).
* State and tools: :class:`Conversation` (``client.conversation``), function tools
  (``client.tool`` / ``client.add_tool``, :mod:`rtsync.tools`).
* Keys for apps: :func:`create_client_secret` (:mod:`rtsync.secrets`).
* Tkinter: :mod:`rtsync.tk` (imported explicitly).
* Events: :mod:`rtsync.events` (every client and server event, ``parse_event``).
* Errors: :mod:`rtsync.errors` (``RealtimeError`` and its tree).
* Voice: :class:`VoiceSession` (microphone -> server, server -> speaker, barge-in) on
  :mod:`rtsync.audio` (``RingBuffer``, ``Microphone``, ``Speaker``, ``list_devices``, formats).
* Live captions and live translation: :class:`Transcriber` (a transcription session,
  :mod:`rtsync.transcribe`) and :class:`Translator` (the translation endpoint,
  :mod:`rtsync.translate`), loaded on first use.
* Local server: :class:`rtsync.server.LocalServer` (also ``python -m rtsync serve``).

``import rtsync`` loads neither numpy, PyAudio nor the local server; they load on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rtsync._version import __version__
from rtsync.client import FunctionCall, RealtimeClient, ReconnectPolicy, Reply, ReplyMessage, Request
from rtsync.conversation import Conversation, ConversationEntry
from rtsync.errors import (
    AudioError,
    AuthenticationError,
    BetaShapeDisabledError,
    ClosedError,
    ConnectError,
    ModelNotFoundError,
    NetworkError,
    ProtocolError,
    RealtimeError,
    ResponseFailed,
    ServerError,
    TLSError,
    WaitTimeout,
)
from rtsync.events import UNSET, parse_event
from rtsync.voice import VoiceSession, VoiceStats

if TYPE_CHECKING:
    from rtsync.secrets import ClientSecret, create_client_secret
    from rtsync.server import LocalServer
    from rtsync.transcribe import Transcriber
    from rtsync.translate import Translation, Translator

logging.getLogger("rtsync").addHandler(logging.NullHandler())

__all__ = [
    "UNSET",
    "AudioError",
    "AuthenticationError",
    "BetaShapeDisabledError",
    "ClientSecret",
    "ClosedError",
    "ConnectError",
    "Conversation",
    "ConversationEntry",
    "FunctionCall",
    "LocalServer",
    "ModelNotFoundError",
    "NetworkError",
    "ProtocolError",
    "RealtimeClient",
    "RealtimeError",
    "ReconnectPolicy",
    "Reply",
    "ReplyMessage",
    "Request",
    "ResponseFailed",
    "ServerError",
    "TLSError",
    "Transcriber",
    "Translation",
    "Translator",
    "VoiceSession",
    "VoiceStats",
    "WaitTimeout",
    "__version__",
    "create_client_secret",
    "parse_event",
]


def __getattr__(name: str) -> Any:
    # Heavy parts load on first use, so that ``import rtsync`` stays light.
    if name == "LocalServer":
        from rtsync.server import LocalServer

        return LocalServer
    if name == "Transcriber":
        from rtsync.transcribe import Transcriber

        return Transcriber
    if name in ("Translator", "Translation"):
        from rtsync import translate

        return getattr(translate, name)
    if name in ("create_client_secret", "ClientSecret"):
        from rtsync import secrets

        return getattr(secrets, name)
    raise AttributeError(f"module 'rtsync' has no attribute {name!r}")
