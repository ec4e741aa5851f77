"""Base classes of every event and nested object, and the ``UNSET`` marker.

The wire shape is owned by :mod:`rtsync.events.codec`; the classes here are plain attrs
classes. Three rules make a round trip lossless:

* a field absent from a frame holds :data:`UNSET` (falsy) and is not written back;
* a key the class does not declare is kept in ``extra_fields`` and written back;
* a value of an unexpected type (a string where an object belongs, say) is kept as is.

So ``parse_event(x).to_dict() == x`` for any JSON object ``x`` with a string ``type``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, final

import attrs

from rtsync.events import _registry

__all__ = ["UNSET", "Event", "Model", "UnknownEvent", "Unset", "is_set"]


@final
class Unset:
    """Type of :data:`UNSET`: the value of a field that is absent from the wire."""

    _instance: ClassVar[Unset | None] = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        return "UNSET"


#: The value of every field that the frame did not carry. It is falsy and is never written
#: back by ``to_dict()``. Typed as ``Any`` so that it can stand in any field's default.
UNSET: Any = Unset()


def is_set(value: object) -> bool:
    """True when ``value`` is not :data:`UNSET` (``None`` counts as set: it is a JSON null)."""
    return value is not UNSET


def _short_repr(value: object) -> str:
    """attrs field repr for base64 payloads: show their size, not their bytes."""
    if isinstance(value, str) and len(value) > 48:
        return f"'{value[:24]}…' ({len(value)} chars)"
    return repr(value)


def obj_field(cls: type, **kw: Any) -> Any:
    """A field holding one nested object of class ``cls`` (a dict on the wire)."""
    return attrs.field(default=UNSET, metadata={"rtsync": ("obj", cls)}, **kw)


def list_field(cls: type, **kw: Any) -> Any:
    """A field holding a list of nested objects of class ``cls``."""
    return attrs.field(default=UNSET, metadata={"rtsync": ("list", cls)}, **kw)


def audio_field(**kw: Any) -> Any:
    """A field holding base64 audio: kept as text, shortened in reprs."""
    return attrs.field(default=UNSET, repr=_short_repr, **kw)


#: Per class: (field name, value repr) of each field the compact ``__repr__`` shows.
_REPR_SPECS: dict[type, tuple[tuple[str, Callable[[Any], str]], ...]] = {}


def _repr_spec(cls: type) -> tuple[tuple[str, Callable[[Any], str]], ...]:
    spec = tuple(
        (f.name, f.repr if callable(f.repr) else repr)
        for f in attrs.fields(cls)
        if f.name != "extra_fields" and f.repr
    )
    _REPR_SPECS[cls] = spec
    return spec


@attrs.define(kw_only=True)
class Model:
    """Base of the nested value objects (session, item, response, ...).

    Its ``repr`` shows only the fields that are set (and the extras, if any); the model and
    event classes keep it by declaring ``repr=False`` to attrs.

    Attributes:
        extra_fields: keys of the wire object that this class does not declare, kept so that
            they are written back by :meth:`to_dict`; ``None`` when there were none.
    """

    extra_fields: dict[str, Any] | None = attrs.field(default=None, eq=True)

    def __repr__(self) -> str:
        cls = type(self)
        spec = _REPR_SPECS.get(cls) or _repr_spec(cls)
        parts = []
        for name, show in spec:
            value = getattr(self, name, UNSET)
            if value is not UNSET:
                parts.append(f"{name}={show(value)}")
        if self.extra_fields:
            parts.append(f"extra_fields={self.extra_fields!r}")
        return f"{cls.__name__}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """The wire form: a new dict with every set field and every extra field."""
        from rtsync.events.codec import dumper

        result: dict[str, Any] = dumper(type(self))(self)
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Build an instance from its wire form, leniently (see the module docstring)."""
        from rtsync.events.codec import loader

        return loader(cls)(data)


@attrs.define(kw_only=True, repr=False)
class Event(Model):
    """Base of every event, client or server.

    A subclass that declares its own ``type`` is put in the codec's type table as it is
    defined (see :mod:`rtsync.events.codec`), unless it never comes from the wire.

    Attributes:
        type: the event type tag (a class constant, e.g. ``"response.done"``).
        event_id: the event id; client events get one from ``send()`` when it is unset.
    """

    type: ClassVar[str] = ""
    # The codec's type table for subclasses (see rtsync.events._registry): "beta", "ga" or None.
    _type_table: ClassVar[str | None] = None
    event_id: str = attrs.field(default=UNSET)
    # The original wire payload of an event translated from another dialect (see ``wire``).
    # Not an init argument, not compared, not dumped; the codec's loaders never touch it, so an
    # event parsed without translation leaves the slot empty and costs nothing.
    _wire: dict[str, Any] | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: an empty ``_wire`` slot reads as None (so that
        # copy, pickle and attrs helpers work on parsed events); anything else is a real miss.
        if name == "_wire":
            return None
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self)

    @classmethod
    def __attrs_init_subclass__(cls) -> None:
        # Run by attrs once the class is complete (its slotted form): register it under its type.
        table = cls._type_table
        if table is not None and cls.__dict__.get("type").__class__ is str and cls.type:
            _registry.register(cls, table)

    @property
    def wire(self) -> dict[str, Any]:
        """The payload as it was on the wire.

        For an event translated from the GA dialect (``parse_event(data, dialect="ga")``) this
        is the original GA dict, while ``type`` and :meth:`to_dict` give the beta vocabulary.
        For any other event it is :meth:`to_dict` (a new dict on each access). Not part of
        equality and never written by :meth:`to_dict`.
        """
        w = self._wire
        return self.to_dict() if w is None else w

    def to_json(self) -> str:
        """The wire form as compact JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


@attrs.define(kw_only=True, repr=False)
class ClientEvent(Event):
    """Base of the events a client sends."""

    _type_table: ClassVar[str | None] = "beta"


@attrs.define(kw_only=True, repr=False)
class ServerEvent(Event):
    """Base of the events a server sends."""

    _type_table: ClassVar[str | None] = "beta"


@attrs.define(kw_only=True)
class UnknownEvent(Event):
    """An event whose ``type`` rtsync does not know; the whole payload is kept.

    Attributes:
        type: the event type from the wire.
        raw: the whole decoded payload, written back unchanged by :meth:`to_dict`.
    """

    type: str = attrs.field(default="")  # type: ignore[misc]
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A copy of the payload as it arrived (plus ``type`` and ``event_id`` if missing)."""
        out = dict(self.raw)
        out.setdefault("type", self.type)
        if self.event_id is not UNSET:
            out.setdefault("event_id", self.event_id)
        return out
