"""Callback registry and dispatchers.

The reader thread hands events over in *batches* (a list of the events that were already
buffered on the socket, or one event when only one was there) through a
:class:`queue.SimpleQueue`. A dispatcher takes them off and runs, per event, first the
internal hooks (state kept by the client), then the user callbacks, then the waiters of
``wait_for``, all in arrival order and one at a time.

Two dispatchers share that delivery code:

* :class:`ThreadDispatcher` — a thread named ``rtsync-dispatch`` (the default);
* :class:`PumpDispatcher` — no thread; a GUI loop calls :meth:`PumpDispatcher.dispatch_pending`
  (for instance from Tk's ``after``), and every callback runs on that loop's thread.

A callback that raises is logged and reported as an ``rtsync.callback_error`` event; it never
stops the delivery of the next callback or event.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Any, Callable

from rtsync._log import logger
from rtsync.errors import ClosedError
from rtsync.events._base import Event, UnknownEvent
from rtsync.events.local import CallbackErrorEvent, CloseEvent

__all__ = ["HandlerRegistry", "PumpDispatcher", "ThreadDispatcher", "Waiter", "event_key"]

Callback = Callable[[Any], Any]

_UNKNOWN_KEY = "rtsync.unknown"

#: How many delivered events a ``wait_for`` can look back at (see :meth:`RealtimeClient.wait_for`).
RECENT_EVENTS = 256
_CACHE_MAX = 1024


def event_key(type_or_class: str | type[Event]) -> str:
    """The registry key for an event type string, an event class, or ``"*"``."""
    if isinstance(type_or_class, str):
        return type_or_class
    if isinstance(type_or_class, type) and issubclass(type_or_class, Event):
        if type_or_class is UnknownEvent:
            return _UNKNOWN_KEY
        t = type_or_class.__dict__.get("type")
        if isinstance(t, str) and t:
            return t
    raise TypeError(f"expected an event type string, an event class or '*', got {type_or_class!r}")


class _Handler:
    __slots__ = ("fn", "once")

    def __init__(self, fn: Callback, once: bool) -> None:
        self.fn = fn
        self.once = once


class HandlerRegistry:
    """Callbacks by event type, plus ``"*"`` for every event. Thread-safe.

    Reads are lock-free: each key maps to a tuple that is replaced, never mutated, so the
    dispatcher takes a consistent snapshot without a lock while other threads call
    ``on``/``off``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, tuple[_Handler, ...]] = {}
        self._all: tuple[_Handler, ...] = ()
        # snapshot() results by (key, also). Any change replaces the dict (never clears it in
        # place), so a reader holding the old one only ever sees a complete, older snapshot.
        self._cache: dict[tuple[str, str | None], tuple[tuple[str, _Handler], ...]] = {}

    def add(self, key: str, fn: Callback, once: bool = False) -> None:
        """Register ``fn`` for ``key`` (``"*"`` = every event)."""
        if not callable(fn):
            raise TypeError(f"callback must be callable, got {fn!r}")
        h = _Handler(fn, once)
        with self._lock:
            self._store(key, (*self._current(key), h))

    def register(self, event: str | type[Event], fn: Callback | None = None, once: bool = False) -> Any:
        """``on``/``once`` for a facade: register ``fn`` for an event type, class or ``"*"`` and
        return it, or, without ``fn``, return a decorator that does so."""
        key = event_key(event)
        if fn is None:
            def deco(f: Callback) -> Callback:
                self.add(key, f, once)
                return f
            return deco
        self.add(key, fn, once)
        return fn

    def _current(self, key: str) -> tuple[_Handler, ...]:
        return self._all if key == "*" else self._by_key.get(key, ())

    def _store(self, key: str, handlers: tuple[_Handler, ...]) -> None:
        """Replace the registrations of ``key`` (under ``_lock``) and drop the cached snapshots."""
        if key == "*":
            self._all = handlers
        elif handlers:
            self._by_key[key] = handlers
        else:
            self._by_key.pop(key, None)
        self._cache = {}

    def remove(self, key: str, fn: Callback | None = None) -> int:
        """Unregister ``fn`` (or every callback when ``fn`` is None) for ``key``; return how many."""
        with self._lock:
            current = self._current(key)
            kept = tuple(h for h in current if fn is not None and h.fn != fn)
            self._store(key, kept)
        return len(current) - len(kept)

    def _discard(self, key: str, h: _Handler) -> bool:
        """Remove one registration; False if it was already gone (a ``once`` that fired)."""
        with self._lock:
            current = self._current(key)
            if h not in current:
                return False
            self._store(key, tuple(x for x in current if x is not h))
            return True

    def snapshot(self, key: str, also: str | None = None) -> tuple[tuple[str, _Handler], ...]:
        """:meth:`handlers_for` as a tuple, cached until the next change of the registry."""
        cache = self._cache
        t = cache.get((key, also))
        if t is None:
            t = tuple(self.handlers_for(key, also))
            if len(cache) < _CACHE_MAX:  # unknown types from a server are unbounded; stay small
                cache[(key, also)] = t
        return t

    def handlers_for(self, key: str, also: str | None = None) -> list[tuple[str, _Handler]]:
        """Snapshot of the callbacks an event of ``key`` goes to: its own first, then ``"*"``.

        ``also`` names a second key whose callbacks come between (used for unknown events,
        which go to callbacks of their type string and of :class:`UnknownEvent`).
        """
        out = [(key, h) for h in self._by_key.get(key, ())]
        if also is not None:
            out += [(also, h) for h in self._by_key.get(also, ())]
        return out + [("*", h) for h in self._all]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values()) + len(self._all)


class Waiter:
    """One blocking ``wait_for``: matched by the dispatcher after the event's callbacks ran."""

    __slots__ = ("_lock", "done", "error", "event", "key", "predicate", "seq")

    def __init__(self, key: str, predicate: Callable[[Any], bool] | None) -> None:
        self.key = key
        self.predicate = predicate
        self.done = threading.Event()
        self.event: Any = None
        self.error: BaseException | None = None
        self.seq = 0  # the sequence number of the event taken
        self._lock = threading.Lock()

    def offer(self, ev: Event, key: str, seq: int = 0) -> bool:
        """Take ``ev`` (delivered as number ``seq``) if it matches; True when this waiter is finished."""
        if self.done.is_set():
            return True
        if self.key != "*" and self.key != key:
            return False
        if self.predicate is not None:
            try:
                if not self.predicate(ev):
                    return False
            except Exception as exc:  # the waiting thread re-raises it
                with self._lock:
                    if not self.done.is_set():
                        self.error = exc
                        self.done.set()
                return True
        with self._lock:  # the dispatcher and a waiter's own look-back may offer at once
            if not self.done.is_set():
                self.event = ev
                self.seq = seq
                self.done.set()
        return True

    def fail(self, exc: BaseException) -> None:
        """Release the waiting thread with ``exc``."""
        with self._lock:
            if not self.done.is_set():
                self.error = exc
                self.done.set()


class _Delivery:
    """The shared per-event delivery: hooks, callbacks (guarded), waiters, close handling."""

    def __init__(self, registry: HandlerRegistry, hooks: list[Callable[[Event], None]]) -> None:
        self.registry = registry
        self.hooks: tuple[Callable[[Event], None], ...] = tuple(hooks)
        self._hook_lock = threading.Lock()
        self._waiters: list[Waiter] = []
        self._waiter_lock = threading.Lock()
        self._closed: CloseEvent | None = None
        self.thread_ident: int | None = None
        self.finished = threading.Event()
        #: how many events were delivered so far (the sequence number of the latest one)
        self.seq = 0
        # the latest delivered events, for waiters that start just after their request went out
        self._recent: collections.deque[tuple[int, Event]] = collections.deque(maxlen=RECENT_EVENTS)

    # -- hooks (copy-on-write: deliver() iterates a tuple that is never mutated) -------------
    def add_hook(self, hook: Callable[[Event], None]) -> None:
        """Add an internal hook, run before the callbacks of every later event."""
        with self._hook_lock:
            self.hooks = (*self.hooks, hook)

    def remove_hook(self, hook: Callable[[Event], None]) -> None:
        """Remove an internal hook (no error if it is gone)."""
        with self._hook_lock:
            self.hooks = tuple(h for h in self.hooks if h is not hook)

    # -- waiters -----------------------------------------------------------------------------
    def add_waiter(self, w: Waiter, since: int | None = None) -> None:
        """Register a waiter; if the connection already ended, fail it at once.

        With ``since``, the events already delivered with a sequence number above it (the last
        :data:`RECENT_EVENTS` ones) are offered first, on the calling thread.
        """
        with self._waiter_lock:
            closed = self._closed
            if closed is None:
                self._waiters.append(w)
        if since is not None and since < self.seq:
            # after the append: an event delivered meanwhile is either in this snapshot or
            # offered by deliver(), which records it before looking at the waiters
            for seq, ev in list(self._recent):
                if seq > since and w.offer(ev, _waiter_key(ev, w), seq):
                    self.remove_waiter(w)
                    return
        if closed is not None:
            w.fail(_closed_error(closed))

    def fail_waiters(self, exc: BaseException) -> None:
        """Release every current waiter with ``exc`` (later waiters are not affected)."""
        with self._waiter_lock:
            waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.fail(exc)

    def remove_waiter(self, w: Waiter) -> None:
        """Forget a waiter (after it timed out)."""
        with self._waiter_lock:
            try:
                self._waiters.remove(w)
            except ValueError:
                pass

    # -- delivery ----------------------------------------------------------------------------
    def deliver(self, ev: Event) -> None:
        """Run hooks, callbacks and waiters for one event, on the calling thread."""
        unknown = ev.__class__ is UnknownEvent
        key = ev.type
        for hook in self.hooks:
            try:
                hook(ev)
            except Exception:  # an internal hook failing is a bug; never stop delivery for it
                logger.exception("rtsync internal handler failed on %s", ev.type)
        registry = self.registry
        for reg_key, h in registry.snapshot(key, _UNKNOWN_KEY if unknown else None):
            if h.once and not registry._discard(reg_key, h):
                continue
            try:
                h.fn(ev)
            except Exception as exc:
                self._report(h.fn, ev, exc)
        seq = self.seq + 1
        self._recent.append((seq, ev))
        self.seq = seq
        if self._waiters:
            with self._waiter_lock:
                waiters = list(self._waiters)
            for w in waiters:
                wkey = _UNKNOWN_KEY if (unknown and w.key == _UNKNOWN_KEY) else key
                if w.offer(ev, wkey, seq):
                    self.remove_waiter(w)
        if ev.__class__ is CloseEvent:
            self._close_waiters(ev)  # type: ignore[arg-type]

    def _close_waiters(self, ev: CloseEvent) -> None:
        with self._waiter_lock:
            self._closed = ev
            waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.fail(_closed_error(ev))

    def _report(self, fn: Callback, ev: Event, exc: Exception) -> None:
        """Log a callback's exception and hand it to the ``rtsync.callback_error`` callbacks."""
        logger.exception("rtsync callback %r failed on %s", fn, ev.type, exc_info=exc)
        if ev.__class__ is CallbackErrorEvent:
            return  # never recurse into the error hook
        err = CallbackErrorEvent(event=ev, exception=exc, callback=fn)
        for reg_key, h in self.registry.snapshot(CallbackErrorEvent.type):
            if h.once and not self.registry._discard(reg_key, h):
                continue
            try:
                h.fn(err)
            except Exception:
                logger.exception("rtsync callback_error handler %r failed", h.fn)


def _waiter_key(ev: Event, w: Waiter) -> str:
    if ev.__class__ is UnknownEvent and w.key == _UNKNOWN_KEY:
        return _UNKNOWN_KEY
    return ev.type


def _closed_error(ev: CloseEvent) -> ClosedError:
    reason = f": {ev.reason}" if ev.reason else ""
    return ClosedError(f"connection closed (code {ev.code}{reason})", code=ev.code, reason=ev.reason)


class ThreadDispatcher(_Delivery):
    """Runs every callback on one thread, ``rtsync-dispatch``, in arrival order.

    It ends after delivering the :class:`~rtsync.events.local.CloseEvent` of the connection.
    """

    def __init__(
        self, q: queue.SimpleQueue[list[Event]], registry: HandlerRegistry,
        hooks: list[Callable[[Event], None]], name: str = "rtsync-dispatch",
    ) -> None:
        super().__init__(registry, hooks)
        self._q = q
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the dispatcher thread."""
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The dispatcher thread."""
        return self._thread

    def _run(self) -> None:
        self.thread_ident = threading.get_ident()
        get = self._q.get
        deliver = self.deliver
        try:
            while True:
                batch = get()
                for ev in batch:
                    deliver(ev)
                    if ev.__class__ is CloseEvent:
                        return
        finally:
            self.finished.set()


class PumpDispatcher(_Delivery):
    """Delivers events only when :meth:`dispatch_pending` is called (from a GUI loop).

    Every callback runs on the thread that calls ``dispatch_pending``; nothing runs on its own.
    """

    def __init__(
        self, q: queue.SimpleQueue[list[Event]], registry: HandlerRegistry,
        hooks: list[Callable[[Event], None]],
    ) -> None:
        super().__init__(registry, hooks)
        self._q = q
        self._pending: list[Event] = []
        self._pos = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Nothing to start: the GUI loop pumps."""

    def dispatch_pending(self, max_events: int | None = None, max_seconds: float | None = None) -> int:
        """Deliver the events that have arrived, on the calling thread.

        Args:
            max_events: deliver at most this many events in this call.
            max_seconds: stop after this much time (checked between events), so a GUI stays
                responsive; the rest waits for the next call.

        Returns:
            The number of events delivered.
        """
        with self._lock:
            self.thread_ident = threading.get_ident()
            deadline = None if max_seconds is None else time.monotonic() + max_seconds
            n = 0
            while max_events is None or n < max_events:
                if self._pos >= len(self._pending):
                    try:
                        self._pending = self._q.get_nowait()
                    except queue.Empty:
                        break
                    self._pos = 0
                    continue
                ev = self._pending[self._pos]
                self._pos += 1
                self.deliver(ev)
                n += 1
                if ev.__class__ is CloseEvent:
                    self.finished.set()
                if deadline is not None and time.monotonic() >= deadline:
                    break
            return n

