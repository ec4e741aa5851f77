"""What every part of a local-server session shares to send events: ids and the closed signal.

The parts of a session (:mod:`rtsync.server.items`, :mod:`rtsync.server.input_audio`,
:mod:`rtsync.server.responses`, :mod:`rtsync.server.streaming`) send through an :data:`Emit`
callable that :class:`~rtsync.server.session.RealtimeSession` gives them; it raises
:class:`Gone` once the connection is closed.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

__all__ = ["Emit", "Gone", "new_id"]

_BASE62 = string.ascii_letters + string.digits

#: ``emit(kind, **fields)`` sends one server event of type ``kind`` with a fresh ``event_id``.
#: Callers hold the session lock, so that the order on the wire matches the order of the state
#: changes the events describe.
Emit = Callable[..., None]


def new_id(prefix: str, length: int = 21) -> str:
    """Return an id shaped like the real service's: ``prefix_`` + ``length`` base62 characters.

    Args:
        prefix: ``event``, ``item``, ``resp``, ``sess``, ``conv`` or ``call``.
        length: number of random characters (21, or 16 for ``call``).
    """
    return prefix + "_" + "".join(secrets.choice(_BASE62) for _ in range(length))


class Gone(Exception):
    """The connection is closed; nothing more can be sent."""
