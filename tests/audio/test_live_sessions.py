"""Live captions and live translation on real PortAudio streams (the virtual device), local server.

The microphone file holds tones and silences; the server's VAD finds them. Half-duplex muting is
judged by what the server translated: a tone that lands while the translation plays is not heard.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from rtsync import Transcriber, Translator
from rtsync.audio.devices import Microphone, Speaker
from rtsync.audio.formats import read_wav
from rtsync.server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
RATE = 24000


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(RATE * seconds), np.int16)


def find(haystack: np.ndarray, needle: np.ndarray) -> int:
    first = needle[: min(len(needle), 64)]
    for i in np.flatnonzero(haystack[: len(haystack) - len(first) + 1] == first[0]):
        if np.array_equal(haystack[i: i + len(first)], first):
            return int(i)
    return -1


def test_microphone_captions_arrive_per_turn(virtual_audio):
    virtual_audio.set_mic(np.concatenate([silence(0.3), tone(0.7), silence(1.0), tone(1.4), silence(2.0)]))
    captions: list[str] = []
    two = threading.Event()

    def on_done(ev):
        captions.append(ev.transcript)
        if len(captions) == 2:
            two.set()

    with LocalServer() as server, Transcriber(url=server.url) as tr:
        tr.on("conversation.item.input_audio_transcription.completed", on_done)
        tr.start_microphone()
        assert two.wait(15), f"captions so far: {captions}"
        tr.stop_microphone()
    lengths = [float(re.fullmatch(r"\[speech (\d+\.\d) s\]", c).group(1)) for c in captions]
    assert lengths[0] < lengths[1]


def _live(virtual_audio, echo_guard):
    # One tone; its translation plays from about 1.6 s on. A second tone starts while it plays.
    virtual_audio.set_mic(np.concatenate([silence(0.2), tone(1.0), silence(0.9), tone(0.6), silence(4.0)]))
    mic = Microphone(rate=RATE, block_ms=20)  # before the speaker: a device probe resets speaker.raw
    speaker = Speaker(rate=RATE, block_ms=20, buffer_ms=120_000)
    audio: list[np.ndarray] = []
    text: list[str] = []
    with LocalServer() as server, Translator(url=server.url + "/translations", language="es") as tr:
        tr.on("session.output_audio.delta", lambda ev: audio.append(ev.samples))
        tr.on("session.output_transcript.delta", lambda ev: text.append(ev.delta))
        tr.start_live(mic, speaker, echo_guard=echo_guard)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            time.sleep(0.1)
        speaker.wait_until_drained(10)
        tr.stop_live()
    speaker.close()
    mic.close()
    return "".join(text), np.concatenate(audio), virtual_audio.speaker_samples()


def test_live_translation_plays_on_the_speaker_and_mutes_the_microphone_meanwhile(virtual_audio):
    text, audio, played = _live(virtual_audio, "half_duplex")
    assert re.fullmatch(r"\[es\] \[speech \d\.\d s\]", text), text  # the second tone was not heard
    voiced = audio[np.flatnonzero(audio)[0]:]  # from its first non-zero sample (speech starts quiet)
    at = find(played, voiced)
    assert at >= 0 and np.array_equal(played[at:at + len(voiced)], voiced)  # played exactly as sent


def test_without_the_echo_guard_the_tone_during_playback_is_translated_too(virtual_audio):
    text, _, _ = _live(virtual_audio, None)
    assert re.fullmatch(r"(\[es\] \[speech \d\.\d s\]){2}", text), text


def _cli(virtual_audio, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ALSA_CONFIG_PATH=str(virtual_audio.config_path), PYTHONPATH=str(ROOT))
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "rtsync", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)


def test_cli_transcribe_mic_prints_captions(virtual_audio):
    virtual_audio.set_mic(np.concatenate([silence(0.3), tone(0.9), silence(3.0)]))
    out = _cli(virtual_audio, "transcribe", "--mic", "--seconds", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "transcribing with the local server" in lines[0]
    assert any(re.fullmatch(r"\[speech \d\.\d s\]", line) for line in lines[1:]), out.stdout


def test_cli_translate_mic_prints_both_transcripts_and_saves_the_speech(virtual_audio, tmp_path):
    virtual_audio.set_mic(np.concatenate([silence(0.3), tone(0.9), silence(4.0)]))
    dst = tmp_path / "out.wav"
    out = _cli(virtual_audio, "translate", "--to", "fr", "--mic", "--seconds", "4", "--out", str(dst))
    assert out.returncode == 0, out.stderr
    assert re.search(r"source: \[speech \d\.\d s\]\n\[fr\] \[speech \d\.\d s\]", out.stdout), out.stdout
    samples, rate = read_wav(dst)
    assert rate == RATE and np.count_nonzero(samples) > RATE // 4
