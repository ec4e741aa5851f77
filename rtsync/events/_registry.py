"""The codec's type tables (event type -> class), filled as the event classes are defined.

They belong to :mod:`rtsync.events.codec`, the only reader; they sit in this leaf module so that
:class:`rtsync.events._base.Event`, whose ``__attrs_init_subclass__`` calls :func:`register`
for every new event class, needs no import of the codec (which imports the base classes).

Which table a class goes in is its ``_type_table`` class constant: ``"beta"`` for every client
and server event (the main table, looked up by both dialects), ``"ga"`` for the GA-only events
of :mod:`rtsync.events.ga` (looked up only by ``parse_event(..., dialect="ga")``),
``"translation"`` for the events of the translation endpoint (:mod:`rtsync.events.translation`,
a vocabulary of its own, looked up only by ``parse_event(..., dialect="translation")``), ``None`` for
events that never come from the wire (the local events, :class:`~rtsync.events.UnknownEvent`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtsync.events._base import Event

__all__ = ["GA_TYPES", "TRANSLATION_TYPES", "TYPES", "TYPE_LOADERS", "register"]

#: The main table: every client and server event type of the beta vocabulary.
TYPES: dict[str, type[Event]] = {}
#: GA-only event types (their module, :mod:`rtsync.events.ga`, is imported on first use).
GA_TYPES: dict[str, type[Event]] = {}
#: The translation endpoint's event types (:mod:`rtsync.events.translation`, imported on first use).
TRANSLATION_TYPES: dict[str, type[Event]] = {}
#: The compiled loader of each type of :data:`TYPES`, filled by the codec on first use.
TYPE_LOADERS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def register(cls: type[Event], table: str) -> None:
    """Put ``cls`` in a type table under its ``type`` (a later class of the same type replaces it).

    Args:
        cls: the event class; its ``type`` constant is the key.
        table: ``"beta"`` (:data:`TYPES`), ``"ga"`` (:data:`GA_TYPES`) or ``"translation"``
            (:data:`TRANSLATION_TYPES`).

    Raises:
        ValueError: ``cls`` has no ``type``, or ``table`` is none of the three.
    """
    if not cls.type:
        raise ValueError(f"{cls.__name__} has no type")
    if table == "beta":
        TYPES[cls.type] = cls
        TYPE_LOADERS.pop(cls.type, None)  # compiled for the class it replaces
    elif table == "ga":
        GA_TYPES[cls.type] = cls
    elif table == "translation":
        TRANSLATION_TYPES[cls.type] = cls
    else:
        raise ValueError(f"unsupported type table {table!r}")
