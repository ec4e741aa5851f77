"""Microphone, Speaker and list_devices on real PortAudio callback streams (virtual device).

See ``conftest.py`` for the device: the microphone reads ``mic.raw`` at real-time pace and
the speaker records into ``speaker.raw``, so content can be compared sample for sample.
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np
import pytest

from rtsync.audio.devices import Microphone, Speaker, list_devices
from rtsync.errors import AudioError
from tests.audio.conftest import VirtualAudio

RATE = 24000
BLOCK = 480  # 20 ms at 24 kHz


def counter_pattern(n: int, step: int = 7919) -> np.ndarray:
    """A deterministic, never-repeating-in-a-second int16 sequence with no zeros at the start."""
    return ((np.arange(1, n + 1, dtype=np.int64) * step) % 65536 - 32768).astype(np.int16)


def tone(n: int, freq: float = 440.0, amp: float = 10000.0, rate: int = RATE) -> np.ndarray:
    # A cosine, so that the first sample is not zero and the start can be located by search.
    return np.round(amp * np.cos(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def locate(haystack: np.ndarray, needle: np.ndarray) -> int:
    """Index of the first occurrence of ``needle``'s first 64 samples in ``haystack``."""
    head = needle[:64]
    for i in np.flatnonzero(haystack == head[0]):
        if i + len(head) <= len(haystack) and np.array_equal(haystack[i : i + len(head)], head):
            return int(i)
    raise AssertionError("signal not found in the speaker file")


def collect(mic: Microphone, n: int, timeout: float = 5.0) -> np.ndarray:
    parts: list[np.ndarray] = []
    got = 0
    deadline = time.monotonic() + timeout
    while got < n and time.monotonic() < deadline:
        block = mic.read_block(timeout=0.5)
        parts.append(block)
        got += len(block)
    return np.concatenate(parts)[:n]


# --------------------------------------------------------------------------- discovery


def test_list_devices_shows_the_default_device(virtual_audio: VirtualAudio) -> None:
    devices = list_devices()
    defaults_in = [d for d in devices if d.is_default_input]
    defaults_out = [d for d in devices if d.is_default_output]
    assert len(defaults_in) == 1 and len(defaults_out) == 1
    d = defaults_in[0]
    assert d.name == "default" and d.host_api == "ALSA"
    assert d.max_input_channels >= 1 and d.max_output_channels >= 1
    assert d.default_sample_rate > 0


def test_unknown_device_names_device_and_rate(virtual_audio: VirtualAudio) -> None:
    with pytest.raises(AudioError, match=r"no input device named 'no-such-device'.*24000 Hz"):
        Microphone(device="no-such-device")
    with pytest.raises(AudioError, match=r"index 99.*16000 Hz"):
        Speaker(rate=16000, device=99)


def test_missing_pyaudio_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # makes "import pyaudio" fail
    with pytest.raises(AudioError) as info:
        list_devices()
    text = str(info.value)
    assert "pip install 'rtsync[audio]'" in text
    assert "apt-get install libportaudio2" in text
    assert "portaudio19-dev python3-dev gcc" in text


# --------------------------------------------------------------------------- microphone


def test_microphone_delivers_the_input_bit_exact(virtual_audio: VirtualAudio) -> None:
    signal = counter_pattern(RATE)  # 1 s
    virtual_audio.set_mic(signal)
    with Microphone(rate=RATE, block_ms=20) as mic:
        assert mic.device_rate == RATE and mic.block_size == BLOCK
        got = collect(mic, RATE // 2)
        assert mic.blocks >= 20
        assert mic.overruns == 0 and mic.overrun_samples == 0 and mic.callback_errors == 0
        assert -20.0 < mic.level < 0.0  # a full-range sawtooth-like signal: about -4.8 dBFS
        more = mic.read(10**6)  # non-blocking: whatever is there, never more
        assert len(more) <= RATE
    assert mic.closed and not mic.active
    mic.close()  # idempotent
    assert len(got) == RATE // 2
    assert np.array_equal(got, signal[: len(got)])
    assert np.array_equal(more, signal[len(got) : len(got) + len(more)])


def test_microphone_resamples_when_the_device_runs_at_another_rate(virtual_audio: VirtualAudio) -> None:
    dev_rate = 48000
    t48 = np.arange(dev_rate) / dev_rate
    t24 = np.arange(RATE) / RATE

    def signal(t: np.ndarray) -> np.ndarray:
        return 8000 * np.sin(2 * np.pi * 440 * t) + 4000 * np.sin(2 * np.pi * 3000 * t + 0.3)

    virtual_audio.set_mic(np.round(signal(t48)).astype(np.int16))
    with Microphone(rate=RATE, device_rate=dev_rate) as mic:
        assert mic.rate == RATE and mic.device_rate == dev_rate
        got = collect(mic, RATE // 2).astype(np.float64)
        assert mic.overruns == 0
    assert len(got) == RATE // 2
    ref = signal(t24)[: len(got)]
    skip = 200  # the converter's start-up transient (the input starts abruptly)
    lags = range(-8, 9)
    errors = [np.mean((got[skip:-skip] - np.roll(ref, lag)[skip:-skip]) ** 2) for lag in lags]
    best = int(np.argmin(errors))
    assert lags[best] == 0  # the converter compensates its delay
    snr = 10 * np.log10(np.mean(ref[skip:-skip] ** 2) / errors[best])
    assert snr > 40.0, snr


def test_microphone_falls_back_to_the_device_default_rate(
    virtual_audio: VirtualAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The virtual device accepts every rate, so make PortAudio's answer for 24 kHz a refusal.
    real = Microphone._supports
    monkeypatch.setattr(Microphone, "_supports", lambda self, pa, rate: rate != RATE and real(self, pa, rate))
    with Microphone(rate=RATE) as mic:
        assert mic.device_rate == round(mic.device.default_sample_rate) != RATE
        block = mic.read_block(timeout=2.0)
        assert len(block) == BLOCK and block.dtype == np.int16


# --------------------------------------------------------------------------- speaker


def test_speaker_plays_exactly_what_was_written(virtual_audio: VirtualAudio) -> None:
    signal = counter_pattern(RATE // 2, step=4099)
    with Speaker(rate=RATE) as spk:
        assert spk.device_rate == RATE
        assert spk.write(signal) == len(signal)
        assert spk.wait_until_drained(timeout=5.0)
        assert spk.played_samples == len(signal)
        assert spk.queued_samples == 0
        assert spk.underruns == 0 and spk.overruns == 0 and spk.callback_errors == 0
    out = virtual_audio.speaker_samples()
    start = locate(out, signal)
    assert np.all(out[:start] == 0)  # prebuffer silence and PortAudio's priming only
    assert np.array_equal(out[start : start + len(signal)], signal)
    assert np.all(out[start + len(signal) :] == 0)


def test_speaker_counts_an_underrun_and_pads_with_zeros(virtual_audio: VirtualAudio) -> None:
    signal = tone(RATE // 10)  # 100 ms, more than the 60 ms prebuffer
    with Speaker(rate=RATE) as spk:
        spk.write(signal)
        time.sleep(0.5)
        assert spk.underruns == 1  # one block ran dry; then it waits for the prebuffer again
        assert spk.underrun_samples == BLOCK
        assert spk.played_samples == len(signal)
        assert not spk.playing
    out = virtual_audio.speaker_samples()
    start = locate(out, signal)
    assert np.array_equal(out[start : start + len(signal)], signal)
    rest = out[start + len(signal) :]
    assert len(rest) >= RATE // 5 and np.all(rest == 0)


def test_speaker_waits_for_the_prebuffer_unless_the_stream_ended(virtual_audio: VirtualAudio) -> None:
    signal = tone(RATE * 30 // 1000)  # 30 ms, below the 60 ms prebuffer
    with Speaker(rate=RATE, prebuffer_ms=60) as spk:
        spk.write(signal)
        time.sleep(0.2)
        assert spk.played_samples == 0 and spk.queued_samples == len(signal)
        spk.end_of_stream()
        assert spk.wait_until_drained(timeout=2.0)
        assert spk.played_samples == len(signal)
        assert spk.underruns == 0  # running dry at the end-of-stream mark is the normal end
    out = virtual_audio.speaker_samples()
    start = locate(out, signal)
    assert np.array_equal(out[start : start + len(signal)], signal)


def test_speaker_interrupt_fades_out_within_one_block(virtual_audio: VirtualAudio) -> None:
    fade_ms = 5
    fade = RATE * fade_ms // 1000
    long_tone = tone(2 * RATE)  # 2 s
    after = counter_pattern(RATE // 5, step=31337)  # played after the interrupt
    with Speaker(rate=RATE) as spk:
        spk.write(long_tone)
        time.sleep(0.3)
        at_interrupt = spk.played_samples
        spk.interrupt(fade_ms=fade_ms)
        assert spk.queued_samples <= 2 * BLOCK  # only what the callback still holds, at most
        time.sleep(0.1)
        played_tone = spk.played_samples
        assert spk.queued_samples == 0
        assert 0 < played_tone - at_interrupt <= BLOCK + fade
        assert spk.underruns == 0
        # Audio written after interrupt() returns plays normally.
        spk.write(after)
        assert spk.wait_until_drained(timeout=3.0)
        assert spk.played_samples == played_tone + len(after)
    out = virtual_audio.speaker_samples()
    start = locate(out, long_tone)
    seg = out[start:]
    k = int(np.flatnonzero(seg[: len(long_tone)] != long_tone[: len(seg)])[0])  # where the fade begins
    assert np.array_equal(seg[:k], long_tone[:k])
    # The fade: a linear ramp to zero over `fade` samples (computed as the callback does).
    ramp = np.float32(1.0) - np.arange(1, fade + 1, dtype=np.float32) * np.float32(1.0 / fade)
    expected = (long_tone[k : k + fade].astype(np.float32) * ramp).astype(np.int16)
    assert np.all(np.abs(seg[k : k + fade].astype(np.int32) - expected) <= 1)
    assert seg[k + fade - 1] == 0
    # Then silence until the new audio, which is exact; nothing of the old tone comes back.
    new_start = locate(seg, after)
    assert new_start > k + fade and np.all(seg[k + fade : new_start] == 0)
    assert np.array_equal(seg[new_start : new_start + len(after)], after)
    assert np.all(seg[new_start + len(after) :] == 0)
    # played_samples agrees with the file: the tone and its fade, within one block.
    tone_in_file = int(np.count_nonzero(seg[:new_start]))
    assert abs(tone_in_file - played_tone) <= BLOCK
    assert k + fade == played_tone
    assert tone_in_file - at_interrupt <= BLOCK + fade


def test_speaker_converts_to_the_device_rate(virtual_audio: VirtualAudio) -> None:
    dev_rate = 48000
    signal = tone(RATE * 3 // 10, freq=1000.0)  # 300 ms
    with Speaker(rate=RATE, device_rate=dev_rate) as spk:
        assert spk.device_rate == dev_rate
        assert spk.write(signal) == len(signal)
        assert spk.wait_until_drained(timeout=3.0)
        assert spk.played_frames_device == 2 * len(signal)  # the converter's tail included
        assert spk.played_samples == len(signal)
        assert spk.underruns == 0
    out = virtual_audio.speaker_samples().astype(np.float64)
    start = int(np.flatnonzero(out)[0])
    got = out[start : start + 2 * len(signal)]
    ref = 10000.0 * np.cos(2 * np.pi * 1000.0 * np.arange(len(got)) / dev_rate)
    skip = 200  # the converter's start-up and end transients (the tone starts and stops abruptly)
    lags = range(-8, 9)
    errors = [np.mean((got[skip:-skip] - np.roll(ref, lag)[skip:-skip]) ** 2) for lag in lags]
    best = int(np.argmin(errors))
    snr = 10 * np.log10(np.mean(ref[skip:-skip] ** 2) / errors[best])
    assert snr > 40.0, (lags[best], snr)


# --------------------------------------------------------------------------- real-time rules


def test_callbacks_do_not_allocate_in_the_steady_state(virtual_audio: VirtualAudio) -> None:
    virtual_audio.set_mic(counter_pattern(2 * RATE))
    files = [
        tracemalloc.Filter(True, "*/rtsync/audio/microphone.py"),
        tracemalloc.Filter(True, "*/rtsync/audio/speaker.py"),
        tracemalloc.Filter(True, "*/rtsync/audio/playout.py"),
        tracemalloc.Filter(True, "*/rtsync/audio/ringbuffer.py"),
    ]
    tracemalloc.start()
    try:
        mic = Microphone(rate=RATE, buffer_ms=5000)
        spk = Speaker(rate=RATE)
        try:
            spk.write(tone(3 * RATE))
            mic.start()
            spk.start()
            time.sleep(0.3)  # warm-up: first callbacks, numpy's small caches
            blocks0, played0 = mic.blocks, spk.played_samples
            before = tracemalloc.take_snapshot().filter_traces(files)
            time.sleep(0.8)
            after = tracemalloc.take_snapshot().filter_traces(files)
            blocks1, played1 = mic.blocks, spk.played_samples
        finally:
            mic.close()
            spk.close()
    finally:
        tracemalloc.stop()
    assert blocks1 - blocks0 >= 30 and played1 - played0 >= 30 * BLOCK  # the callbacks ran
    assert mic.callback_errors == 0 and spk.callback_errors == 0
    grown = [s for s in after.compare_to(before, "lineno") if s.count_diff > 0]
    # One object kept per callback would show as 40+ blocks on one line. Allow what is not
    # growth: a counter that became a larger int, or a temporary view that happened to be
    # alive (the callback thread paused mid-block) at the moment of a snapshot.
    assert all(s.count_diff <= 2 for s in grown), [str(s) for s in grown]
    assert sum(s.count_diff for s in grown) <= 4, [str(s) for s in grown]
