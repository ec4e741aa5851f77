"""Property tests: arbitrary JSON values, wrong field types, truncated and non-UTF-8 frames go
through ``parse_event``, the dispatcher and the whole client (reader + dispatcher over a real
socket). Nothing crashes: a frame is an event (``UnknownEvent`` for an unknown type) or a
``ProtocolError``, never anything else, and every frame is accounted for.

``RTSYNC_FUZZ_EXAMPLES`` sets the examples per property (default 200; ``make fuzz`` runs
10,000)."""

from __future__ import annotations

import json
import os
import queue
import threading
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtsync import RealtimeClient
from rtsync.dispatch import HandlerRegistry, ThreadDispatcher
from rtsync.errors import ProtocolError
from rtsync.events import UnknownEvent, event_types, parse_event
from rtsync.events._base import Event
from rtsync.events.local import CloseEvent, ProtocolErrorEvent

EXAMPLES = int(os.environ.get("RTSYNC_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TYPES = sorted(event_types())

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# A known type with arbitrary (mostly wrong) values for its own field names and a few extras.
field_names = st.sampled_from(["event_id", "session", "item", "response", "delta", "error", "part", "item_id",
                               "response_id", "output_index", "content_index", "audio", "transcript", "rate_limits",
                               "usage", "output", "content", "status", "name", "arguments", "previous_item_id"])
typed_objects = st.builds(
    lambda t, fields: {**fields, "type": t},
    st.sampled_from(TYPES) | st.text(max_size=12),
    st.dictionaries(field_names | st.text(max_size=6), json_values, max_size=6),
)
any_objects = typed_objects | st.dictionaries(st.text(max_size=6), json_values, max_size=4)


def _check_frame(data: Any) -> Event | None:
    """parse_event must return an event or raise ProtocolError; None for the latter."""
    try:
        ev = parse_event(data)
    except ProtocolError:
        return None
    assert isinstance(ev, Event)
    ev.to_dict()  # whatever came in can be written back out
    return ev


@FUZZ
@given(json_values)
def test_parse_event_on_any_json_value(value):
    ev = _check_frame(json.dumps(value))
    if ev is not None:
        assert isinstance(value, dict) and isinstance(value.get("type"), str)


@FUZZ
@given(typed_objects)
def test_parse_event_on_known_types_with_wrong_field_types(obj):
    ev = _check_frame(json.dumps(obj))
    assert ev is not None and ev.type == obj["type"]
    if obj["type"] not in TYPES:
        assert isinstance(ev, UnknownEvent)
    assert ev.to_dict() == obj  # lenient and lossless: nothing dropped, nothing invented


@FUZZ
@given(typed_objects, st.data())
def test_truncated_frames_are_protocol_errors(obj, data):
    text = json.dumps(obj).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    assert _check_frame(text[:cut]) is None


@FUZZ
@given(st.binary(max_size=64))
def test_arbitrary_bytes(raw):
    ev = _check_frame(raw)
    if ev is not None:
        assert isinstance(json.loads(raw.decode("utf-8")), dict)


def test_the_dispatcher_delivers_every_fuzzed_event_in_order():
    q: queue.SimpleQueue[list[Event]] = queue.SimpleQueue()
    registry = HandlerRegistry()
    seen: list[Event] = []
    marks: queue.SimpleQueue[Any] = queue.SimpleQueue()
    registry.add("*", seen.append)
    registry.add("rtsync.unknown", lambda ev: None)
    registry.add("fuzz.mark", marks.put)
    for t in TYPES[::7]:
        registry.add(t, lambda ev: ev.to_dict())
    d = ThreadDispatcher(q, registry, [], name="rtsync-dispatch-fuzz")
    d.start()

    @FUZZ
    @given(st.lists(any_objects | st.binary(max_size=16), max_size=12))
    def run(frames):
        batch: list[Event] = []
        for frame in frames:
            try:
                batch.append(parse_event(json.dumps(frame) if isinstance(frame, dict) else frame))
            except ProtocolError as exc:
                batch.append(ProtocolErrorEvent(error=exc, data=frame))
        mark = UnknownEvent(type="fuzz.mark", raw={"type": "fuzz.mark"})
        del seen[:]
        q.put([*batch, mark])
        assert marks.get(timeout=10) is mark
        assert seen == [*batch, mark]
        assert d.thread.is_alive()

    try:
        run()
    finally:
        q.put([CloseEvent(code=1000)])
        d.thread.join(5)


def test_the_client_survives_fuzzed_frames_end_to_end(peer):
    client = RealtimeClient(url=peer.url, api_key="", ping_interval=None)
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    client.on("*", events.put)
    client.connect()
    events.get(timeout=5)  # session.created
    counter = iter(range(10**9))

    @settings(FUZZ, max_examples=max(20, EXAMPLES // 10))
    @given(st.lists(any_objects | json_values.map(json.dumps) | st.binary(max_size=16), min_size=1, max_size=6))
    def run(frames):
        for frame in frames:
            peer.send(json.dumps(frame) if isinstance(frame, dict) else frame)
        mark = f"fuzz.mark.{next(counter)}"
        peer.send(json.dumps({"type": mark}))
        got = []
        while True:
            ev = events.get(timeout=10)
            got.append(ev)
            if ev.type == mark:
                break
        assert len(got) == len(frames) + 1  # one event per frame: nothing lost, nothing extra
        for frame, ev in zip(frames, got[:-1], strict=True):
            if isinstance(ev, ProtocolErrorEvent):
                assert isinstance(ev.error, ProtocolError)
            else:
                assert isinstance(frame, (str, dict)) and not isinstance(ev, CloseEvent)
        assert client.is_open

    try:
        run()
    finally:
        client.close()
    assert not [t for t in threading.enumerate() if t.name == "rtsync-reader" and t.is_alive()]
