"""Events rtsync makes itself (never sent on the wire), delivered like server events.

Register for them with ``client.on("rtsync.close", fn)`` or the class, exactly as for server
events. They are not in the parser's type table: a frame claiming one of these types from the
network becomes an :class:`~rtsync.events.UnknownEvent`.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import attrs

from rtsync.events._base import UNSET, Event

__all__ = ["CallbackErrorEvent", "CloseEvent", "DisconnectedEvent", "LocalEvent", "ProtocolErrorEvent",
           "ReconnectedEvent"]


@attrs.define(kw_only=True)
class LocalEvent(Event):
    """Base of the events rtsync itself emits."""


@attrs.define(kw_only=True)
class CloseEvent(LocalEvent):
    """``rtsync.close``: the connection ended. Always the last event a connection delivers.

    Attributes:
        code: the WebSocket close code (1000 normal, 1006 dropped without a close frame, ...).
        reason: the close reason, from the close frame or describing the failure.
        error: the exception that ended the connection, or ``None`` for an orderly close.
        initiated_by_client: True when ``close()`` on this side started it.
    """

    type: ClassVar[str] = "rtsync.close"
    code: int = 1000
    reason: str = ""
    error: BaseException | None = None
    initiated_by_client: bool = False


@attrs.define(kw_only=True)
class CallbackErrorEvent(LocalEvent):
    """``rtsync.callback_error``: a callback raised; delivery of other events went on.

    Attributes:
        event: the event the callback was handling.
        exception: what it raised.
        callback: the callback itself.
    """

    type: ClassVar[str] = "rtsync.callback_error"
    event: Any = UNSET
    exception: BaseException | None = None
    callback: Callable[..., Any] | None = None


@attrs.define(kw_only=True)
class ProtocolErrorEvent(LocalEvent):
    """``rtsync.protocol_error``: the server sent a frame that is not a valid event.

    The reader skipped it and went on. ``error`` is the :class:`rtsync.errors.ProtocolError`;
    ``data`` is the frame (text, or bytes for a binary frame).
    """

    type: ClassVar[str] = "rtsync.protocol_error"
    error: BaseException | None = None
    data: Any = None


@attrs.define(kw_only=True)
class DisconnectedEvent(LocalEvent):
    """``rtsync.disconnected``: the connection dropped and ``RealtimeClient(reconnect=True)`` is
    reconnecting. Blocking ``wait_for``/``ask`` calls in progress were released with
    :class:`~rtsync.errors.ClosedError`; ``send`` raises until ``rtsync.reconnected`` (or, when
    every attempt fails, the final ``rtsync.close``).

    Attributes:
        code, reason, error: as in :class:`CloseEvent`, for the connection that ended.
    """

    type: ClassVar[str] = "rtsync.disconnected"
    code: int = 1006
    reason: str = ""
    error: BaseException | None = None


@attrs.define(kw_only=True)
class ReconnectedEvent(LocalEvent):
    """``rtsync.reconnected``: a new session replaced the old one (after a drop, or a renewal
    before the old session expired). Delivered once per new connection, after its
    ``session.created``, once the last session configuration and tools were sent again (and the
    text items replayed, when asked).

    Attributes:
        reason: ``"reconnected"`` (after a drop) or ``"renewed"`` (before expiry).
        attempts: connection attempts it took.
        session_id: the new session's id; previous_session_id: the old one's.
        replayed_items: text items re-created in the new conversation.
    """

    type: ClassVar[str] = "rtsync.reconnected"
    reason: str = "reconnected"
    attempts: int = 1
    session_id: str | None = None
    previous_session_id: str | None = None
    replayed_items: int = 0
