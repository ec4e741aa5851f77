"""``RealtimeClient`` and what it keeps, one job per module:

* :mod:`rtsync.client.core` — the facade: connect/close, ``on``/``off``/``once``,
  ``wait_for``, ``ask``, the client's own bookkeeping of events;
* :mod:`rtsync.client.senders` — ``send`` and the typed senders;
* :mod:`rtsync.client.requests` — :class:`Request` handles (what the senders return) and the
  book that matches each server answer to its request;
* :mod:`rtsync.client.tooling` — ``client.tools``, ``add_tool``, ``@client.tool``,
  ``remove_tool`` (wiring :mod:`rtsync.tools` to the client);
* :mod:`rtsync.client.replies` — :class:`Reply` (with a :class:`ReplyMessage` per output
  message), :class:`FunctionCall` and the collector that
  gathers a response for ``ask``;
* :mod:`rtsync.client.responses` — the response queue (one response at a time);
* :mod:`rtsync.client.reconnect` — :class:`ReconnectPolicy` and the reconnection/renewal
  machinery;
* :mod:`rtsync.client.endpoint` — default URL and model, dialect choice, Azure URLs, handshake
  headers;
* :mod:`rtsync.client.state` — the lifecycle (:class:`State`).

Threads (per client):

* ``rtsync-reader`` receives frames, parses them into events and queues them in batches; it
  never runs user code;
* ``rtsync-dispatch`` runs every callback, in arrival order, one at a time (unless
  ``dispatch="pump"``: then a GUI loop calls :meth:`RealtimeClient.dispatch_pending` and the
  callbacks run on that loop's thread).

``send`` and the typed senders may be called from any thread, callbacks included.
"""

from __future__ import annotations

from rtsync.client.core import RealtimeClient
from rtsync.client.endpoint import DEFAULT_MODEL, DEFAULT_URL, DIALECTS, choose_dialect
from rtsync.client.reconnect import FATAL_ERROR_CODES, ReconnectPolicy
from rtsync.client.replies import BENIGN_ERROR_CODES, FunctionCall, Reply, ReplyMessage
from rtsync.client.requests import Request
from rtsync.client.state import State

__all__ = [
    "BENIGN_ERROR_CODES",
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "DIALECTS",
    "FATAL_ERROR_CODES",
    "FunctionCall",
    "RealtimeClient",
    "ReconnectPolicy",
    "Reply",
    "ReplyMessage",
    "Request",
    "State",
    "choose_dialect",
]
