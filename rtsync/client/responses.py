"""The response queue: one response at a time in the default conversation.

:class:`ResponseGate` sends a ``response.create`` at once when no response runs, and otherwise
keeps it until the running response's ``response.done`` (so the server never answers
``conversation_already_has_active_response``). A create that loses a race against a response
the client did not ask for (server VAD) is sent again after that response.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable

from rtsync._log import logger
from rtsync.errors import ClosedError
from rtsync.events._base import UNSET, Event

__all__ = ["ResponseGate"]


class ResponseGate:
    """One response at a time in the default conversation: ``response.create`` waits its turn.

    State changes come from the dispatcher thread (:meth:`on_event`); :meth:`submit` is called
    from any thread. The lock is held while sending so that queued creates go out in order.
    """

    def __init__(self, send: Callable[[Event], str]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._queue: deque[Event] = deque()
        self.busy = False  # a response is running, or a create for one is in flight
        self.finished = 0  # responses of the default conversation that ended
        self.active_id: str | None = None
        self._in_flight: Event | None = None  # the create sent and not yet answered
        #: the event_id of the response.create that the latest response.created answered
        #: (None for a response the client did not request, e.g. server VAD's)
        self.created_for: str | None = None

    def submit(self, ev: Event) -> None:
        with self._lock:
            if self.busy or self._queue:
                self._queue.append(ev)
                logger.debug("rtsync: response.create %s queued behind response %s", ev.event_id, self.active_id)
                return
            self.busy = True
            self._in_flight = ev
            try:
                self._send(ev)
            except BaseException:
                self.busy = False
                self._in_flight = None
                raise

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def lock(self) -> threading.Lock:
        """Held while a create is sent, so a connection switch under it never splits one."""
        return self._lock

    def quiet_locked(self) -> bool:
        """No response running, none requested, none queued (call with :attr:`lock` held)."""
        return not self.busy and not self._queue

    def _in_flight_id(self) -> str | None:
        ev = self._in_flight
        return None if ev is None else ev.event_id  # type: ignore[no-any-return]

    def _next_locked(self) -> None:
        self.busy = False
        self._in_flight = None
        while self._queue:
            ev = self._queue.popleft()
            self.busy = True
            self._in_flight = ev
            try:
                self._send(ev)
                return
            except ClosedError:
                self._queue.clear()
            except Exception:
                logger.warning("rtsync: sending a queued response.create failed", exc_info=True)
            self.busy = False
            self._in_flight = None

    def on_event(self, ev: Event) -> None:
        t = ev.type
        if t == "response.created":
            resp = getattr(ev, "response", None)
            if getattr(resp, "conversation_id", UNSET) is None:
                return  # out of band: runs beside the default conversation
            with self._lock:
                self.busy = True
                self.created_for = self._in_flight_id()
                self._in_flight = None
                rid = getattr(resp, "id", None)
                self.active_id = rid if isinstance(rid, str) else None
        elif t == "response.done":
            resp = getattr(ev, "response", None)
            rid = getattr(resp, "id", None)
            with self._lock:
                if self.active_id is not None and rid != self.active_id:
                    return  # another (out-of-band) response ended
                self.finished += 1
                self.active_id = None
                self._next_locked()
        elif t == "error":
            info = getattr(ev, "error", None)
            eid = getattr(info, "event_id", None)
            with self._lock:
                if eid is None or eid != self._in_flight_id():
                    return
                if getattr(info, "code", None) == "conversation_already_has_active_response":
                    # a response we did not ask for (server VAD) won the race: ours is sent
                    # again (same event_id) after that response's response.done
                    if self._in_flight is not None:
                        self._queue.appendleft(self._in_flight)
                    self._in_flight = None
                    self.busy = True
                    logger.debug("rtsync: response.create %s deferred behind an active response", eid)
                    return
                self._next_locked()
        elif t == "rtsync.close" or t == "rtsync.disconnected":
            with self._lock:
                self._queue.clear()
                self.busy = False
                self.active_id = None
                self._in_flight = None
