"""A server that plays a recorded session back (``python -m rtsync serve --replay FILE``).

:class:`ReplayServer` listens like :class:`rtsync.server.LocalServer` (same URL shape, same
thread names, same ``start``/``stop``) and, on each connection, sends the ``recv`` events of a
recording made with ``RealtimeClient(..., record=...)`` (see :mod:`rtsync.record`) in their
recorded order, audio rebuilt byte for byte from the WAVs. A user can so reproduce a bug without
the live service.

How the replay is paced
    * ``session.created`` (the first one recorded) is sent as soon as the connection opens, so
      that ``connect()`` returns whatever the recorded order of the first lines.
    * With ``sync=True`` (the default) every recorded ``send`` line is a synchronisation point:
      the replay waits until the live client has sent as many events of that type as the
      recording had up to that line (the n-th ``response.create`` waits for the client's n-th
      ``response.create``; ``event_id`` values need not match). Server events that followed a
      client event in the recording are therefore sent only after the client sent it. A wait
      gives up after ``sync_timeout`` seconds (logged) and the replay goes on. Events the
      client sends that the recording does not have are read and ignored.
    * Between synchronisation points the original gaps are kept, divided by ``speed`` (2.0 =
      twice as fast); ``speed=None`` sends as fast as possible. Gaps are measured from the
      last synchronisation point, so a client that is faster or slower than the recorded one
      still sees the recorded reaction times.
    * With ``sync=False`` only the clock counts: each event goes at its recorded time (scaled)
      after the connection opened.
    * An ``error`` whose ``event_id`` names a recorded client event gets the id of the live
      client's matching event (same type and ordinal), so a blocking helper waiting for that
      request sees the error as the recorded client did.

The end of a recording
    * A recorded ``rtsync.close`` started by the client: the replay waits (up to
      ``sync_timeout``) for the live client to close.
    * One started by the server: the replay closes with the recorded code and reason; 1006
      (dropped without a close frame) and the other codes that may not be sent drop the TCP
      connection instead.
    * No ``rtsync.close`` (the recording process died): the replay waits for the client.

Other local events: an ``rtsync.protocol_error`` is replayed by sending the recorded bad frame
again (text or binary); ``rtsync.callback_error`` and anything else of rtsync's own are skipped.
The replay speaks the beta vocabulary as recorded (``event.to_dict()``), whatever the
recording's ``dialect``: connect the replaying client with the default ``dialect="beta"``.
Reconnections within one recording are not reproduced: every connection replays the whole file.

Threads: those of :class:`~rtsync.server.LocalServer` (``rtsync-server-*``); the replay of a
connection runs on its ``rtsync-server-conn-N`` thread, and so does ``on_progress``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from typing import Any, Callable

import attrs
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from rtsync.record import Recording, load_recording
from rtsync.server.app import LocalServer, run_until_interrupted

__all__ = ["ReplayProgress", "ReplayServer", "serve_replay"]

logger = logging.getLogger("rtsync.server")

_UNSENDABLE_CODES = frozenset({1004, 1005, 1006, 1015})


@attrs.define(frozen=True)
class ReplayProgress:
    """Where a replay stands.

    Attributes:
        connection: the number of the connection being served (1 for the first).
        done: recorded events handled so far (sent, matched or skipped).
        total: recorded events in the file.
        t: the recorded time of the last handled event, in seconds.
        duration: the recorded time of the last event of the file.
        finished: True in the last report of a connection.
    """

    connection: int
    done: int
    total: int
    t: float
    duration: float
    finished: bool = False


class ReplayServer(LocalServer):
    """Plays a recording back to every client that connects (see the module docstring).

    Example::

        with ReplayServer("session.jsonl", speed=None) as server:
            client = RealtimeClient(url=server.url).connect()

    Args:
        path: the recording (JSONL written by :class:`rtsync.record.Recorder`).
        speed: 1.0 keeps the original timing, 2.0 halves every gap, ``None`` (or 0) sends as
            fast as possible.
        host: interface to bind; loopback by default.
        port: TCP port; 0 picks a free one.
        sync: wait for the client's events at the recorded ``send`` lines (default) or follow
            the clock only.
        sync_timeout: seconds to wait for one client event (or for the client to close) before
            going on.
        on_progress: called with a :class:`ReplayProgress` after each handled event. Called
            on: the connection's ``rtsync-server-conn-N`` thread; it must be quick.

    Attributes:
        recording: the loaded :class:`~rtsync.record.Recording`.
        replays_finished: how many connections have been replayed to the end.

    Raises:
        ValueError: ``speed`` is negative, or the file is not a recording.
        OSError: the file cannot be read.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        speed: float | None = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sync: bool = True,
        sync_timeout: float = 30.0,
        on_progress: Callable[[ReplayProgress], None] | None = None,
    ) -> None:
        if speed is not None and (not isinstance(speed, (int, float)) or speed < 0):
            raise ValueError(f"speed must be None or a number >= 0, not {speed!r}")
        super().__init__(host, port, voice="tone")
        self.recording: Recording = load_recording(path)
        self.speed = float(speed) if speed else None
        self.sync = sync
        self.sync_timeout = float(sync_timeout)
        self.on_progress = on_progress
        self.replays_finished = 0
        self._done = threading.Condition()
        self._conn_numbers = iter(range(1, 1 << 62))

    def __repr__(self) -> str:
        return f"<ReplayServer {self.url} {self._state} {str(self.recording.path)!r}>"

    def wait_finished(self, count: int = 1, timeout: float | None = None) -> bool:
        """Block until ``count`` connections have been replayed to the end; return whether they were."""
        with self._done:
            return self._done.wait_for(lambda: self.replays_finished >= count, timeout)

    # -- one connection ------------------------------------------------------------------------

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.add(connection)
            number = next(self._conn_numbers)
        try:
            _Replay(self, connection, number).run()
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.discard(connection)
            with self._done:
                self.replays_finished += 1
                self._done.notify_all()


class _Replay:
    """The replay of the recording on one connection (runs on its connection thread)."""

    def __init__(self, server: ReplayServer, connection: ServerConnection, number: int) -> None:
        self.server = server
        self.connection = connection
        self.number = number
        self.events = server.recording.events
        self.live_ids: dict[str, list[str]] = defaultdict(list)
        self.client_closed = False
        # recorded client event id -> (type, ordinal among the recorded sends of that type)
        self.recorded_ids: dict[str, tuple[str, int]] = {}
        self.ordinals: list[int] = []
        seen: dict[str, int] = defaultdict(int)
        for rec in self.events:
            if rec.direction == "send":
                seen[rec.type] += 1
                eid = rec.event.get("event_id")
                if isinstance(eid, str):
                    self.recorded_ids[eid] = (rec.type, seen[rec.type])
            self.ordinals.append(seen[rec.type] if rec.direction == "send" else 0)

    # -- reading the client --------------------------------------------------------------------

    def _take(self, message: Any) -> None:
        if not isinstance(message, str):
            return
        try:
            data = json.loads(message)
        except json.JSONDecodeError:
            return
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            eid = data.get("event_id")
            self.live_ids[data["type"]].append(eid if isinstance(eid, str) else "")

    def _read_until(self, deadline: float | None, until: Callable[[], bool] | None = None) -> bool:
        """Read client events until ``until()`` holds or ``deadline`` passes; return ``until()``."""
        while True:
            if until is not None and until():
                return True
            if self.client_closed:
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return until() if until is not None else True
            try:
                message = self.connection.recv(timeout=remaining)
            except TimeoutError:
                continue
            except ConnectionClosed:
                self.client_closed = True
                return until() if until is not None else False
            self._take(message)

    # -- the replay ----------------------------------------------------------------------------

    def run(self) -> None:
        server = self.server
        events = self.events
        total = len(events)
        duration = server.recording.duration
        speed = server.speed
        first_created = next((i for i, r in enumerate(events)
                              if r.direction == "recv" and r.type == "session.created"), None)
        anchor_rec, anchor_real = 0.0, time.monotonic()
        if first_created is not None:
            self._send(events[first_created].event)
        ended = False
        for i, rec in enumerate(events):
            if i == first_created:
                pass
            elif rec.direction == "send":
                if server.sync:
                    n = self.ordinals[i]
                    live: list[str] = self.live_ids[rec.type]

                    def matched_yet(live: list[str] = live, n: int = n) -> bool:
                        return len(live) >= n

                    matched = self._read_until(time.monotonic() + server.sync_timeout, matched_yet)
                    if not matched and not self.client_closed:
                        logger.warning("replay: the client sent no %s (#%d) within %.0f s; going on",
                                       rec.type, n, server.sync_timeout)
                    anchor_rec, anchor_real = rec.t, time.monotonic()
            elif rec.direction == "recv":
                if speed is not None:
                    self._read_until(anchor_real + max(0.0, rec.t - anchor_rec) / speed)
                if rec.type == "rtsync.close":
                    self._report(i + 1, total, rec.t, duration)
                    self._end(rec.event)
                    ended = True
                    break
                self._send_recorded(rec.event)
            if self.client_closed and rec.direction == "recv":
                break
            self._report(i + 1, total, rec.t, duration)
        if not ended:
            self._wait_client_close()
        self._report(total, total, duration, duration, finished=True)

    def _send_recorded(self, event: dict[str, Any]) -> None:
        t = event.get("type")
        if t == "rtsync.protocol_error":
            if isinstance(event.get("frame"), str):
                self.connection.send(event["frame"])
            elif isinstance(event.get("frame_b64"), str):
                import base64

                self.connection.send(base64.b64decode(event["frame_b64"]))
            return
        if not isinstance(t, str) or t.startswith("rtsync."):
            return
        if t == "error":
            event = self._remap_error(event)
        self._send(event)

    def _send(self, event: dict[str, Any]) -> None:
        try:
            self.connection.send(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
        except ConnectionClosed:
            self.client_closed = True

    def _remap_error(self, event: dict[str, Any]) -> dict[str, Any]:
        info = event.get("error")
        if not isinstance(info, dict):
            return event
        key = self.recorded_ids.get(info.get("event_id"))  # type: ignore[arg-type]
        if key is None:
            return event
        live = self.live_ids.get(key[0], [])
        if len(live) < key[1] or not live[key[1] - 1]:
            return event
        return {**event, "error": {**info, "event_id": live[key[1] - 1]}}

    def _end(self, close: dict[str, Any]) -> None:
        if close.get("initiated_by_client", True):
            self._wait_client_close()
            return
        code = close.get("code")
        reason = close.get("reason") if isinstance(close.get("reason"), str) else ""
        if isinstance(code, int) and (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                                               1013, 1014) or 3000 <= code <= 4999):
            try:
                self.connection.close(code, str(reason)[:120])
            except Exception:
                logger.debug("replay: close failed", exc_info=True)
            return
        # 1006 & co. cannot be sent in a close frame: drop the connection like the original did.
        try:
            self.connection.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _wait_client_close(self) -> None:
        deadline = time.monotonic() + self.server.sync_timeout
        self._read_until(deadline, lambda: self.client_closed)
        if not self.client_closed:
            logger.warning("replay: the client did not close within %.0f s; closing", self.server.sync_timeout)
            try:
                self.connection.close(1000, "replay finished")
            except Exception:
                logger.debug("replay: close failed", exc_info=True)

    def _report(self, done: int, total: int, t: float, duration: float, finished: bool = False) -> None:
        hook = self.server.on_progress
        if hook is None:
            return
        try:
            hook(ReplayProgress(self.number, done, total, t, duration, finished))
        except Exception:
            logger.exception("replay: the progress callback raised")


def serve_replay(
    path: str | os.PathLike[str],
    speed: float | None = 1.0,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    progress: bool = True,
    **opts: Any,
) -> None:
    """Run a :class:`ReplayServer` in the foreground until Ctrl-C, with progress on stderr.

    Args:
        path: the recording.
        speed: see :class:`ReplayServer`.
        host: interface to bind.
        port: TCP port (0 picks a free one).
        progress: print a progress line per connection to stderr (updated in place).
        **opts: further :class:`ReplayServer` options (``sync``, ``sync_timeout``).
    """
    import sys

    last = [0.0]

    def show(p: ReplayProgress) -> None:
        now = time.monotonic()
        if not p.finished and now - last[0] < 0.1:
            return
        last[0] = now
        width = 30
        filled = int(width * p.done / p.total) if p.total else width
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if p.finished else ""
        sys.stderr.write(f"\rreplay #{p.connection} [{bar}] {p.done}/{p.total} events  "
                         f"{p.t:6.1f}/{p.duration:.1f} s{end}")
        sys.stderr.flush()

    server = ReplayServer(path, speed, host, port, on_progress=show if progress else None, **opts)
    server.start()
    rec = server.recording
    pace = "as fast as possible" if server.speed is None else f"speed {server.speed:g}"
    run_until_interrupted(server, f"rtsync replay of {rec.path.name} ({len(rec)} events, {rec.duration:.1f} s, "
                                  f"{pace}) listening on {server.url}  (Ctrl-C to stop)")
