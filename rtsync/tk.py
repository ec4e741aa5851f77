"""Tkinter glue: run a pumped client's callbacks on the Tk thread, from Tk's own event loop.

Tk is single-threaded: widgets may only be touched from the thread that created the root (the
*Tk thread*, normally the main thread, which runs ``mainloop()``). A client made with
``RealtimeClient(..., dispatch="pump")`` runs no dispatcher thread of its own; :class:`TkPump`
calls :meth:`~rtsync.RealtimeClient.dispatch_pending` from ``root.after`` timers, so every
callback of that client runs on the Tk thread, in arrival order, and may update widgets
directly::

    client = RealtimeClient(url=url, dispatch="pump").connect()
    pump = rtsync.tk.attach(root, client)          # callbacks now run on the Tk thread
    client.on("response.text.delta", lambda ev: text.insert("end", ev.delta))
    pump.run_blocking(client.ask, "hello", on_done=lambda reply: print(reply.usage))
    root.mainloop()

Which thread runs what:

* Tk thread: every client callback (inside :meth:`TkPump.tick`), the ``on_done``/``on_error``
  of :meth:`TkPump.run_blocking`, the functions given to :meth:`TkPump.call_soon`, and the
  methods :meth:`TkPump.start`, :meth:`TkPump.stop`, :meth:`TkPump.tick` and
  :meth:`TkPump.shutdown` (call them there).
* ``rtsync-tk-worker-N`` threads: the blocking functions given to :meth:`TkPump.run_blocking`
  (``client.ask``, ``client.wait_for``, ``VoiceSession.stop_talking``...). A blocking helper
  must never run on the Tk thread: it would wait for events that only the Tk thread delivers
  (the client raises ``RuntimeError`` rather than deadlock).
* Any thread: :meth:`TkPump.call_soon` and :meth:`TkPump.run_blocking`.

Responsiveness: each tick delivers at most ``max_events`` events and stops after
``max_seconds`` (checked between events); what is left waits for the next tick, which comes
after ``busy_interval_ms`` instead of ``interval_ms``, so Tk handles input and redraws between
slices however fast the server streams.

Ending: the pump stops by itself after it delivered the client's ``rtsync.close`` event (and
the results of the blocking calls that the close ended), or when the root widget is destroyed.
For a clean exit call :meth:`TkPump.shutdown` *before* destroying the root: it closes the
client, delivers what is still queued (so threads blocked in ``ask`` are released), and joins
the worker threads.

This module uses only the client's public surface. ``import rtsync`` does not import it (nor
tkinter).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

try:
    import tkinter
except ImportError as exc:  # pragma: no cover - depends on the Python build
    raise ImportError(
        f"rtsync.tk needs tkinter ({exc}); on Debian/Ubuntu: apt-get install python3-tk"
    ) from exc

from rtsync._log import logger

if TYPE_CHECKING:
    from rtsync.client import RealtimeClient

__all__ = ["TkPump", "attach"]

_worker_ids = itertools.count(1)


class TkPump:
    """Delivers a pumped client's events on the Tk thread, a bounded slice per ``after`` tick.

    Args:
        root: the Tk root (or any widget of the application); its ``after`` schedules the ticks.
            Create the pump on the Tk thread.
        client: a client made with ``dispatch="pump"`` (connected now or later).
        interval_ms: delay between ticks while idle.
        max_events: at most this many events per tick (None: no count limit).
        max_seconds: stop a tick after this long, checked between events (None: no time limit).
            The default 10 ms keeps the window responsive during a fast stream.
        busy_interval_ms: delay before the next tick when a tick used its whole slice.
        start: schedule the first tick now (else call :meth:`start`).

    Raises:
        RuntimeError: the client was not made with ``dispatch="pump"``.

    Attributes:
        root, client, interval_ms, max_events, max_seconds, busy_interval_ms: as given.
        thread_ident: the Tk thread (the one that created the pump).
        ticks: ticks run so far (each is one :meth:`tick`).
        delivered: events delivered so far.
        last_delivered: events delivered by the latest tick.
    """

    def __init__(
        self,
        root: tkinter.Misc,
        client: RealtimeClient,
        *,
        interval_ms: int = 15,
        max_events: int | None = None,
        max_seconds: float | None = 0.01,
        busy_interval_ms: int = 1,
        start: bool = True,
    ) -> None:
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be at least 1 or None, got {max_events!r}")
        if max_seconds is not None and max_seconds < 0:
            raise ValueError(f"max_seconds must be >= 0 or None, got {max_seconds!r}")
        # Delivers nothing, but raises RuntimeError for a thread-dispatched client, and (once
        # connected) marks this thread as the client's dispatcher thread, so that a blocking
        # helper called here by mistake raises instead of deadlocking.
        client.dispatch_pending(max_events=0)
        self.root = root
        self.client = client
        self.interval_ms = int(interval_ms)
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.busy_interval_ms = int(busy_interval_ms)
        self.thread_ident = threading.get_ident()
        self.ticks = 0
        self.delivered = 0
        self.last_delivered = 0
        self._running = False
        self._after_id: str | None = None
        self._close_seen = False
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
        self._workers: set[threading.Thread] = set()
        self._workers_lock = threading.Lock()
        self._destroy_binding: str | None = None
        if start:
            self.start()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<TkPump {state} ticks={self.ticks} delivered={self.delivered}>"

    # -- lifecycle (Tk thread) -----------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while ticks are scheduled."""
        return self._running

    def start(self) -> TkPump:
        """Schedule the ticks (Tk thread). Idempotent; returns the pump."""
        if self._running:
            return self
        self._running = True
        self.client.on("rtsync.close", self._on_close)
        try:
            if self._destroy_binding is None:
                self._destroy_binding = self.root.bind("<Destroy>", self._on_destroy, add="+")
            self._after_id = self.root.after(self.interval_ms, self._scheduled_tick)
        except tkinter.TclError:  # the root is already gone
            self._running = False
        return self

    def stop(self) -> None:
        """Stop scheduling ticks (Tk thread). Events still queued stay queued. Idempotent."""
        self._running = False
        # No reference from the client back to the pump (and so to the Tk root) once stopped:
        # a Tk root must be freed on the Tk thread, never by a garbage collection that happens
        # to run on another thread.
        self.client.off("rtsync.close", self._on_close)
        after_id, self._after_id = self._after_id, None
        if after_id is not None:
            try:
                self.root.after_cancel(after_id)
            except tkinter.TclError:
                pass

    def shutdown(self, close_client: bool = True, timeout: float = 5.0) -> None:
        """End cleanly (Tk thread), before the root is destroyed.

        Closes the client (when ``close_client``), delivers the events still queued up to and
        including ``rtsync.close`` (callbacks run here, on the Tk thread, so that threads blocked
        in ``ask`` or ``wait_for`` are released), runs the pending :meth:`call_soon` functions,
        stops the ticks and joins the worker threads (up to ``timeout`` seconds in all).
        """
        deadline = time.monotonic() + timeout
        if close_client:
            self.client.close(timeout=timeout)
        if self.client.state in ("closing", "closed"):
            # Once close() has returned, the reader has queued everything, rtsync.close last.
            while not self._close_seen and time.monotonic() < deadline:
                n = self.client.dispatch_pending()
                self.delivered += n
                self._run_calls()
                if n == 0:
                    if self.client.state == "closed":
                        break  # nothing more will come (e.g. a client that never connected)
                    time.sleep(0.005)
        self.stop()
        with self._workers_lock:
            workers = list(self._workers)
        for w in workers:
            if w is not threading.current_thread():
                w.join(max(0.0, deadline - time.monotonic()))
                if w.is_alive():
                    logger.warning("rtsync.tk: worker %s still running after shutdown()", w.name)
        self._run_calls()

    def _on_destroy(self, event: Any) -> None:
        # <Destroy> on the root also fires for each child widget; stop only for the root itself.
        if str(getattr(event, "widget", "")) == str(self.root):
            self.stop()

    def _on_close(self, ev: Any) -> None:  # Tk thread (a client callback)
        self._close_seen = True

    # -- ticks (Tk thread) -----------------------------------------------------------------------
    def tick(self) -> int:
        """Deliver one slice of events, then the pending :meth:`call_soon` functions (Tk thread).

        Called by the ``after`` timer; may also be called directly (e.g. by a test).

        Returns:
            The number of events delivered.
        """
        n = self.client.dispatch_pending(self.max_events, self.max_seconds)
        self.ticks += 1
        self.delivered += n
        self.last_delivered = n
        self._run_calls()
        return n

    def _scheduled_tick(self) -> None:
        self._after_id = None
        if not self._running:
            return
        start = time.monotonic()
        try:
            n = self.tick()
        except tkinter.TclError:  # widgets gone under us
            self.stop()
            return
        except Exception:  # dispatch_pending guards the callbacks; anything else is a bug
            logger.exception("rtsync.tk: tick failed")
            n = 0
        if self._close_seen or (n == 0 and self.client.state == "closed"):
            # Everything the connection had was delivered. Keep ticking only until the workers
            # (an ``ask`` that the close interrupted) have handed back their results.
            with self._workers_lock:
                busy = bool(self._workers)
            if not busy and self._calls.empty():
                self.stop()
                return
        full = n > 0 and (
            (self.max_events is not None and n >= self.max_events)
            or (self.max_seconds is not None and time.monotonic() - start >= self.max_seconds)
        )
        try:
            self._after_id = self.root.after(self.busy_interval_ms if full else self.interval_ms,
                                             self._scheduled_tick)
        except tkinter.TclError:  # the root was destroyed
            self.stop()

    # -- other threads -> Tk thread ------------------------------------------------------------
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the Tk thread at the next tick (callable from any thread).

        Functions run in the order they were given, after the tick's events. An exception is
        logged, never raised into the pump. Nothing runs once the pump has stopped (except in
        :meth:`shutdown`).
        """
        self._calls.put((fn, args))

    def _run_calls(self) -> None:
        # Only what is queued now: a function that queues another does not extend this tick.
        for _ in range(self._calls.qsize()):
            try:
                fn, args = self._calls.get_nowait()
            except queue.Empty:
                break
            try:
                fn(*args)
            except Exception:
                logger.exception("rtsync.tk: %r raised on the Tk thread", fn)

    def run_blocking(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
        **kwargs: Any,
    ) -> threading.Thread:
        """Run ``fn(*args, **kwargs)`` on a new ``rtsync-tk-worker-N`` thread, never the Tk thread.

        Use it for anything that blocks: ``client.ask``, ``client.wait_for``, a slow tool.
        ``on_done(result)`` or ``on_error(exception)`` then runs on the Tk thread (through
        :meth:`call_soon`), so it may update widgets. Without ``on_error`` an exception is logged.

        Returns:
            The started worker thread (daemon); :meth:`shutdown` joins it.
        """
        def work() -> None:
            try:
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    if on_error is not None:
                        self.call_soon(on_error, exc)
                    else:
                        logger.error("rtsync.tk: %r failed on a worker thread: %r", fn, exc)
                    return
                if on_done is not None:
                    self.call_soon(on_done, result)
            finally:
                with self._workers_lock:
                    self._workers.discard(threading.current_thread())

        t = threading.Thread(target=work, name=f"rtsync-tk-worker-{next(_worker_ids)}", daemon=True)
        with self._workers_lock:
            self._workers.add(t)
        t.start()
        return t


def attach(
    root: tkinter.Misc,
    client: RealtimeClient,
    *,
    interval_ms: int = 15,
    max_events: int | None = None,
    max_seconds: float | None = 0.01,
    busy_interval_ms: int = 1,
) -> TkPump:
    """Pump ``client``'s events from ``root``'s event loop; return the started :class:`TkPump`.

    Call it on the Tk thread. From then on every callback of ``client`` runs on the Tk thread,
    inside ``root.mainloop()`` (or ``root.update()``), in arrival order, at most ``max_events``
    events and about ``max_seconds`` per tick. See :class:`TkPump` for the arguments.
    """
    return TkPump(root, client, interval_ms=interval_ms, max_events=max_events, max_seconds=max_seconds,
                  busy_interval_ms=busy_interval_ms)
