"""JSON text <-> event objects.

:func:`parse_event` is the one way frames become events. It looks the ``type`` up in a table
of the known classes, which the classes fill themselves: every subclass of ``ClientEvent`` or
``ServerEvent`` that declares a ``type`` is registered as it is defined (see
:class:`~rtsync.events.Event`); the GA-only classes go in a table of their own when
:mod:`rtsync.events.ga` is first needed. A class's loader is compiled once, on first use, into
a small function that reads each declared key with ``dict.get`` and never calls ``__init__`` (no
validators, no ``cls(**payload)``), which keeps parsing cheap on the reader thread.

Lenient by design, because real traffic demands it:

* an unknown ``type`` gives an :class:`UnknownEvent` holding the whole payload;
* unknown keys are kept (``extra_fields``) and written back;
* absent keys stay :data:`UNSET` and are not written back;
* a nested object or list of the wrong JSON type is kept as its raw value.

Only a frame that is not JSON, not a JSON object, or has no string ``type`` raises
:class:`rtsync.errors.ProtocolError`.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from typing import Any

import attrs

from rtsync.errors import ProtocolError
from rtsync.events import _registry
from rtsync.events import client as _client  # noqa: F401 - defining the classes registers them
from rtsync.events import server as _server  # noqa: F401 - defining the classes registers them
from rtsync.events._base import UNSET, Event, Model, UnknownEvent

__all__ = ["dump_event", "dump_value", "dumper", "event_class", "event_types", "loader", "parse_event", "warm_loaders"]

# The type tables are the codec's; they live in the leaf module _registry, which the event base
# class fills as each class is defined. Importing client and server here defines (so registers)
# every beta class; the GA-only classes register when rtsync.events.ga is first imported.
_TYPES = _registry.TYPES
_GA_TYPES = _registry.GA_TYPES  # GA-only events (rtsync.events.ga)
_TRANSLATION_TYPES = _registry.TRANSLATION_TYPES  # the translation endpoint (rtsync.events.translation)
_TYPE_LOADERS = _registry.TYPE_LOADERS
_LOADERS: dict[type, Callable[[dict[str, Any]], Any]] = {}
_DUMPERS: dict[type, Callable[[Any], dict[str, Any]]] = {}
# attrs fields that are not wire keys: kept apart (extras, raw payload) or not wire data (_wire).
_NOT_LOADED = frozenset({"extra_fields", "raw", "_wire"})
if not _TYPES:  # attrs older than 24.1 never calls __attrs_init_subclass__: fail here, not on every frame
    raise ImportError("rtsync needs attrs>=24.1 (its event classes register through __attrs_init_subclass__)")


def event_class(type_: str, dialect: str = "beta") -> type[Event] | None:
    """The class registered for an event type (with ``dialect="ga"``, GA-only types too), or ``None``.

    The type is a wire type of that dialect's table; GA names that are translated to beta
    classes (``response.output_text.delta``...) are not in it, see :mod:`rtsync.events.dialect`.
    """
    if dialect == "translation":
        _ensure_translation()
        return _TRANSLATION_TYPES.get(type_)
    if dialect == "ga":
        _ensure_ga()
        cls = _GA_TYPES.get(type_)
        if cls is not None:
            return cls
    return _TYPES.get(type_)


def event_types(dialect: str = "beta") -> dict[str, type[Event]]:
    """A copy of a type table: every known event type and its class (``"ga"``: plus GA-only ones;
    ``"translation"``: the translation endpoint's own table)."""
    if dialect == "translation":
        _ensure_translation()
        return dict(_TRANSLATION_TYPES)
    if dialect == "ga":
        _ensure_ga()
        return {**_TYPES, **_GA_TYPES}
    return dict(_TYPES)


def _ensure_ga() -> None:
    """Load the GA-only classes, which register as they are defined (a no-op once loaded).

    Done on first use rather than at import: it keeps ``import rtsync`` light.
    """
    if not _GA_TYPES:
        import rtsync.events.ga  # noqa: F401


def _ensure_translation() -> None:
    """Load the translation endpoint's classes (a no-op once loaded), like :func:`_ensure_ga`."""
    if not _TRANSLATION_TYPES:
        import rtsync.events.translation  # noqa: F401


def _nested(field: attrs.Attribute) -> tuple[str, type] | None:  # type: ignore[type-arg]
    spec = field.metadata.get("rtsync")
    return spec  # type: ignore[no-any-return]


def _compile_loader(cls: type) -> Callable[[dict[str, Any]], Any]:
    fields = [f for f in attrs.fields(cls) if f.name not in _NOT_LOADED]
    names = [f.name for f in fields]
    known = frozenset(names) | ({"type"} if issubclass(cls, Event) else frozenset())
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "UNSET": UNSET, "_known": known,
                           "_dict": dict, "_list": list}
    lines = ["def load(d):", "    o = _new(_cls)", "    g = d.get"]
    for i, f in enumerate(fields):
        spec = _nested(f)
        if spec is None:
            lines.append(f"    o.{f.name} = g({f.name!r}, UNSET)")
            continue
        kind, sub = spec
        env[f"_l{i}"] = loader(sub)
        lines.append(f"    v = g({f.name!r}, UNSET)")
        if kind == "obj":
            lines.append(f"    o.{f.name} = _l{i}(v) if v.__class__ is _dict else v")
        else:
            lines.append(
                f"    o.{f.name} = [_l{i}(x) if x.__class__ is _dict else x for x in v]"
                " if v.__class__ is _list else v"
            )
    lines += [
        "    if d.keys() <= _known:",
        "        o.extra_fields = None",
        "    else:",
        "        o.extra_fields = {k: v for k, v in d.items() if k not in _known}",
        "    return o",
    ]
    exec("\n".join(lines), env)  # noqa: S102, RUF100 - generated from attrs field names only
    fn: Callable[[dict[str, Any]], Any] = env["load"]
    fn.__qualname__ = f"load_{cls.__name__}"
    return fn


def warm_loaders() -> None:
    """Compile the loader of every registered event type now (idempotent; a few ms the first time).

    Otherwise each type's loader is compiled when its first event arrives, which delays that
    event (the first audio delta of a session, say) by a few hundred microseconds.
    """
    compiled = 0
    for t, cls in list(_TYPES.items()):
        if t not in _TYPE_LOADERS:
            _TYPE_LOADERS[t] = loader(cls)
            compiled += 1
    if compiled:
        # The new code objects and functions would otherwise trip a full garbage collection
        # a few hundred events later, in the middle of the stream (a ~1 ms pause).
        gc.collect()


def loader(cls: type) -> Callable[[dict[str, Any]], Any]:
    """The compiled loader of ``cls`` (wire dict -> instance)."""
    fn = _LOADERS.get(cls)
    if fn is None:
        fn = _LOADERS[cls] = _compile_loader(cls)
    return fn


def dump_value(v: Any) -> Any:
    """The wire form of a field value: models become dicts (also inside a list); the rest as is."""
    if isinstance(v, Model):
        return v.to_dict()
    if v.__class__ is list:
        return [x.to_dict() if isinstance(x, Model) else x for x in v]
    return v


def _compile_dumper(cls: type) -> Callable[[Any], dict[str, Any]]:
    fields = [f for f in attrs.fields(cls) if f.name not in _NOT_LOADED]
    env: dict[str, Any] = {"UNSET": UNSET, "_dv": dump_value}
    if issubclass(cls, Event):
        lines = ["def dump(o):", "    d = {'type': o.type}"]
    else:
        lines = ["def dump(o):", "    d = {}"]
    for f in fields:
        conv = "_dv(v)" if _nested(f) is not None or f.type in ("Any", "dict[str, Any]") else "v"
        lines += [
            f"    v = o.{f.name}",
            "    if v is not UNSET:",
            f"        d[{f.name!r}] = {conv}",
        ]
    lines += ["    e = o.extra_fields", "    if e:", "        d.update(e)", "    return d"]
    exec("\n".join(lines), env)  # noqa: S102, RUF100 - generated from attrs field names only
    fn: Callable[[Any], dict[str, Any]] = env["dump"]
    fn.__qualname__ = f"dump_{cls.__name__}"
    return fn


def dumper(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The compiled dumper of ``cls`` (instance -> wire dict)."""
    fn = _DUMPERS.get(cls)
    if fn is None:
        fn = _DUMPERS[cls] = _compile_dumper(cls)
    return fn


def _decode(data: str | bytes | bytearray | memoryview) -> Any:
    try:
        # json.loads(bytes) sniffs the encoding and decodes with "surrogatepass"; a strict UTF-8
        # decode first is faster, and strict is right (a text frame must be UTF-8).
        return json.loads(data if isinstance(data, str) else str(data, "utf-8"))
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ProtocolError(f"frame is not valid JSON: {exc}",
                            data.tobytes() if isinstance(data, memoryview) else data) from None


def parse_event(data: str | bytes | bytearray | memoryview | dict[str, Any], dialect: str = "beta") -> Event:
    """Turn one frame (JSON text, UTF-8 bytes or an already decoded dict) into an event.

    Args:
        data: the frame.
        dialect: the wire dialect: ``"beta"`` (the 2024-10-01 protocol; the classes' own
            vocabulary, parsed as is) or ``"ga"`` (the GA protocol: the frame is translated to
            the beta vocabulary by :func:`rtsync.events.dialect.event_from_ga`, so that e.g.
            ``response.output_text.delta`` gives a :class:`ResponseTextDelta`; the original GA
            dict stays reachable as ``event.wire``; GA-only events get the classes of
            :mod:`rtsync.events.ga`), or ``"translation"`` (the translation endpoint
            ``/v1/realtime/translations``, whose vocabulary is its own: its ``session.created``
            or ``session.output_audio.delta`` get the classes of
            :mod:`rtsync.events.translation`, never the conversation classes of the same name).

    Returns:
        An instance of the event class registered for the frame's ``type`` (client or server),
        or an :class:`UnknownEvent` holding the payload.

    Raises:
        ProtocolError: the frame is not JSON, not a JSON object, or has no string ``type``.
        ValueError: ``dialect`` is not ``"beta"``, ``"ga"`` or ``"translation"``.
    """
    if dialect != "beta":
        return _parse_other(data, dialect)
    obj = data if data.__class__ is dict else (_decode(data) if not isinstance(data, dict) else data)  # type: ignore[arg-type]
    if not isinstance(obj, dict):
        raise ProtocolError(f"event is not a JSON object but {type(obj).__name__}", data)
    t = obj.get("type")
    fn = _TYPE_LOADERS.get(t) if t.__class__ is str else None  # type: ignore[arg-type]
    if fn is not None:
        return fn(obj)  # type: ignore[no-any-return]
    if not isinstance(t, str):
        if t is None:
            raise ProtocolError("event has no 'type' field", data)
        raise ProtocolError(f"event 'type' is not a string but {type(t).__name__}", data)
    cls = _TYPES.get(t)
    if cls is None:
        ev = UnknownEvent(type=t, raw=obj)
        eid = obj.get("event_id", UNSET)
        if eid is not UNSET:
            ev.event_id = eid
        return ev
    fn = _TYPE_LOADERS[t] = loader(cls)
    return fn(obj)  # type: ignore[no-any-return]


def _parse_other(data: str | bytes | bytearray | memoryview | dict[str, Any], dialect: str) -> Event:
    """``parse_event`` for a dialect other than beta (kept out of the beta fast path)."""
    if dialect != "ga" and dialect != "translation":
        raise ValueError(f"unsupported dialect {dialect!r}; expected 'beta', 'ga' or 'translation'")
    obj = data if isinstance(data, dict) else _decode(data)
    if not isinstance(obj, dict):
        raise ProtocolError(f"event is not a JSON object but {type(obj).__name__}", data)
    t = obj.get("type")
    if not isinstance(t, str):
        if t is None:
            raise ProtocolError("event has no 'type' field", data)
        raise ProtocolError(f"event 'type' is not a string but {type(t).__name__}", data)
    if dialect == "translation":
        cls = event_class(t, "translation")
        if cls is None:
            ev = UnknownEvent(type=t, raw=obj)
            eid = obj.get("event_id", UNSET)
            if eid is not UNSET:
                ev.event_id = eid
            return ev
        return loader(cls)(obj)  # type: ignore[no-any-return]
    from rtsync.events.dialect import event_from_ga

    return event_from_ga(obj)


def dump_event(event: Event) -> dict[str, Any]:
    """The wire form of an event (same as ``event.to_dict()``)."""
    return event.to_dict()
