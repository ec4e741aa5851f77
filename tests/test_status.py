"""The voice CLI's status line: rendering, the turn tracker against the real local server, and
the painter on a real pseudo-terminal (and silent on a pipe).

The end-to-end check of ``python -m rtsync voice`` in tmux is in tests/audio/test_voice_status.py
(it needs the virtual sound device).
"""

from __future__ import annotations

import io
import math
import os
import select
import threading
import time

import numpy as np
import pytest

from rtsync import RealtimeClient
from rtsync._status import (
    ASSISTANT_SPEAKING,
    INTERRUPTED,
    LISTENING,
    USER_SPEAKING,
    StatusLine,
    StatusSnapshot,
    TurnTracker,
    format_level,
    level_meter,
    render_status,
    snapshot,
)
from rtsync.server import LocalServer

RATE = 24000


def tone(seconds: float, amplitude: int = 8000) -> np.ndarray:
    n = np.arange(int(seconds * RATE))
    return (amplitude * np.sin(2 * np.pi * 440 * n / RATE)).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


# -- rendering ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("level", "bar"),
    [
        (-math.inf, "----------"),
        (math.nan, "----------"),
        (-60.0, "----------"),
        (-80.0, "----------"),
        (-59.0, "#---------"),  # anything above the floor shows
        (-30.0, "#####-----"),
        (-6.0, "#########-"),
        (0.0, "##########"),
        (3.0, "##########"),
    ],
)
def test_level_meter(level, bar):
    assert level_meter(level) == bar


def test_level_meter_widths():
    assert level_meter(-30.0, width=4) == "##--"
    assert level_meter(-30.0, width=0) == ""
    assert level_meter(-20.0, width=10, floor_db=-40.0) == "#####-----"


def test_format_level():
    assert format_level(-math.inf) == "-inf dB"
    assert format_level(math.nan) == "-inf dB"
    assert format_level(-23.4) == " -23 dB"
    assert format_level(-5.0) == "  -5 dB"
    assert format_level(-120.0) == "-120 dB"
    assert len({len(format_level(x)) for x in (-math.inf, -120.0, -60.0, -5.0, 0.0)}) == 1  # fixed width


def test_full_line():
    snap = StatusSnapshot(level_db=-30.0, state=USER_SPEAKING, latency_ms=412.4, underruns=2)
    assert render_status(snap, 120) == "mic [#####-----]  -30 dB | user speaking | turn 412 ms | underruns 2"


def test_line_before_the_first_turn_and_with_problems():
    assert render_status(StatusSnapshot(), 120) == "mic [----------] -inf dB | listening | turn - | underruns 0"
    snap = StatusSnapshot(level_db=-12.0, state=INTERRUPTED, latency_ms=12_345.0, underruns=1, overruns=960,
                          interrupts=3)
    assert render_status(snap, 200) == (
        "mic [########--]  -12 dB | interrupted | turn 12 s | underruns 1 | overruns 960 | barge-ins 3"
    )


@pytest.mark.parametrize("state", [LISTENING, USER_SPEAKING, ASSISTANT_SPEAKING, INTERRUPTED])
def test_line_fits_every_width_and_keeps_the_state_while_it_can(state):
    snap = StatusSnapshot(level_db=-20.0, state=state, latency_ms=999.0, underruns=12345, overruns=7, interrupts=2)
    full = render_status(snap, 1000)
    for width in range(0, 130):
        line = render_status(snap, width)
        assert len(line) <= max(0, width - 1), (width, line)
        if width > len(state) + 1:
            assert state in line, (width, line)
        if width > len(full):
            assert line == full


def test_narrow_line_order():
    snap = StatusSnapshot(level_db=-20.0, state=LISTENING, latency_ms=50.0, underruns=0)
    assert render_status(snap, 64) == "mic [#######---]  -20 dB | listening | turn 50 ms | underruns 0"
    assert render_status(snap, 63) == "mic [#######---]  -20 dB | listening | turn 50 ms"
    assert render_status(snap, 40) == "mic [#######---]  -20 dB | listening"
    assert render_status(snap, 33) == "mic [###--]  -20 dB | listening"
    assert render_status(snap, 20) == "[###--] listening"
    assert render_status(snap, 12) == "listening"
    assert render_status(snap, 8) == "listeni"


# -- the turn tracker against the real local server -----------------------------------------------
class StateLog:
    """Records the tracker's state right after it handled each of some events (same thread)."""

    def __init__(self, client: RealtimeClient, tracker: TurnTracker, *types: str) -> None:
        self.seen: list[tuple[str, str]] = []
        self.tracker = tracker
        for t in types:
            client.on(t, self.record)

    def record(self, ev) -> None:
        self.seen.append((ev.type, self.tracker.state()))

    def states(self, event_type: str) -> list[str]:
        return [s for t, s in self.seen if t == event_type]


def test_tracker_follows_a_spoken_turn_and_measures_its_latency():
    with LocalServer(voice="tone") as server, RealtimeClient(url=server.url) as client:
        tracker = TurnTracker().attach(client)  # registered first: it sees each event before the log
        log = StateLog(client, tracker, "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                       "response.audio.delta", "response.done")
        client.update_session(turn_detection={"type": "server_vad"})
        client.wait_for("session.updated", timeout=5)
        assert tracker.state() == LISTENING and tracker.latency_ms is None and tracker.turns == 0
        audio = np.concatenate([silence(0.2), tone(0.8), silence(1.0)])
        for i in range(0, len(audio), 480):
            client.append_audio(audio[i:i + 480])
        client.wait_for("response.done", timeout=20)
        assert log.states("input_audio_buffer.speech_started") == [USER_SPEAKING]
        assert log.states("input_audio_buffer.speech_stopped") == [LISTENING]
        deltas = log.states("response.audio.delta")
        assert deltas and set(deltas) == {ASSISTANT_SPEAKING}
        assert log.states("response.done") == [LISTENING]
        assert tracker.turns == 1
        assert tracker.latency_ms is not None and tracker.latency_ms >= 0
        assert render_status(snapshot(None, tracker), 120).startswith("mic [----------] -inf dB | listening | turn ")
        tracker.detach()
        client.append_audio(np.concatenate([tone(0.5), silence(1.0)]))
        client.wait_for("response.done", timeout=20)
        assert tracker.turns == 1  # detached: the second turn is not counted


def test_tracker_shows_a_barge_in_as_interrupted():
    with LocalServer(voice="tone", audio_pace=0.5) as server, RealtimeClient(url=server.url) as client:
        tracker = TurnTracker(interrupted_hold=60.0).attach(client)
        log = StateLog(client, tracker, "input_audio_buffer.speech_started", "response.done")
        client.update_session(turn_detection={"type": "server_vad"})
        client.wait_for("session.updated", timeout=5)
        client.create_item("a long reply with many words so that it is still speaking when we interrupt")
        client.create_response(modalities=["audio", "text"])
        client.wait_for("response.audio.delta", timeout=10)
        assert tracker.state() == ASSISTANT_SPEAKING
        client.append_audio(np.concatenate([tone(0.5), silence(0.2)]))
        done = client.wait_for("response.done", timeout=20)
        assert done.response.status == "cancelled"
        assert log.states("input_audio_buffer.speech_started") == [INTERRUPTED]
        assert tracker.state() == INTERRUPTED  # held (60 s here), whatever else happens meanwhile


def test_interrupted_is_held_then_released_and_counts_barge_ins():
    now = [100.0]
    tracker = TurnTracker(interrupted_hold=1.0, clock=lambda: now[0])
    tracker.note_interrupts(0)
    assert tracker.state(assistant_audio_queued=True) == ASSISTANT_SPEAKING
    tracker.note_interrupts(1)
    assert tracker.state(assistant_audio_queued=True) == INTERRUPTED
    now[0] += 0.9
    tracker.note_interrupts(1)  # the same count again is not a new barge-in
    assert tracker.state() == INTERRUPTED
    now[0] += 0.2
    assert tracker.state() == LISTENING


# -- the painter ----------------------------------------------------------------------------------
def test_no_status_line_when_not_a_terminal():
    out = io.StringIO()
    calls = []
    status = StatusLine(lambda width: calls.append(width) or "STATUS", stream=out, interval=0.01)
    assert not status.enabled
    with status:
        assert not status.running
        assert not [t for t in threading.enumerate() if t.name == "rtsync-status"]
        status.println("a message")
        time.sleep(0.05)
    assert out.getvalue() == "a message\n"
    assert calls == []


def _read_all(fd: int, until: str, timeout: float = 5.0) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while until.encode() not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            data += os.read(fd, 4096)
    return data.decode(errors="replace")


def test_status_line_paints_on_a_terminal():
    master, slave = os.openpty()
    stream = open(slave, "w", encoding="utf-8", closefd=True)  # closed in finally
    try:
        counter = [0]

        def render(width: int) -> str:
            counter[0] += 1
            return f"tick {counter[0]:03d} width {width}"

        status = StatusLine(render, stream=stream, interval=0.01)
        assert status.enabled
        status.start()
        assert status.running
        text = _read_all(master, "tick 005")
        assert "\rtick 005 width " in text and "\x1b[K" in text
        status.println("hello above")
        text = _read_all(master, "hello above")
        # The line is erased, the message printed on its own line, and the status repainted.
        assert "\r\x1b[Khello above" in text
        status.stop()
        assert not status.running
        tail = _read_all(master, "\n", timeout=1.0)
        assert "\n" in tail
        status.println("after")  # no longer painting: printed plainly
        assert "after" in _read_all(master, "after")
    finally:
        stream.close()
        os.close(master)


def test_a_failing_render_does_not_stop_the_painter():
    master, slave = os.openpty()
    stream = open(slave, "w", encoding="utf-8", closefd=True)  # closed in finally
    try:
        calls = [0]

        def render(width: int) -> str:
            calls[0] += 1
            if calls[0] < 3:
                raise RuntimeError("boom")
            return f"ok after {calls[0]}"

        with StatusLine(render, stream=stream, interval=0.01):
            text = _read_all(master, "ok after")
        assert "status unavailable: RuntimeError" in text
    finally:
        stream.close()
        os.close(master)
