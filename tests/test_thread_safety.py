"""Thread safety: many threads call ``send``, ``on``/``off`` and ``close`` at random while events
flow through the real local server. Nothing deadlocks, nothing is lost, no thread leaks (the
autouse fixture checks the last point).

``RTSYNC_STRESS_ITERATIONS`` sets the operations per thread (default 150; ``make stress`` runs
3000)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from rtsync import RealtimeClient
from rtsync.errors import ClosedError
from rtsync.events.models import Item

ITERATIONS = int(__import__("os").environ.get("RTSYNC_STRESS_ITERATIONS", "150"))
THREADS = 8


def _item(tag: str) -> Item:
    item = Item.user_text(tag)
    item.id = tag
    return item


def test_sends_and_on_off_from_many_threads_lose_nothing(local_server):
    client = RealtimeClient(url=local_server.url, api_key="")
    created: list[str] = []
    created_lock = threading.Lock()

    def on_created(ev: Any) -> None:
        with created_lock:
            created.append(ev.item.id)

    client.on("conversation.item.created", on_created)
    client.connect()
    extra_calls = [0]
    sent: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        rng = random.Random(n)
        mine: list[str] = sent.setdefault(n, [])
        handlers: list[Any] = []
        try:
            start.wait()
            for k in range(ITERATIONS):
                r = rng.random()
                if r < 0.5:
                    tag = f"item_t{n}_{k}"
                    client.create_item(_item(tag))
                    mine.append(tag)
                elif r < 0.6:
                    client.append_audio(bytes(480))
                elif r < 0.8:
                    def h(ev: Any) -> None:
                        extra_calls[0] += 1
                    handlers.append(h)
                    client.on(rng.choice(["*", "conversation.item.created", "error"]), h)
                elif handlers:
                    h = handlers.pop(rng.randrange(len(handlers)))
                    for key in ("*", "conversation.item.created", "error"):
                        client.off(key, h)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,), name=f"test-worker-{n}") for n in range(THREADS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a worker deadlocked"
        assert not errors, errors
        marker = "item_marker_end"
        client.create_item(_item(marker))
        client.wait_for("conversation.item.created", lambda ev: ev.item.id == marker, timeout=30)
        with created_lock:
            got = [i for i in created if i != marker]
        expected = [tag for n in range(THREADS) for tag in sent[n]]
        assert sorted(got) == sorted(expected)  # every item, exactly once
        for n in range(THREADS):  # each thread's own sends arrive in its order
            assert [i for i in got if i.startswith(f"item_t{n}_")] == sent[n]
    finally:
        client.close()


@pytest.mark.parametrize("round_", range(3))
def test_close_from_a_random_thread_while_others_send(local_server, round_):
    client = RealtimeClient(url=local_server.url, api_key="")
    closes: list[Any] = []
    client.on("rtsync.close", closes.append)
    client.connect()
    rng = random.Random(round_)
    closer = rng.randrange(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        start.wait()
        result = "done"
        try:
            for k in range(ITERATIONS):
                if n == closer and k == ITERATIONS // 3:
                    client.close()
                    result = "closed"
                    break
                if k % 3 == 0:
                    client.on("*", lambda ev: None)
                    client.off("*")
                client.create_item(f"t{n} {k}")
        except ClosedError:
            result = "closed-error"
        except BaseException as exc:  # anything else is a failure
            result = f"unexpected {type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(n,), name=f"test-worker-{n}") for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread deadlocked around close()"
    assert len(outcomes) == THREADS
    assert not [o for o in outcomes if o.startswith("unexpected")], outcomes
    assert outcomes.count("closed") == 1
    client.close()  # idempotent; joins what is left
    assert len(closes) == 1 and closes[0].initiated_by_client
    with pytest.raises(ClosedError):
        client.create_item("after")
