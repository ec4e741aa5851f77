"""Events rtsync makes itself (never sent on the wire), delivered like server events.

Register for them with ``client.on("rtsync.close", fn)`` or the class, exactly as for server
events. They are not in the parser's type table: a frame claiming one of these types from the
network becomes an :class:`~rtsync.events.UnknownEvent`.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import attrs

from rtsync.events._base import UNSET, Event

__all__ = ["CallbackErrorEvent", "CloseEvent", "LocalEvent", "ProtocolErrorEvent"]


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
