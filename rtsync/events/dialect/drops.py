"""Dropped-field warnings: a beta field with no GA equivalent is left out of a GA event, once said.

The shape mappers (:mod:`rtsync.events.dialect.shapes`) report each such field of a request
(``temperature``, a session's server-owned ``id``...) here; the first drop of a field name in a
process gives one :class:`DroppedFieldWarning` and one ``rtsync.dialect`` logger warning, later
drops of that name are silent until :func:`reset_drop_warnings`.
"""

from __future__ import annotations

import logging
import threading
import warnings

__all__ = ["DroppedFieldWarning", "reset_drop_warnings"]

logger = logging.getLogger("rtsync.dialect")


class DroppedFieldWarning(UserWarning):
    """A beta field with no GA equivalent was left out of a GA event (issued once per field)."""


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _drop(name: str) -> None:
    """Warn, once per process and field name, that ``name`` was dropped."""
    with _warned_lock:
        if name in _warned:
            return
        _warned.add(name)
    message = f"'{name}' has no equivalent in the GA Realtime protocol and was not sent"
    logger.warning("%s", message)
    warnings.warn(message, DroppedFieldWarning, stacklevel=4)


def reset_drop_warnings() -> None:
    """Forget which dropped fields were already warned about (so the next drop warns again)."""
    with _warned_lock:
        _warned.clear()

