"""Reconnection and renewal: :class:`ReconnectPolicy` and the machinery that follows it.

Opt in with ``RealtimeClient(reconnect=True)`` or ``reconnect=ReconnectPolicy(...)``. After a
drop (or a close by the server for a reason that is not fatal) a helper thread,
``rtsync-reconnect``, opens a new connection with backoff, sends the session configuration and
the tools again, and announces it with ``rtsync.reconnected`` (``rtsync.disconnected`` comes
first). With ``renew_before`` a helper thread, ``rtsync-renew``, replaces the session before
its ``expires_at`` (make before break, at a quiet point). The machinery is a mixin of
``RealtimeClient``: it switches the client's transport, state and session.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

import attrs

from rtsync._log import logger, redact
from rtsync.client.state import State
from rtsync.errors import AuthenticationError, ModelNotFoundError, RealtimeError
from rtsync.events._base import Event
from rtsync.events.local import CloseEvent, DisconnectedEvent, ReconnectedEvent
from rtsync.events.models import Item, Session

if TYPE_CHECKING:
    from rtsync.client.requests import RequestBook
    from rtsync.client.responses import ResponseGate
    from rtsync.conversation import Conversation
    from rtsync.tools import ToolRunner
    from rtsync.transport import Transport

__all__ = ["FATAL_ERROR_CODES", "ReconnectPolicy"]

#: Server error codes after which reconnecting cannot help.
FATAL_ERROR_CODES = frozenset({"beta_api_shape_disabled", "model_not_found", "invalid_api_key",
                               "insufficient_quota"})
# close codes that say the peers disagree on the protocol: reconnecting would fail the same way
_FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})


def _at_least_one(inst: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value!r}")


def _positive_or_none(inst: Any, attribute: Any, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


def _not_negative(inst: Any, attribute: Any, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """How a client reconnects after a drop and renews a session before it expires.

    Pass it as ``RealtimeClient(reconnect=ReconnectPolicy(...))``; ``reconnect=True`` is
    ``ReconnectPolicy()``. (The older keywords ``max_reconnect_attempts``, ``renew_before`` and
    ``replay_text_items`` of ``RealtimeClient`` still work and fill in this object.)

    Attributes:
        on_drop: reconnect when the connection drops or the server closes it for a reason that
            is not fatal (a refused key, an unknown model, ``beta_api_shape_disabled`` and
            protocol-level close codes are never retried). ``False`` with ``renew_before`` set:
            renew before expiry, but let a drop end the client.
        max_attempts: connection attempts per reconnection (and per renewal) before giving up
            with ``rtsync.close``.
        backoff: seconds before the first attempt; the wait doubles after each failure.
        max_backoff: the longest wait between two attempts.
        renew_before: open a fresh session this many seconds before the current one's
            ``expires_at`` (make before break: the old connection closes once the new one is
            configured), then deliver ``rtsync.reconnected`` with ``reason="renewed"``. The
            switch waits for a quiet point, for at most ``renew_before / 2`` seconds: responses
            running or queued and tool calls under way finish in the old session, and ``ask`` /
            ``create_response`` from other threads wait until the switch, so a
            ``response.create`` never lands in a session that lacks the message it answers.
            ``None``: no renewal.
        replay_text_items: on reconnect/renewal, re-create the conversation's text messages
            (user, assistant and system text, and assistant audio transcripts as text) in the
            new session, so the model keeps the context.

    Either way the new session gets the session configuration (every ``session.update``
    field sent so far) and the tools again; ``send`` raises ``ClosedError`` between
    ``rtsync.disconnected`` and ``rtsync.reconnected``.
    """

    on_drop: bool = True
    max_attempts: int = attrs.field(default=6, validator=_at_least_one)
    backoff: float = attrs.field(default=0.25, validator=_not_negative)
    max_backoff: float = attrs.field(default=8.0, validator=_not_negative)
    renew_before: float | None = attrs.field(default=None, validator=_positive_or_none)
    replay_text_items: bool = False


def _resolve_policy(
    reconnect: bool | ReconnectPolicy,
    max_reconnect_attempts: int | None,
    renew_before: float | None,
    replay_text_items: bool | None,
) -> ReconnectPolicy | None:
    """The policy ``RealtimeClient``'s arguments ask for (``None``: neither reconnect nor renew)."""
    if isinstance(reconnect, ReconnectPolicy):
        given = [n for n, v in (("max_reconnect_attempts", max_reconnect_attempts), ("renew_before", renew_before),
                                ("replay_text_items", replay_text_items)) if v is not None]
        if given:
            raise ValueError(f"pass {', '.join(given)} inside the ReconnectPolicy, not beside it")
        return reconnect
    if max_reconnect_attempts is not None and max_reconnect_attempts < 1:
        raise ValueError("max_reconnect_attempts must be at least 1")
    if not reconnect and renew_before is None:
        return None
    return ReconnectPolicy(
        on_drop=bool(reconnect),
        max_attempts=6 if max_reconnect_attempts is None else max_reconnect_attempts,
        renew_before=renew_before,
        replay_text_items=bool(replay_text_items),
    )


class _Aborted(Exception):
    """close() was called while a new connection was being opened."""


class _Out:
    """The reader's queue when reconnection/renewal is on: decides what a close means."""

    __slots__ = ("_client", "_gen", "_held", "_put")

    def __init__(self, client: _ReconnectMixin, gen: int, hold: bool = False) -> None:
        self._client = client
        self._gen = gen
        self._put = client._queue.put
        #: batches kept back until :meth:`release` (a new connection's session.created must not
        #: reach the dispatcher, and reset the conversation, before the switch to it)
        self._held: list[list[Event]] | None = [] if hold else None

    def release(self) -> None:
        held, self._held = self._held, None
        for batch in held or ():
            self.put(batch)

    def put(self, batch: list[Event]) -> None:
        if self._held is not None:
            self._held.append(batch)
            return
        last = batch[-1] if batch else None
        if last.__class__ is CloseEvent:
            action = self._client._transport_ended(self._gen, last)  # type: ignore[arg-type]
            if action == "retry":
                batch[-1] = DisconnectedEvent(code=last.code, reason=last.reason, error=last.error)  # type: ignore[union-attr]
            elif action == "swallow":
                batch.pop()
                if not batch:
                    return
        self._put(batch)


class _ReconnectMixin:
    """The reconnection and renewal machinery of ``RealtimeClient`` (helper threads
    ``rtsync-reconnect`` and ``rtsync-renew``)."""

    if TYPE_CHECKING:  # provided by RealtimeClient
        _policy: ReconnectPolicy | None
        _state: State
        _state_lock: threading.Lock
        _switch_lock: threading.Lock
        _stop: threading.Event
        _disconnect_seen: threading.Event
        _helper: threading.Thread | None
        _gen: int
        _fatal: bool
        _queue: queue.SimpleQueue[list[Event]]
        _transport: Transport | None
        _gate: ResponseGate
        _book: RequestBook
        _tool_runner: ToolRunner | None
        _session_config: dict[str, Any]
        session: Session | None
        session_id: str | None
        conversation: Conversation

        def _new_transport(self, gen: int, out: Any = None) -> Transport: ...
        def _has_tools(self) -> bool: ...
        def _send_tools(self) -> None: ...
        def update_session(self, session: Any = None, **fields: Any) -> str: ...
        def create_item(self, item: Any, previous_item_id: Any = ...) -> str: ...

    @property
    def _in_force(self) -> ReconnectPolicy:
        policy = self._policy
        assert policy is not None  # the machinery runs only under a policy
        return policy

    def _transport_ended(self, gen: int, ev: CloseEvent) -> str:
        """Reader thread of transport ``gen``: is its close ``final``, a ``retry``, or ``swallow``ed?"""
        with self._state_lock:
            if gen != self._gen:
                return "swallow"  # a renewed-away connection
            policy = self._policy
            if (self._state is not State.OPEN or policy is None or not policy.on_drop or ev.initiated_by_client
                    or self._fatal):
                return "final"
            if ev.code in _FATAL_CLOSE_CODES or any(r in (ev.reason or "") for r in FATAL_ERROR_CODES):
                return "final"
            self._state = State.RECONNECTING
            self._disconnect_seen.clear()
            self._start_helper("rtsync-reconnect", self._reconnect_loop, ev)
            return "retry"

    def _start_helper(self, name: str, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._helper = t

    def _reconnect_loop(self, ev: CloseEvent) -> None:
        logger.warning("rtsync: connection lost (code %s: %s); reconnecting", ev.code, redact(ev.reason))
        policy = self._in_force
        delay, attempt = policy.backoff, 0
        error: BaseException | None = ev.error
        while attempt < policy.max_attempts and not self._stop.wait(delay):
            attempt += 1
            try:
                self._disconnect_seen.wait(2.0)  # the old connection's events are applied
                self._switch_to_new_session("reconnected", attempt)
                return
            except (AuthenticationError, ModelNotFoundError) as exc:
                error = exc
                logger.error("rtsync: reconnect refused: %s", redact(exc))
                break
            except (RealtimeError, OSError) as exc:
                error = exc
                logger.warning("rtsync: reconnect attempt %d failed: %s", attempt, redact(exc))
                delay = min(delay * 2, policy.max_backoff)
            except _Aborted:
                break
        by_client = self._stop.is_set()
        reason = "closed by client" if by_client else (
            f"{ev.reason or 'connection lost'}; reconnecting failed after {attempt} attempt(s)")
        with self._state_lock:
            if self._state is State.RECONNECTING:
                self._state = State.CLOSED
        self._queue.put([CloseEvent(code=1000 if by_client else ev.code, reason=reason,
                                    error=None if by_client else error, initiated_by_client=by_client)])

    def _switch_to_new_session(self, why: str, attempt: int) -> None:
        """Open a new connection, make it current, configure it, announce it (helper thread).

        A renewal switches at a quiet point: it blocks new ``ask()``/``create_response()`` calls
        (``_switch_lock``) and waits, for at most half of ``renew_before``, until the responses
        and tool calls already under way have finished on the old session. A response.create
        queued there then never moves to a session that lacks the items it answers.
        """
        gen = self._gen + 1
        out = _Out(self, gen, hold=True)
        transport = self._new_transport(gen, out)
        first = transport.connect()
        renewing = why == "renewed"
        gate, quiet = self._gate, True
        with self._switch_lock:
            if renewing:
                quiet = self._wait_until_quiet(time.monotonic() + (self._in_force.renew_before or 0.0) / 2)
            with gate.lock:  # no response.create is half sent while the transports swap
                items = self._text_items() if self._in_force.replay_text_items else []
                with self._state_lock:
                    if self._stop.is_set():
                        transport.close(1000, "", timeout=1.0)
                        raise _Aborted()
                    old, old_session = self._transport, self.session_id
                    self._gen, self._transport = gen, transport
                    session = getattr(first, "session", None)
                    if isinstance(session, Session):
                        self.session = session
                        self.session_id = session.id if isinstance(session.id, str) else None
                    self._state = State.OPEN
                    self._book.revive()
        out.release()
        transport.start_reader()
        if renewing and old is not None:
            if not quiet:
                logger.warning("rtsync: renewing while a response is still running; requests queued behind it "
                               "go to the new session")
                # the response running at the switch finishes on the old connection (its events
                # still arrive through the old reader) before that connection closes
                waited, target = 0.0, gate.finished + 1
                while gate.busy and gate.finished < target and waited < 30.0 and not self._stop.wait(0.02):
                    waited += 0.02
            old.close(1000, "session renewed", timeout=2.0)
        if self._session_config:
            self.update_session(dict(self._session_config))
        elif self._has_tools():
            self._send_tools()
        for role, text in items:
            factory = {"user": Item.user_text, "assistant": Item.assistant_text, "system": Item.system_text}[role]
            self.create_item(factory(text))
        logger.info("rtsync: %s (session %s, %d attempt(s))", why, self.session_id, attempt)
        self._queue.put([ReconnectedEvent(reason=why, attempts=attempt, session_id=self.session_id,
                                          previous_session_id=old_session, replayed_items=len(items))])
        self._schedule_renewal()

    def _wait_until_quiet(self, deadline: float) -> bool:
        """Renewal helper: wait until no response or tool call is under way; False at the deadline."""
        gate, runner = self._gate, self._tool_runner
        while True:
            with gate.lock:
                if gate.quiet_locked() and (runner is None or runner.pending == 0):
                    return True
            if time.monotonic() >= deadline or self._stop.wait(0.005):
                return False

    def _text_items(self) -> list[tuple[str, str]]:
        out = []
        for e in self.conversation.items:
            if e.type == "message" and e.role in ("user", "assistant", "system") and e.status != "in_progress":
                # (an assistant message cut off by the drop is left out)
                text = e.text or e.heard_transcript or e.transcript or e.input_transcript
                if text:
                    out.append((str(e.role), text))
        return out

    def _schedule_renewal(self) -> None:
        renew_before = self._policy.renew_before if self._policy is not None else None
        if renew_before is None or self._stop.is_set():
            return
        expires = getattr(self.session, "expires_at", None)
        if not isinstance(expires, (int, float)) or expires <= 0:
            logger.info("rtsync: the session has no expires_at; it will not be renewed")
            return
        delay = max(0.0, expires - renew_before - time.time())
        self._start_helper("rtsync-renew", self._renew_after, delay)

    def _renew_after(self, delay: float) -> None:
        if self._stop.wait(delay):
            return
        for attempt in range(1, self._in_force.max_attempts + 1):
            if self._state is not State.OPEN:
                return
            try:
                self._switch_to_new_session("renewed", attempt)
                return
            except _Aborted:
                return
            except (RealtimeError, OSError) as exc:
                logger.warning("rtsync: renewing the session failed (attempt %d): %s", attempt, redact(exc))
                if self._stop.wait(min(self._in_force.backoff * 2 ** attempt, self._in_force.max_backoff)):
                    return
