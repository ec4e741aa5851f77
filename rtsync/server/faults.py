"""Scripted faults for the local server, so that clients can test their failure paths.

Give faults to the server as strings (or :class:`Fault` objects)::

    LocalServer(faults=["drop@response.text.delta:3", "close=4000:bye@response.done"])

or on the command line, one ``--fault`` per fault::

    python -m rtsync serve --fault drop@response.text.delta:3 --fault slow-read=0.01

The mini-language
    One fault is ``KIND[=VALUE][@WHEN][#CONNECTIONS]``.

    ``WHEN`` says when the fault fires (each fault fires at most once per connection):

    * nothing, or ``start``: right after ``session.created``;
    * ``TYPE`` or ``TYPE:N``: right after the N-th (default first) server event of that type was
      sent (the type as written on the wire, e.g. ``response.text.delta:3``);
    * ``2s``, ``1.5s``, ``250ms``: that long after ``session.created`` (a timer).

    ``CONNECTIONS`` limits the fault to some connections, numbered from 1 in the order they
    were accepted: ``#1`` (only the first), ``#2,3``, ``#2-`` (the second and later). Without
    it the fault applies to every connection. ``#1`` is how a reconnection test breaks the
    first connection and lets the next one work.

    ``KIND`` (and ``VALUE``):

    ``drop`` / ``drop=mid-frame``
        Cut the TCP connection with no close frame (shutdown of both directions). With
        ``mid-frame``, the first half of one more text frame goes out before the cut. The client
        sees a close with code 1006. Alias: ``drop-after=WHEN``.
    ``close=CODE[:REASON]``
        A WebSocket close handshake with that code (1000-4999, not 1004-1006/1015) and reason,
        e.g. ``close=1001:going away`` or ``close=4000:reason``.
    ``invalid-json``
        One text frame that is not JSON.
    ``binary[=BYTES]``
        One binary frame of BYTES bytes (default 16).
    ``large[=SIZE]``
        One text frame of SIZE bytes (default ``1m``; ``k``/``m`` suffixes are KiB/MiB): a valid
        JSON object of the unknown type ``fault.large`` with a ``padding`` string.
    ``missing-field[=TYPE]``
        An event of TYPE (default ``response.text.delta``) with nothing but ``type`` and
        ``event_id``.
    ``unknown-type``
        One event of type ``fault.unknown`` (with ``event_id`` and a ``detail`` string).
    ``error-burst[=N]``
        N ``error`` events in a row (default 20): type ``server_error``, code
        ``fault_injected``, message ``injected error K of N``.
    ``silent`` / ``silent-after=WHEN``
        From then on the server sends nothing at all: no events, no pongs, no close frame. It
        still reads (and discards) what the client sends. The connection ends when the client
        gives up, or when the server stops.
    ``slow-read=DELAY[:CHUNK]``
        From then on the server waits DELAY seconds before each read from the socket and reads
        at most CHUNK bytes (default 4096) at a time, so the client's sends meet TCP
        backpressure.
    ``expire=DURATION``
        The session expires DURATION after ``session.created`` (``expire=30s`` is
        ``expire@30s``), the way the live service ends a session at its maximum length: one
        ``error`` event, then a close handshake. The exact shape::

            {"type": "error", "event_id": "event_...",
             "error": {"type": "invalid_request_error", "code": "session_expired",
                       "message": "Your session hit the maximum duration of 30 seconds.",
                       "param": null, "event_id": null}}

        then a close frame with code 1000 and reason ``session expired``. The connection's
        ``session.created`` announces it: its ``expires_at`` becomes the expiry, in whole
        seconds rounded down (never later than the real end), so a client's renewal can act on it.

    An event-triggered fault fires on the thread that sent the triggering event, right after
    it, so nothing else can come between them. A fault that ends the connection (``drop``,
    ``close``, ``expire``) or ``silent`` makes the session stop sending: responses in flight end
    quietly.

:attr:`LocalServer.fault_log <rtsync.server.LocalServer.fault_log>` lists the faults that fired,
as ``(connection number, fault spec)`` pairs, in order.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rtsync.events.dialect import GA_TO_BETA_NAMES
from rtsync.server.validation import error_event
from rtsync.server.wire import new_id

__all__ = ["KINDS", "Fault", "FaultError", "FaultInjector", "FaultPlan", "parse_fault", "parse_faults"]

#: Every fault kind, with whether it takes a value (``None``: never; ``True``: required;
#: ``False``: optional).
KINDS: dict[str, bool | None] = {
    "drop": False,
    "close": True,
    "invalid-json": None,
    "binary": False,
    "large": False,
    "missing-field": False,
    "unknown-type": None,
    "error-burst": False,
    "silent": None,
    "slow-read": True,
    "expire": True,
}
_ALIASES = {"drop-after": "drop", "silent-after": "silent"}
_FATAL = frozenset({"drop", "close", "expire"})
_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(ms|s)$")
_SIZE = re.compile(r"^(\d+)([kKmM]?)$")


class FaultError(ValueError):
    """A fault spec that does not parse."""


class _Stop(ConnectionError):
    """The connection was ended (or silenced) by a fault: the session stops sending."""


def _duration(text: str, spec: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise FaultError(f"fault {spec!r}: {text!r} is not a duration like 2s, 1.5s or 250ms")
    value = float(m.group(1))
    return value / 1000.0 if m.group(2) == "ms" else value


def _size(text: str, spec: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise FaultError(f"fault {spec!r}: {text!r} is not a size like 1048576, 64k or 1m")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]


@dataclass(frozen=True)
class Fault:
    """One scripted fault (see the module docstring for the meaning of each kind).

    Attributes:
        kind: one of :data:`KINDS`.
        value: the kind's value as written (``""`` when none).
        event: fire after a server event of this type (``None``: not event-triggered).
        count: ...after the ``count``-th such event.
        delay: fire this many seconds after ``session.created`` (``None``: not timed). A fault
            with neither ``event`` nor ``delay`` fires right after ``session.created``.
        connections: the connection numbers it applies to as ``(first, last)``; ``last`` is
            ``None`` for "and every later one".
        spec: the spec text it was parsed from.
    """

    kind: str
    value: str = ""
    event: str | None = None
    count: int = 1
    delay: float | None = None
    connections: tuple[int, int | None] = (1, None)
    spec: str = ""

    def __str__(self) -> str:
        return self.spec or self.kind

    def applies_to(self, number: int) -> bool:
        """Whether the fault applies to connection ``number`` (1-based)."""
        first, last = self.connections
        return number >= first and (last is None or number <= last)


def parse_fault(spec: str) -> Fault:
    """Parse one fault spec (``KIND[=VALUE][@WHEN][#CONNECTIONS]``).

    Args:
        spec: the text, e.g. ``"drop@response.text.delta:3"``.

    Returns:
        The :class:`Fault`, with its value checked.

    Raises:
        ValueError: the spec does not parse (the message says why).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise FaultError(f"a fault spec must be a non-empty string, got {spec!r}")
    text = spec.strip()
    connections: tuple[int, int | None] = (1, None)
    if "#" in text:
        text, _, conns = text.rpartition("#")
        connections = _connections(conns, spec)
    when = ""
    head = text
    if "@" in text:
        head, _, when = text.partition("@")
    kind, eq, value = head.partition("=")
    kind = kind.strip().lower()
    if kind in _ALIASES:  # drop-after=WHEN, silent-after=WHEN
        if when or not value:
            raise FaultError(f"fault {spec!r}: write {kind}=WHEN (for example {kind}=response.text.delta:3)")
        kind, when, value, eq = _ALIASES[kind], value, "", ""
    if kind not in KINDS:
        raise FaultError(f"fault {spec!r}: unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    takes = KINDS[kind]
    if takes is None and eq:
        raise FaultError(f"fault {spec!r}: {kind} takes no value")
    if takes is True and not value:
        raise FaultError(f"fault {spec!r}: {kind} needs a value ({kind}=...)")
    if kind == "expire":
        if when:
            raise FaultError(f"fault {spec!r}: write expire=DURATION (the duration is the trigger)")
        when, value = value, value
    _check_value(kind, value, spec)
    event: str | None = None
    count = 1
    delay: float | None = None
    when = when.strip()
    if when and when != "start":
        if _DURATION.match(when):
            delay = _duration(when, spec)
        else:
            event, colon, n = when.rpartition(":")
            if not colon:
                event, n = when, "1"
            if not event or not n.isdigit() or int(n) < 1:
                raise FaultError(f"fault {spec!r}: the trigger {when!r} is not TYPE, TYPE:N (N >= 1) or a duration")
            count = int(n)
    return Fault(kind=kind, value=value, event=event, count=count, delay=delay, connections=connections,
                 spec=spec.strip())


def _connections(text: str, spec: str) -> tuple[int, int | None]:
    text = text.strip()
    m = re.match(r"^(\d+)(?:(-)(\d*))?$", text)
    if m:
        first = int(m.group(1))
        last: int | None = first if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
    else:
        nums = [p.strip() for p in text.split(",")]
        if not nums or not all(p.isdigit() for p in nums):
            raise FaultError(f"fault {spec!r}: #{text} is not a connection number like #1, #2-3 or #2-")
        first, last = min(map(int, nums)), max(map(int, nums))
    if first < 1 or (last is not None and last < first):
        raise FaultError(f"fault {spec!r}: connection numbers start at 1")
    return first, last


def _check_value(kind: str, value: str, spec: str) -> None:
    if kind == "drop" and value not in ("", "mid-frame"):
        raise FaultError(f"fault {spec!r}: drop takes no value or 'mid-frame'")
    elif kind == "close":
        code_text, _, reason = value.partition(":")
        if not code_text.isdigit():
            raise FaultError(f"fault {spec!r}: close=CODE[:REASON] needs a numeric code")
        code = int(code_text)
        if not 1000 <= code <= 4999 or code in (1004, 1005, 1006, 1015) or 1016 <= code <= 2999:
            raise FaultError(f"fault {spec!r}: {code} is not a close code a server may send")
        if len(reason.encode()) > 123:
            raise FaultError(f"fault {spec!r}: the close reason is over 123 bytes")
    elif kind in ("binary", "error-burst") and value:
        if not value.isdigit() or int(value) < 1:
            raise FaultError(f"fault {spec!r}: {kind}= takes a positive count")
    elif kind == "large" and value:
        if _size(value, spec) < 64:
            raise FaultError(f"fault {spec!r}: large= needs at least 64 bytes")
    elif kind == "missing-field" and value and not re.match(r"^[\w.]+$", value):
        raise FaultError(f"fault {spec!r}: missing-field= takes an event type")
    elif kind == "slow-read":
        delay, _, chunk = value.partition(":")
        try:
            d = float(delay)
        except ValueError:
            raise FaultError(f"fault {spec!r}: slow-read=DELAY[:CHUNK] needs DELAY in seconds") from None
        if d < 0 or (chunk and (not chunk.isdigit() or int(chunk) < 1)):
            raise FaultError(f"fault {spec!r}: slow-read needs DELAY >= 0 and CHUNK >= 1")
    elif kind == "expire":
        _duration(value, spec)


def parse_faults(specs: Iterable[str | Fault] | str | Fault | None) -> list[Fault]:
    """Parse faults given as spec strings and/or :class:`Fault` objects (a single one is fine).

    Raises:
        ValueError: a spec does not parse.
    """
    if specs is None:
        return []
    if isinstance(specs, (str, Fault)):
        specs = [specs]
    out: list[Fault] = []
    for s in specs:
        if isinstance(s, Fault):
            if s.kind not in KINDS:
                raise FaultError(f"unknown fault kind {s.kind!r}")
            out.append(s)
        else:
            out.append(parse_fault(s))
    return out


class FaultPlan:
    """The faults of one server: numbers its connections and keeps the log of fired faults.

    Args:
        faults: spec strings and/or :class:`Fault` objects.
    """

    def __init__(self, faults: Iterable[str | Fault] | str | Fault | None) -> None:
        self.faults = parse_faults(faults)
        self._lock = threading.Lock()
        self._connections = 0
        self._log: list[tuple[int, str]] = []

    def __bool__(self) -> bool:
        return bool(self.faults)

    @property
    def log(self) -> list[tuple[int, str]]:
        """``(connection number, spec)`` of every fault that fired, in order (a copy)."""
        with self._lock:
            return list(self._log)

    def _record(self, number: int, fault: Fault) -> None:
        with self._lock:
            self._log.append((number, str(fault)))

    def attach(self, connection: Any, on_thread: Callable[[threading.Thread], None]) -> FaultInjector | None:
        """Number a new connection; return its injector, or ``None`` when no fault applies to it.

        Args:
            connection: the ``websockets`` server connection.
            on_thread: called with the injector's timer thread before it starts (the server
                tracks its threads).
        """
        with self._lock:
            self._connections += 1
            number = self._connections
        mine = [f for f in self.faults if f.applies_to(number)]
        if not mine:
            return None
        return FaultInjector(self, number, mine, connection, on_thread)


class _FaultSocket:
    """Stands in for a connection's socket: swallows writes once silent, slows reads down."""

    def __init__(self, sock: socket.socket, injector: FaultInjector) -> None:
        self._sock = sock
        self._inj = injector

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def fileno(self) -> int:
        return self._sock.fileno()

    def sendall(self, data: Any, *args: Any) -> None:
        if self._inj.silent:
            return None
        return self._sock.sendall(data, *args)

    def send(self, data: Any, *args: Any) -> int:
        if self._inj.silent:
            return len(data)
        return self._sock.send(data, *args)

    def recv(self, bufsize: int, *args: Any) -> bytes:
        slow = self._inj.slow_read
        if slow is not None:
            delay, chunk = slow
            if delay:
                self._inj.stopped.wait(delay)
            bufsize = min(bufsize, chunk)
        return self._sock.recv(bufsize, *args)


class FaultInjector:
    """The faults of one connection (made by :meth:`FaultPlan.attach`).

    The server passes :meth:`send` to the session instead of ``connection.send``, calls
    :meth:`started` after ``session.created`` and :meth:`close` when the connection ends. Timed
    faults run on a thread named ``rtsync-server-fault-N``.
    """

    def __init__(
        self,
        plan: FaultPlan,
        number: int,
        faults: list[Fault],
        connection: Any,
        on_thread: Callable[[threading.Thread], None],
    ) -> None:
        self.number = number
        self._plan = plan
        self._conn = connection
        self._on_thread = on_thread
        self._pending = [f for f in faults if f.event is not None]
        self._counts: dict[str, int] = {}
        self._at_start = [f for f in faults if f.event is None and f.delay is None]
        self._timed = sorted((f for f in faults if f.delay is not None), key=lambda f: f.delay or 0.0)
        self._timer: threading.Thread | None = None
        self._fire_lock = threading.RLock()
        self.stopped = threading.Event()
        self.silent = False
        self.ended = False
        self.slow_read: tuple[float, int] | None = None
        # seconds after session.created at which an expire fault ends this connection
        self._expires_in = min((f.delay or 0.0 for f in faults if f.kind == "expire" and f.delay is not None),
                               default=None)
        if any(f.kind in ("silent", "slow-read") for f in faults):
            connection.socket = _FaultSocket(connection.socket, self)

    # -- hooks the server calls ------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Send one session event, then fire the faults it triggers (the session's ``send_text``).

        Raises:
            ConnectionError: the connection was ended or silenced by a fault.
        """
        if self.ended or self.silent:
            raise _Stop("the connection was ended by an injected fault")
        if self._expires_in is not None:
            text = self._announce_expiry(text)
        self._conn.send(text)
        if not self._pending:
            return
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            return
        if not isinstance(kind, str):
            return
        kind = GA_TO_BETA_NAMES.get(kind, kind)  # a GA connection's names count as their beta twins
        n = self._counts[kind] = self._counts.get(kind, 0) + 1
        due = [f for f in self._pending if GA_TO_BETA_NAMES.get(f.event or "", f.event) == kind and f.count == n]
        if not due:
            return
        self._pending = [f for f in self._pending if f not in due]
        for fault in due:
            self._fire(fault)
        if self.ended or self.silent:
            raise _Stop("the connection was ended by an injected fault")

    def started(self) -> None:
        """Fire the faults due at the start; start the timer for the timed ones."""
        for fault in self._at_start:
            self._fire(fault)
        if self._timed and not self.ended:
            self._timer = threading.Thread(target=self._run_timer, name=f"rtsync-server-fault-{self.number}",
                                           daemon=True)
            self._on_thread(self._timer)
            self._timer.start()

    def close(self) -> None:
        """The connection is over: stop the timer thread and wait for it (idempotent)."""
        self.stopped.set()
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join()

    # -- internals -------------------------------------------------------------------------------
    def _announce_expiry(self, text: str) -> str:
        """``session.created`` (the first event) with the expire fault's time as ``expires_at``."""
        seconds = self._expires_in
        self._expires_in = None  # only the first event is looked at
        if seconds is None:
            return text
        try:
            obj = json.loads(text)
        except ValueError:
            return text
        session = obj.get("session") if isinstance(obj, dict) and obj.get("type") == "session.created" else None
        if not isinstance(session, dict):
            return text
        session["expires_at"] = int(time.time() + seconds)
        return json.dumps(obj)

    def _run_timer(self) -> None:
        t0 = time.monotonic()
        for fault in self._timed:
            wait = t0 + (fault.delay or 0.0) - time.monotonic()
            if self.stopped.wait(max(0.0, wait)) or self.ended:
                return
            try:
                self._fire(fault)
            except Exception:  # the connection may be gone already
                pass

    def _fire(self, fault: Fault) -> None:
        with self._fire_lock:
            if self.ended or (self.silent and fault.kind != "slow-read"):
                return
            self._plan._record(self.number, fault)
            getattr(self, "_do_" + fault.kind.replace("-", "_"))(fault)

    def _send_quietly(self, message: str | bytes) -> None:
        try:
            self._conn.send(message)
        except Exception:
            self.ended = True

    def _do_drop(self, fault: Fault) -> None:
        self.ended = True
        sock = self._conn.socket
        if isinstance(sock, _FaultSocket):
            sock = sock._sock
        if fault.value == "mid-frame":
            payload = json.dumps({"type": "fault.partial", "event_id": new_id("event"), "padding": "x" * 400}).encode()
            frame = struct.pack("!BBH", 0x81, 126, len(payload)) + payload
            try:
                with self._conn.protocol_mutex:
                    sock.sendall(frame[: len(frame) // 2])
            except OSError:
                pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _do_close(self, fault: Fault) -> None:
        code_text, _, reason = fault.value.partition(":")
        self._close(int(code_text), reason)

    def _close(self, code: int, reason: str) -> None:
        self.ended = True
        try:
            self._conn.close(code, reason)
        except Exception:
            pass

    def _do_invalid_json(self, fault: Fault) -> None:
        self._send_quietly('{"type": "response.text.delta", "delta": "unterminated')

    def _do_binary(self, fault: Fault) -> None:
        n = int(fault.value or 16)
        self._send_quietly(bytes(i % 256 for i in range(n)))

    def _do_large(self, fault: Fault) -> None:
        size = _size(fault.value or "1m", fault.spec)
        head = {"type": "fault.large", "event_id": new_id("event"), "padding": ""}
        pad = size - len(json.dumps(head))
        head["padding"] = "x" * max(0, pad)
        self._send_quietly(json.dumps(head))

    def _do_missing_field(self, fault: Fault) -> None:
        self._send_quietly(json.dumps({"type": fault.value or "response.text.delta", "event_id": new_id("event")}))

    def _do_unknown_type(self, fault: Fault) -> None:
        self._send_quietly(json.dumps({"type": "fault.unknown", "event_id": new_id("event"),
                                       "detail": "an event type no client knows"}))

    def _do_error_burst(self, fault: Fault) -> None:
        n = int(fault.value or 20)
        for k in range(1, n + 1):
            ev = error_event(f"injected error {k} of {n}", code="fault_injected", type="server_error")
            self._send_quietly(json.dumps(ev))

    def _do_silent(self, fault: Fault) -> None:
        self.silent = True

    def _do_slow_read(self, fault: Fault) -> None:
        delay, _, chunk = fault.value.partition(":")
        self.slow_read = (float(delay), int(chunk or 4096))

    def _do_expire(self, fault: Fault) -> None:
        seconds = fault.delay or 0.0
        ev = error_event(f"Your session hit the maximum duration of {seconds:g} seconds.", code="session_expired")
        self._send_quietly(json.dumps(ev))
        self._close(1000, "session expired")
