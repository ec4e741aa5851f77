"""The lifecycle of a client (:class:`State`); ``RealtimeClient.state`` gives its value."""

from __future__ import annotations

import enum

__all__ = ["State"]


class State(enum.Enum):
    """Lifecycle of a client: UNOPENED -> CONNECTING -> OPEN (<-> RECONNECTING) -> CLOSING -> CLOSED.

    * ``UNOPENED``: created, :meth:`~rtsync.RealtimeClient.connect` not called yet.
    * ``CONNECTING``: ``connect()`` is opening the WebSocket and waiting for ``session.created``.
    * ``OPEN``: connected; ``send`` and the typed senders work.
    * ``RECONNECTING``: the connection dropped and a reconnection policy is trying to open a new
      one (between ``rtsync.disconnected`` and ``rtsync.reconnected``); ``send`` raises
      ``ClosedError``.
    * ``CLOSING``: ``close()`` was called (or the server ended the session) and the threads are
      winding down.
    * ``CLOSED``: over; a client is never opened again (create a new one).
    """

    UNOPENED = "unopened"
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"
