"""VoiceSession with a reasoning model's reply: a preamble audio item, then the answer audio item,
in one response (issue 14). Real PortAudio streams on the virtual device; the response is
scripted by a raw peer in GA and in beta (two tones, so the speaker file shows which played).

* both items play, the preamble first, exactly as sent;
* a barge-in during the second item truncates the second, at its played milliseconds;
* a barge-in during the first truncates the first (the second was already queued behind it);
* and the same with the real local server and the client's default model (``gpt-realtime-2.1``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from rtsync import RealtimeClient, VoiceSession
from tests.audio.test_voice import common_prefix, find, silence
from tests.peer import ScriptedPeer
from tests.reasoning_script import (
    BETA_SESSION_CREATED,
    GA_SESSION_CREATED,
    answer_when_asked,
    tone,
    two_message_response,
)

#: The clients here keep their real default model (tests/conftest.py).
USES_DEFAULT_MODEL = True
RATE = 24000
BLOCK = 480
PREAMBLE = tone(0.6, 440.0, 6000)
ANSWER = tone(2.0, 660.0, 9000)


@pytest.fixture(params=["ga", "beta"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def peer(dialect: str) -> Iterator[ScriptedPeer]:
    p = ScriptedPeer(first=GA_SESSION_CREATED if dialect == "ga" else BETA_SESSION_CREATED).start()
    yield p
    p.stop()


def play_reply(virtual_audio, peer: ScriptedPeer, dialect: str, interrupt_at: int | None):
    """Run a voice session, ask for a response, let the peer answer with the two audio items;
    with ``interrupt_at``, call ``interrupt()`` once the speaker has played that many samples.

    Returns:
        (speaker file samples, voice stats, truncated events, played samples at the interrupt)
    """
    virtual_audio.set_mic(silence(0.5))
    with RealtimeClient(url=peer.url, dialect=dialect) as client:
        done: list = []
        truncated: list = []
        client.on("response.done", done.append)
        with VoiceSession(client, mode="push_to_talk") as voice:
            skip = len(peer.received)
            client.create_response(modalities=["audio", "text"])
            answer_when_asked(peer, lambda ev: two_message_response(
                "resp_v", audio=True, dialect=dialect, samples=(PREAMBLE, ANSWER)), skip=skip)
            deadline = time.monotonic() + 15
            while not done and time.monotonic() < deadline:
                time.sleep(0.01)
            assert done, "no response.done"
            at = None
            if interrupt_at is not None:
                while voice.speaker.played_samples < interrupt_at and time.monotonic() < deadline:
                    time.sleep(0.002)
                at = voice.speaker.played_samples
                voice.interrupt()
                if voice.stats.truncations:
                    # the peer does not answer truncates: read what was sent
                    truncated = peer.wait_received(len(peer.received) + 1, timeout=1.0)
            voice.speaker.wait_until_drained(10)
            stats = voice.refresh_stats()
        speaker = virtual_audio.speaker_samples()
    sent = [f for f in truncated if isinstance(f, dict) and f.get("type") == "conversation.item.truncate"]
    return speaker, stats, sent, at


def test_both_audio_items_play_in_order(virtual_audio, peer: ScriptedPeer, dialect: str) -> None:
    speaker, stats, _, _ = play_reply(virtual_audio, peer, dialect, None)
    first = find(speaker, PREAMBLE)
    assert first >= 0, "the preamble did not play"
    assert common_prefix(speaker[first:], PREAMBLE) == len(PREAMBLE)
    second = find(speaker, ANSWER)
    assert second >= first + len(PREAMBLE), "the answer did not play after the preamble"
    assert common_prefix(speaker[second:], ANSWER) == len(ANSWER), "the answer was not played whole"
    assert stats.played_ms == {"item_resp_v_0": 600, "item_resp_v_1": 2000}
    assert stats.truncations == []


def test_barge_in_during_the_second_item_truncates_the_second(virtual_audio, peer: ScriptedPeer,
                                                              dialect: str) -> None:
    speaker, stats, sent, _ = play_reply(virtual_audio, peer, dialect, len(PREAMBLE) + RATE // 2)
    assert stats.truncations, "no conversation.item.truncate was sent"
    item_id, audio_end_ms = stats.truncations[0]
    assert item_id == "item_resp_v_1" and len(stats.truncations) == 1
    # what the speaker file holds of the answer is what was played of it
    start = find(speaker, ANSWER)
    assert start >= 0
    heard = common_prefix(speaker[start:], ANSWER)
    assert heard < len(ANSWER), "the answer was not interrupted"
    assert abs(audio_end_ms - heard * 1000 / RATE) <= 40, (audio_end_ms, heard)
    assert 450 <= audio_end_ms <= 500 + 3 * 20 + 40, audio_end_ms  # ~0.5 s into the answer
    assert common_prefix(speaker[find(speaker, PREAMBLE):], PREAMBLE) == len(PREAMBLE)
    assert sent and sent[0]["item_id"] == item_id and sent[0]["audio_end_ms"] == audio_end_ms
    assert stats.played_ms["item_resp_v_0"] == 600


def test_barge_in_during_the_first_item_truncates_the_first(virtual_audio, peer: ScriptedPeer,
                                                            dialect: str) -> None:
    speaker, stats, sent, _ = play_reply(virtual_audio, peer, dialect, RATE // 4)
    assert [t[0] for t in stats.truncations] == ["item_resp_v_0"]
    audio_end_ms = stats.truncations[0][1]
    start = find(speaker, PREAMBLE)
    heard = common_prefix(speaker[start:], PREAMBLE)
    assert heard < len(PREAMBLE), "the preamble was not interrupted"
    assert abs(audio_end_ms - heard * 1000 / RATE) <= 40, (audio_end_ms, heard)
    assert find(speaker, ANSWER[:BLOCK]) < 0, "the answer played after the barge-in"
    assert stats.played_ms.get("item_resp_v_1", 0) == 0
    assert sent and sent[0]["item_id"] == "item_resp_v_0"
    assert np.count_nonzero(speaker[start + heard + 5 * BLOCK :]) == 0


# -- the real local server (a reasoning model: the client's default) -------------------------------

def test_local_server_preamble_and_answer_play_and_a_barge_in_truncates_the_second(virtual_audio,
                                                                                   dialect: str) -> None:
    from rtsync.server import LocalServer
    from tests.audio.test_voice import Recorder

    virtual_audio.set_mic(silence(0.5))
    with LocalServer(voice="tone") as server, RealtimeClient(url=server.url, dialect=dialect) as client:
        rec = Recorder(client)
        truncated: list = []
        client.on("conversation.item.truncated", truncated.append)
        with VoiceSession(client, mode="push_to_talk") as voice:
            client.create_item("please tell me a rather long story about the sea and the ships on it")
            client.create_response(modalities=["audio", "text"])
            assert rec.done.wait(15), "no response.done"
            assert len(rec.order) == 2, rec.order  # the preamble item, then the answer item
            first, second = (rec.item(i) for i in rec.order)
            target = len(first) + len(second) // 2
            deadline = time.monotonic() + 15
            while voice.speaker.played_samples < target and time.monotonic() < deadline:
                time.sleep(0.002)
            voice.interrupt()
            deadline = time.monotonic() + 5
            while not truncated and time.monotonic() < deadline:
                time.sleep(0.01)
            stats = voice.refresh_stats()
        speaker = virtual_audio.speaker_samples()
    at = find(speaker, first)
    assert at >= 0 and common_prefix(speaker[at:], first) == len(first), "the preamble did not play whole"
    after = find(speaker[at + len(first):], second)  # (both tones start alike: look after the preamble)
    assert after >= 0, "the answer did not play after the preamble"
    heard = common_prefix(speaker[at + len(first) + after:], second)
    assert 0 < heard < len(second)
    assert [t[0] for t in stats.truncations] == [rec.order[1]]
    audio_end_ms = stats.truncations[0][1]
    assert abs(audio_end_ms - heard * 1000 / RATE) <= 40, (audio_end_ms, heard)
    assert truncated and truncated[0].item_id == rec.order[1] and truncated[0].audio_end_ms == audio_end_ms
