"""VoiceSession end to end: real PortAudio streams on the virtual device, the real local server.

A spoken WAV (espeak-ng) goes into the microphone file; the server's VAD detects it and replies
with audio; the speaker file must hold exactly what the server sent. Barge-in is judged by
counting samples in the speaker file, not by the wall clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rtsync import RealtimeClient, VoiceSession
from rtsync.audio import read_wav, resample
from rtsync.audio.devices import Microphone, Speaker
from rtsync.server import LocalServer

BLOCK = 480  # 20 ms at 24 kHz


def speech(tmp_path: Path, text: str) -> np.ndarray:
    if not shutil.which("espeak-ng"):
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is missing on CI")
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    samples, rate = read_wav(wav)
    return resample(samples, rate, 24000).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 24000), dtype=np.int16)


def find(haystack: np.ndarray, needle: np.ndarray) -> int:
    """Index of the first occurrence of ``needle`` (exact samples) in ``haystack``, or -1."""
    first = needle[: min(len(needle), 64)]
    candidates = np.flatnonzero(haystack[: len(haystack) - len(first) + 1] == first[0])
    for i in candidates:
        if np.array_equal(haystack[i : i + len(first)], first):
            return int(i)
    return -1


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


class Recorder:
    """Collects the audio deltas the server sent, per item, on the dispatcher thread."""

    def __init__(self, client: RealtimeClient) -> None:
        self.audio: dict[str, list[np.ndarray]] = {}
        self.order: list[str] = []
        self.done = threading.Event()
        self.responses = 0
        client.on("response.audio.delta", self.on_delta)
        client.on("response.done", self.on_done)

    def on_delta(self, ev) -> None:
        if ev.item_id not in self.audio:
            self.audio[ev.item_id] = []
            self.order.append(ev.item_id)
        self.audio[ev.item_id].append(ev.samples.copy())

    def on_done(self, ev) -> None:
        self.responses += 1
        self.done.set()

    def item(self, item_id: str) -> np.ndarray:
        return np.concatenate(self.audio[item_id])


def test_spoken_turn_round_trip(virtual_audio, tmp_path):
    utterance = speech(tmp_path, "hello, can you hear me")
    virtual_audio.set_mic(np.concatenate([silence(0.3), utterance, silence(3.0)]))
    with LocalServer() as server, RealtimeClient(url=server.url) as client:
        rec = Recorder(client)
        stopped = []
        client.on("input_audio_buffer.speech_stopped", stopped.append)
        with VoiceSession(client) as voice:
            assert rec.done.wait(15), "no response to the spoken turn"
            assert voice.speaker.wait_until_drained(15)
            stats = voice.refresh_stats()
        speaker = virtual_audio.speaker_samples()
    assert stopped, "the server VAD did not detect the speech"
    reply_id = rec.order[0]
    reply = rec.item(reply_id)
    assert len(reply) > 24000 * 0.5
    at = find(speaker, reply)
    assert at >= 0, "the reply audio is not in the speaker file"
    assert common_prefix(speaker[at:], reply) == len(reply), "the speaker file differs from what the server sent"
    assert stats.played_ms[reply_id] == len(reply) * 1000 // 24000
    assert stats.truncations == []


def test_barge_in_silences_within_blocks_and_truncates_what_was_played(virtual_audio, tmp_path):
    first = speech(tmp_path, "please tell me a long story about the sea")
    second = speech(tmp_path, "stop, stop")
    # The reply to the first turn lasts a few seconds; the second utterance lands in its middle.
    virtual_audio.set_mic(np.concatenate([silence(0.3), first, silence(1.6), second, silence(3.0)]))
    mic_dev = Microphone(rate=24000, block_ms=20)  # before the speaker: a device probe resets speaker.raw
    speaker_dev = Speaker(rate=24000, block_ms=20, buffer_ms=120_000)
    marks: dict = {}
    truncates = []
    with LocalServer() as server, RealtimeClient(url=server.url) as client:
        rec = Recorder(client)

        @client.on("input_audio_buffer.speech_started")
        def on_speech(ev):  # registered before the voice session's own handler
            if rec.order and "played_at_speech" not in marks:
                marks["played_at_speech"] = speaker_dev.played_samples
                marks["item"] = rec.order[-1]

        client.on("conversation.item.truncated", truncates.append)
        with VoiceSession(client, microphone=mic_dev, speaker=speaker_dev) as voice:
            deadline = time.monotonic() + 20
            while rec.responses < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert rec.responses >= 2, "no cancelled response and follow-up"
            speaker_dev.wait_until_drained(15)
            stats = voice.refresh_stats()
        speaker_dev.close()
        mic_dev.close()
        speaker = virtual_audio.speaker_samples()
    assert "played_at_speech" in marks, "speech_started did not arrive while the reply was playing"
    item = marks["item"]
    reply = rec.item(item)
    at = find(speaker, reply)
    assert at >= 0
    heard = common_prefix(speaker[at:], reply)
    assert heard < len(reply), "the reply was not interrupted"
    tail = speaker[at + heard : at + heard + 3 * BLOCK]
    fade = int(np.flatnonzero(tail)[-1]) + 1 if np.any(tail) else 0
    assert fade <= 5 * 24  # at most the 5 ms fade after the last exact sample
    silenced_after = heard + fade - marks["played_at_speech"]
    assert silenced_after <= 3 * BLOCK, f"{silenced_after} samples played after speech_started"
    assert stats.truncations, "no conversation.item.truncate was sent"
    sent_item, audio_end_ms = stats.truncations[0]
    assert sent_item == item
    file_ms = (heard + fade) * 1000 / 24000
    assert abs(audio_end_ms - file_ms) <= 40, (audio_end_ms, file_ms)
    assert truncates and truncates[0].audio_end_ms == audio_end_ms
    print(f"barge-in: {silenced_after} samples after speech_started, audio_end_ms error "
          f"{audio_end_ms - file_ms:+.1f} ms, silence after {stats.last_barge_in_ms:.1f} ms")


def test_interrupt_with_nothing_playing_sends_nothing(virtual_audio):
    virtual_audio.set_mic(silence(1.0))
    with LocalServer() as server, RealtimeClient(url=server.url) as client:
        sent = []
        with VoiceSession(client) as voice:
            client.on("error", sent.append)
            voice.interrupt()
            time.sleep(0.2)
            assert voice.stats.truncations == []
            assert voice.stats.blocks_sent > 0
        assert sent == []


def test_underruns_are_counted_when_audio_arrives_slower_than_real_time(virtual_audio):
    virtual_audio.set_mic(silence(0.5))
    with LocalServer(audio_pace=1.5) as server, RealtimeClient(url=server.url) as client:
        with VoiceSession(client, mode="push_to_talk", prebuffer_ms=20) as voice:
            client.create_item("slow audio please, with quite a few words in it")
            client.create_response(modalities=["audio", "text"])
            client.wait_for("response.done", timeout=30)
            voice.speaker.wait_until_drained(10)
            stats = voice.refresh_stats()
    assert stats.underruns > 0


ROOT = Path(__file__).resolve().parents[2]


def run_py(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


def test_wav_roundtrip_example(tmp_path):
    from rtsync.audio import write_wav

    question = speech(tmp_path, "what time is it")
    q = tmp_path / "q.wav"
    write_wav(q, question, 24000)
    out = tmp_path / "reply.wav"
    res = run_py(["examples/wav_roundtrip.py", str(q), str(out)])
    assert res.returncode == 0, res.stderr
    seconds = round(len(question) / 24000, 1)
    assert f"reply: I heard {seconds:.1f} seconds of speech." in res.stdout
    reply, rate = read_wav(out)
    assert rate == 24000 and len(reply) > 0.5 * 24000
    assert np.abs(reply.astype(np.int32)).max() > 1000  # real sound, not silence


def test_voice_chat_example_and_cli(virtual_audio, tmp_path):
    utterance = speech(tmp_path, "good morning")
    for args in (["examples/voice_chat.py", "--seconds", "6"], ["-m", "rtsync", "voice", "--seconds", "6"]):
        virtual_audio.set_mic(np.concatenate([silence(0.3), utterance, silence(6.0)]))
        res = run_py(args)
        assert res.returncode == 0, res.stderr[-2000:]
        assert "[you are speaking]" in res.stdout
        assert "assistant: I heard" in res.stdout, res.stdout


def test_devices_cli(virtual_audio):
    res = run_py(["-m", "rtsync", "devices"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "default" in res.stdout


def test_half_duplex_echo_guard_keeps_the_assistant_from_hearing_itself(virtual_audio, tmp_path):
    first = speech(tmp_path, "please tell me a long story about the sea")
    second = speech(tmp_path, "stop, stop")
    # The second utterance plays into the microphone while the reply is playing: with the
    # half-duplex guard the server must not hear it, so there is no barge-in.
    virtual_audio.set_mic(np.concatenate([silence(0.3), first, silence(1.6), second, silence(6.0)]))
    with LocalServer() as server, RealtimeClient(url=server.url) as client:
        rec = Recorder(client)
        with VoiceSession(client, echo_guard="half_duplex") as voice:
            assert rec.done.wait(15)
            assert voice.speaker.wait_until_drained(15)
            stats = voice.refresh_stats()
    assert stats.interrupts == 0
    assert stats.truncations == []
    first_reply = rec.order[0]
    assert stats.played_ms[first_reply] == stats.received_ms[first_reply]


def test_push_to_talk_commits_and_asks_for_a_response(virtual_audio, tmp_path):
    utterance = speech(tmp_path, "one two three")
    virtual_audio.set_mic(np.concatenate([silence(0.2), utterance, silence(2.0)]))
    with LocalServer() as server, RealtimeClient(url=server.url) as client:
        rec = Recorder(client)
        speech_events = []
        client.on("input_audio_buffer.speech_started", speech_events.append)
        with VoiceSession(client, mode="push_to_talk") as voice:
            deadline = time.monotonic() + 5
            while client.session.turn_detection is not None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert client.session.turn_detection is None
            voice.start_talking()
            time.sleep(0.2 + len(utterance) / 24000 + 0.2)
            voice.stop_talking()
            assert rec.done.wait(15)
            voice.speaker.wait_until_drained(15)
    assert speech_events == []  # turn detection is off in push-to-talk
    assert rec.order, "no audio reply"


def test_out_of_band_response_does_not_end_the_playing_one(virtual_audio):
    virtual_audio.set_mic(silence(0.5))
    with LocalServer(audio_pace=0.5, voice="tone") as server, RealtimeClient(url=server.url) as client:
        with VoiceSession(client, mode="push_to_talk") as voice:
            client.create_item("a reply with several words to keep it going")
            client.create_response(modalities=["audio", "text"])
            created = client.wait_for("response.created", timeout=5)
            client.create_response(conversation="none", modalities=["text"], metadata={"kind": "side"})
            side = client.wait_for("response.done", lambda ev: ev.response.conversation_id is None, timeout=10)
            assert side.response.id != created.response.id
            assert voice._active_response == created.response.id
            client.wait_for("response.done", lambda ev: ev.response.id == created.response.id, timeout=20)
            assert voice._active_response is None


def test_interrupt_cancels_and_truncates_at_what_was_played(virtual_audio):
    virtual_audio.set_mic(silence(0.5))
    # paced a little faster than real time: the speaker's queue fills, and the 5 s reply (sent
    # over 3.6 s) is still streaming when 0.6 s of it has played, even on a loaded machine
    with LocalServer(audio_pace=0.7, voice="tone") as server, RealtimeClient(url=server.url) as client:
        truncated = []
        finished = []
        client.on("conversation.item.truncated", truncated.append)
        client.on("response.done", finished.append)
        with VoiceSession(client, mode="push_to_talk") as voice:
            client.create_item("a reply with quite a lot of words so that it plays for a while")
            client.create_response(modalities=["audio", "text"])
            deadline = time.monotonic() + 10
            while voice.speaker.played_samples < 24000 * 0.6 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not finished, "the reply ended before the interrupt: the test cannot run"
            voice.interrupt()
            deadline = time.monotonic() + 10
            while not finished and time.monotonic() < deadline:
                time.sleep(0.01)
            done = finished[0]
            deadline = time.monotonic() + 5
            while not truncated and time.monotonic() < deadline:
                time.sleep(0.01)
            played = voice.speaker.played_samples
    assert done.response.status == "cancelled"
    assert done.response.status_details.reason == "client_cancelled"
    assert voice.stats.interrupts == 1
    item_id, audio_end_ms = voice.stats.truncations[0]
    assert truncated and truncated[0].item_id == item_id and truncated[0].audio_end_ms == audio_end_ms
    assert abs(audio_end_ms - played * 1000 / 24000) <= 20


def test_readme_voice_snippet(virtual_audio, tmp_path):
    import re

    readme = (ROOT / "README.md").read_text()
    code = next(s for s in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "VoiceSession" in s)
    assert "time.sleep(30)" in code
    virtual_audio.set_mic(np.concatenate([silence(0.3), speech(tmp_path, "good morning"), silence(5.0)]))
    res = run_py(["-c", code.replace("time.sleep(30)", "time.sleep(5)")])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "assistant: I heard" in res.stdout and "VoiceStats(" in res.stdout
