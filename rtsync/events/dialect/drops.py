"""Dropped-field warnings: a field with no place in the protocol on the wire is left out, once said.

The shape mappers (:mod:`rtsync.events.dialect.shapes`) report each beta field of a request
with no GA equivalent (``temperature``, a session's server-owned ``id``...) here, and
:mod:`rtsync.events.dialect.to_beta` each GA-only field a beta connection cannot carry
(``reasoning``, a custom voice object...); the first drop of a field name in a
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
    """A field with no place in the wire protocol was left out of an event (issued once per field):
    a beta field with no GA equivalent in GA, a GA-only field in beta."""


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _drop(name: str, protocol: str = "GA") -> None:
    """Warn, once per process, protocol and field name, that ``name`` was dropped."""
    key = name if protocol == "GA" else f"{protocol}:{name}"
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    message = f"'{name}' has no equivalent in the {protocol} Realtime protocol and was not sent"
    logger.warning("%s", message)
    warnings.warn(message, DroppedFieldWarning, stacklevel=4)


def reset_drop_warnings() -> None:
    """Forget which dropped fields were already warned about (so the next drop warns again)."""
    with _warned_lock:
        _warned.clear()

