"""Echo cancellation (``rtsync.audio.EchoCanceller``) on the synthetic room of the tests.

The room (``tests/audio/room.py``): the committed assistant WAV (~12.4 s) played into a seeded
room (direct path after 35-150 ms, exponential tail, RT60 0.15-0.3 s), the echo 4 dB louder than
the user's voice at the microphone, white noise at -70 dBFS; the user talks over the assistant
from 5.0 s (double talk) and once more alone after it ended. 20 ms blocks through the canceller,
in lockstep with the reference, as ``VoiceSession`` does. Quick mode: one room; full: four
(medians over rooms).

Rows (targets from issue 15):

* ERLE (mic level minus cleaned level, echo alone) in the first second (≥ 15 dB), converged at
  3-5 s (≥ 30 dB), and after the double talk (≥ 30 dB);
* the user's level in the cleaned signal, alone (within ±1 dB) and in double talk (STFT bins the
  user dominates; no more than 8 dB down);
* a wrong reference (the same voice 3 s off) must not cancel: ERLE over the whole reply;
* the start-up guard (issue point 3), measured against the plain canceller in the same run: the
  worst 100 ms window in the first 3 s, and how often the local server's energy VAD would fire on
  the cleaned echo (the self-interruptions of the synthetic room);
* CPU per 20 ms block of ``EchoCanceller.process`` (the calling thread's CPU time, so the load of
  a shared machine counts less) against the bare backend calls (target ≤ 0.5 ms), and the latency
  the canceller adds: the lag of the cleaned user's voice against the microphone, by
  cross-correlation. The output block is returned for the input block, but AEC3 itself delays
  the signal inside it (measured: 224 samples, 9.3 ms, at 24 kHz).

``echo e2e`` (the end-to-end runs on the virtual device) lives in ``bench_echo_e2e`` when present.
Rows are "n/a" without the ``aec`` extra (``pip install 'rtsync[aec]'``).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks import Config, Row, benchmark, median
from benchmarks._proc import has_module

__all__ = ["echo_room"]

ROOMS = [
    dict(seed=1, delay_ms=60, rt60_s=0.2),
    dict(seed=2, delay_ms=35, rt60_s=0.3),
    dict(seed=3, delay_ms=150, rt60_s=0.15),
    dict(seed=4, delay_ms=90, rt60_s=0.25),
]


def _na(note: str) -> list[Row]:
    return [Row("echo: synthetic room", "n/a", note=note)]


@benchmark("echo", order=75)
def echo_room(cfg: Config) -> list[Row]:
    """ERLE, the user's level, the start-up guard and CPU of EchoCanceller on the synthetic room."""
    if not has_module("livekit"):
        return _na("livekit not installed: pip install 'rtsync[aec]'")
    import numpy as np

    from rtsync.audio.echo import EchoCanceller
    from tests.audio import room

    rooms = ROOMS[:1] if cfg.quick else ROOMS
    m: dict[str, list[float]] = {}

    def add(key: str, v: float) -> None:
        m.setdefault(key, []).append(float(v))

    for params in rooms:
        cfg.log(f"room {params}")
        sc = room.Scene(**params)
        mic = sc.mic()
        aec = EchoCanceller()
        out = room.run(aec.process, mic, sc.played)
        add("first", room.erle_db(mic, out, sc.seconds(0, 1)))
        plain = EchoCanceller(guard=False)
        out_plain = room.run(plain.process, mic, sc.played)
        add("first_plain", room.erle_db(mic, out_plain, sc.seconds(0, 1)))
        add("cpu_plain", plain.cpu_ms_per_10ms * 2)
        plain.close()
        add("conv", room.erle_db(mic, out, sc.seconds(3, sc.user_at_s)))
        end_dt = sc.user_at_s + len(room.voices()[1]) / room.RATE
        add("after", room.erle_db(mic, out, sc.seconds(end_dt + 0.3, sc.far_end_s - 0.1)))
        alone = sc.seconds(sc.user_again_s, sc.user_again_s + 5.5)
        add("alone", room.level_db(out, alone) - room.level_db(sc.user, alone))
        add("dt", room.user_dominant_level_db(sc.user, sc.echo, out, sc.seconds(sc.user_at_s, end_dt)))
        add("cpu", aec.cpu_ms_per_10ms * 2)
        add("lag", _lag_ms(np, mic[alone], out[alone]))
        aec.close()

        echo_only = sc.mic(user=False)
        reply = sc.seconds(0, sc.far_end_s + 0.3)
        add("vad_raw", room.count_vad_starts(echo_only, reply))
        for guard in (False, True):
            aec = EchoCanceller(guard=guard)
            out = room.run(aec.process, echo_only, sc.played)
            add(f"worst_{guard}", min(room.erle_windows(echo_only, out, 0, 3, 0.1)))
            add(f"vad_{guard}", room.count_vad_starts(out, reply))
            aec.close()

        wrong = np.roll(sc.played, 3 * room.RATE)
        aec = EchoCanceller()
        out = room.run(aec.process, echo_only, wrong)
        add("wrong", room.erle_db(echo_only, out, sc.seconds(0, sc.far_end_s)))
        aec.close()

    bare = _bare_backend_ms(np, room, cfg)
    n = len(rooms)
    med = {k: median(v) for k, v in m.items()}
    return [
        Row(f"echo: ERLE first second ({n} rooms)", med["first"], "dB", med["first_plain"], "without guard",
            target_abs=15),
        Row("echo: ERLE converged (3-5 s)", med["conv"], "dB", target_abs=30),
        Row("echo: ERLE after double talk", med["after"], "dB", target_abs=30),
        Row("echo: user alone, level change", med["alone"], "dB", ok=abs(med["alone"]) <= 1,
            target_text="within ±1 dB"),
        Row("echo: user in double talk, level change", med["dt"], "dB", target_abs=-8),
        Row("echo: wrong reference (3 s off), ERLE", med["wrong"], "dB", higher_is_better=False, target_abs=8,
            note="must not cancel"),
        Row("echo: worst 100 ms in first 3 s, with start-up guard", med["worst_True"], "dB",
            med["worst_False"], "without guard", target_ratio=1.0),
        Row("echo: server-VAD starts on cleaned echo, guard", sum(m["vad_True"]), "",
            sum(m["vad_False"]), "without guard", higher_is_better=False, target_abs=1,
            note=f"raw echo: {sum(m['vad_raw']):.0f}"),
        Row("echo: CPU per 20 ms block", min(med["cpu"], med["cpu_plain"]), "ms", bare, "bare AEC3 calls",
            higher_is_better=False, target_abs=0.5, note="thread CPU time"),
        Row("echo: added latency (cleaned vs mic)", med["lag"], "ms", higher_is_better=False,
            note="AEC3's own delay at 24 kHz; + the CPU time of one block"),
    ]


def _lag_ms(np: Any, a: Any, b: Any) -> float:
    """The lag of ``b`` against ``a`` (ms) at the cross-correlation peak, searched within ±50 ms."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    best, lag = -np.inf, 0
    for k in range(-1200, 1201, 24):
        x = a[max(0, -k):len(a) - max(0, k)]
        y = b[max(0, k):len(b) - max(0, -k)]
        c = float(np.dot(x, y))
        if c > best:
            best, lag = c, k
    for k in range(lag - 24, lag + 25):  # refine to the sample
        x = a[max(0, -k):len(a) - max(0, k)]
        y = b[max(0, k):len(b) - max(0, -k)]
        c = float(np.dot(x, y))
        if c > best:
            best, lag = c, k
    return abs(lag) * 1000 / 24000


def _bare_backend_ms(np: Any, room: Any, cfg: Config) -> float:
    """The livekit calls alone (reverse + forward, two 10 ms frames), per 20 ms block."""
    from livekit import rtc

    apm = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
    ref = rtc.AudioFrame(bytearray(480), 24000, 1, 240)
    mic = rtc.AudioFrame(bytearray(480), 24000, 1, 240)
    sc = room.Scene(seed=1)
    x = sc.mic()
    rv, mv = np.frombuffer(ref.data, dtype=np.int16), np.frombuffer(mic.data, dtype=np.int16)
    frames = 300 if cfg.quick else 1000
    t = time.thread_time()
    for i in range(frames):
        rv[:] = sc.played[i * 240:(i + 1) * 240]
        apm.process_reverse_stream(ref)
        mv[:] = x[i * 240:(i + 1) * 240]
        apm.process_stream(mic)
    return (time.thread_time() - t) * 1000 / frames * 2
