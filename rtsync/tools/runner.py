"""The tool runner: answers the function calls of finished responses on worker threads."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rtsync.tools.registry import ToolRegistry

__all__ = ["ToolRunner"]

logger = logging.getLogger("rtsync.tools")

_pool_ids = itertools.count(1)


def _field(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


class _Batch:
    """The calls of one response: the follow-up goes out when ``remaining`` reaches zero."""

    __slots__ = ("remaining", "response_id")

    def __init__(self, response_id: str, remaining: int) -> None:
        self.response_id = response_id
        self.remaining = remaining


class ToolRunner:
    """Answers the function calls of finished responses, on worker threads.

    Args:
        registry: the tools to run.
        send_output: ``send_output(call_id, output)`` sends one ``function_call_output`` item
            (the client's ``create_item(Item.function_output(call_id, output))``).
        create_response: sends the follow-up ``response.create``; called exactly once per
            response with calls, after its last output was sent. ``None``: no follow-up.
        max_workers: the most calls run at once (threads named ``rtsync-tool-N``, started when
            needed).
        registered_only: leave calls to names the registry does not hold unanswered (for an
            application that answers some calls itself) instead of answering them with an error.

    Feed it every event with :meth:`on_event` (a dispatcher hook). Exceptions raised by
    ``send_output`` or ``create_response`` (the connection closed, say) are logged and counted
    in :attr:`errors`; they never reach the dispatcher. A call id is answered once even if its
    ``response.done`` is seen twice.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        send_output: Callable[[str, str], Any],
        create_response: Callable[[], Any] | None,
        *,
        max_workers: int = 4,
        registered_only: bool = False,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.registry = registry
        self._send_output = send_output
        self._create_response = create_response
        self._max_workers = max_workers
        self._registered_only = registered_only
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pool: ThreadPoolExecutor | None = None
        self._threads: set[threading.Thread] = set()
        self._closed = False
        self._pending = 0  # calls submitted and not finished, plus follow-ups not yet sent
        self._seen: set[str] = set()
        self._calls = 0
        self._errors = 0
        self._responses = 0

    # -- counters ------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Calls answered (an output was produced), errors included."""
        with self._lock:
            return self._calls

    @property
    def errors(self) -> int:
        """Calls whose output was an error, plus failures of ``send_output``/``create_response``."""
        with self._lock:
            return self._errors

    @property
    def responses(self) -> int:
        """Follow-up ``create_response()`` calls made."""
        with self._lock:
            return self._responses

    @property
    def pending(self) -> int:
        """Calls (and follow-ups) not finished yet."""
        with self._lock:
            return self._pending

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (new calls are no longer taken)."""
        with self._lock:
            return self._closed

    # -- feeding -------------------------------------------------------------------------------
    def on_event(self, ev: Any) -> None:
        """Look at one event; on a ``response.done`` with completed function calls, run them.

        Returns at once (the calls run on worker threads). Safe on any thread.
        """
        if _field(ev, "type") != "response.done":
            return
        response = _field(ev, "response")
        output = _field(response, "output") if response is not None else None
        if not isinstance(output, list):
            return
        calls: list[tuple[str, str, Any]] = []
        for item in output:
            if _field(item, "type") != "function_call":
                continue
            status = _field(item, "status")
            if isinstance(status, str) and status != "completed":
                continue
            call_id, name = _field(item, "call_id"), _field(item, "name")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
                logger.warning("function call without call_id or name ignored: %r", item)
                continue
            if self._registered_only and name not in self.registry:
                continue
            calls.append((call_id, name, _field(item, "arguments")))
        if not calls:
            return
        response_id = _field(response, "id")
        with self._lock:
            if self._closed:
                logger.debug("tool runner closed: %d call(s) of %s not answered", len(calls), response_id)
                return
            calls = [c for c in calls if c[0] not in self._seen]
            if not calls:
                return
            self._seen.update(c[0] for c in calls)
            batch = _Batch(response_id if isinstance(response_id, str) else "", len(calls))
            self._pending += len(calls) + 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._max_workers,
                    thread_name_prefix="rtsync-tool",
                    initializer=self._name_worker,
                    initargs=(next(_pool_ids),),
                )
            pool = self._pool
            for call_id, name, arguments in calls:
                pool.submit(self._run, batch, call_id, name, arguments)

    def _name_worker(self, pool_id: int) -> None:
        t = threading.current_thread()
        with self._lock:
            self._threads.add(t)
            t.name = f"rtsync-tool-{pool_id}-{len(self._threads)}"

    def _run(self, batch: _Batch, call_id: str, name: str, arguments: Any) -> None:
        output, is_error = self.registry.call(name, arguments)
        send_failed = False
        try:
            self._send_output(call_id, output)
        except Exception:
            send_failed = True
            logger.warning("sending the output of tool %s (%s) failed", name, call_id, exc_info=True)
        with self._lock:
            self._calls += 1
            self._errors += int(is_error) + int(send_failed)
            self._pending -= 1
            batch.remaining -= 1
            last = batch.remaining == 0
            if not last:
                self._idle.notify_all()
        if not last:
            return
        failed = False
        sent = False
        if self._create_response is not None:
            try:
                self._create_response()
                sent = True
            except Exception:
                failed = True
                logger.warning("follow-up response.create after %s failed", batch.response_id or "the calls",
                               exc_info=True)
        with self._lock:
            self._responses += int(sent)
            self._errors += int(failed)
            self._pending -= 1
            self._idle.notify_all()

    # -- waiting and closing -------------------------------------------------------------------
    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no call or follow-up is in progress; ``False`` on timeout.

        Do not call it from the dispatcher thread while the runner is its hook's target
        (calls still run, but nothing new can be dispatched while it blocks).
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, wait: bool = True) -> None:
        """Stop taking calls and join the workers (after the calls in flight finish and their
        follow-up is sent). Idempotent; from a tool's own thread it does not wait."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            own = threading.current_thread() in self._threads
        if pool is not None:
            pool.shutdown(wait=wait and not own)

    def __enter__(self) -> ToolRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ToolRunner(tools={self.registry.names()!r}, calls={self.calls}, errors={self.errors}, "
                f"closed={self.closed})")

