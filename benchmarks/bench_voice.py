"""Audio on real PortAudio streams: callback cost, underruns under a flood, barge-in latency.

All three run on the virtual sound device of the audio tests (``tests/audio/vaudio.sh``: a
PulseAudio clock behind the ALSA ``file`` plugin), so the callbacks run on PortAudio's real
threads at real-time pace. Each run uses its own copy of the ALSA configuration with its own
``mic.raw``/``speaker.raw`` in a temporary directory (``ALSA_CONFIG_PATH`` is switched to it while
the devices are opened). When PyAudio, PulseAudio or the device is missing, the rows say
"n/a (no audio device)" instead of failing.

Callback cost (``audio callbacks``)
    A ``Microphone`` and a ``Speaker`` (20 ms blocks at 24 kHz) run together for 3 s per run (1 s in
    quick mode) while the main thread consumes the microphone and the speaker plays a queued tone.
    Their bound ``_callback`` is replaced, on the instance and before the stream is opened, by a
    shim that times each call with ``time.perf_counter_ns`` into a preallocated numpy array (the
    shim's own overhead is outside the timed span). Baseline: the same shim around a do-nothing
    callback (returns a preallocated block / ``None``) on bare PyAudio streams of the same
    format, measured in the same run. Target: p99 < 50 µs. The allocation row runs the streams
    once more under ``tracemalloc`` and counts the blocks still allocated after the steady-state
    window whose traceback passes through the callbacks' lines in ``rtsync/audio/`` (retained
    blocks; a short-lived object freed within the call is not counted).

Underruns under flood (``audio flood``)
    A ``Speaker`` fed by the client's dispatcher (``speaker.write(ev.samples)`` per
    ``response.audio.delta``, ``end_of_stream()`` on ``response.audio.done``) plays a ~5 s reply
    (~2 s in quick mode, the server's ``tone`` voice) that ``LocalServer(audio_pace=0.1)`` delivers
    at 10× real time, while the same connection receives a stream of out-of-band text responses
    (``conversation: "none"``, thousands of ``response.text.delta`` each, ``text_delay=0``) and
    the main thread spins in a pure-Python loop until the speaker has drained. Baseline: the same
    reply with no flood and an idle main thread. Targets: 0 underruns, 0 overruns.

Barge-in (``barge-in``)
    The scenario of ``tests/audio/test_voice.py``: espeak-ng speech in ``mic.raw``, the local
    server's VAD answers, and a second utterance lands in the middle of the spoken reply. Two
    measures per run: ``VoiceSession.stats.last_barge_in_ms`` (from the dispatcher's
    ``speech_started`` handler to the speaker callback having faded out), and
    ``Speaker.played_samples`` read by a handler that runs before the voice session's own one
    versus by a handler that runs after it: samples of the interrupted item handed to the device
    after ``speech_started`` reached the dispatcher, in 20 ms blocks. 3 runs (1 in quick mode),
    median and max. Target: ≤ 1 block.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import Config, Row, benchmark, median
from benchmarks._proc import ROOT, has_module
from tests.audio.vaudio import VAUDIO_DIR, DeviceFiles, ensure_daemon

__all__ = ["audio_callbacks", "audio_flood", "barge_in"]

# Before any PyAudio() exists in this process (every new PyAudio() reads it again).
os.environ.setdefault("ALSA_CONFIG_PATH", str(VAUDIO_DIR / "asound.conf"))

RATE = 24000
BLOCK = 480  # 20 ms at 24 kHz
NA = "n/a (no audio device)"
P99_TARGET_US = 50.0

_availability: list[str | None] = []


# --------------------------------------------------------------------------- the virtual device


class _Device(DeviceFiles):
    """One run's view of the virtual device, in a temporary directory, as ``ALSA_CONFIG_PATH``."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="rtsync-bench-audio-")
        super().__init__(Path(self._tmp.name), VAUDIO_DIR)
        self._saved: str | None = None

    def __enter__(self) -> _Device:
        self._saved = os.environ.get("ALSA_CONFIG_PATH")
        os.environ["ALSA_CONFIG_PATH"] = str(self.config_path)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is None:
            os.environ.pop("ALSA_CONFIG_PATH", None)
        else:
            os.environ["ALSA_CONFIG_PATH"] = self._saved
        self._tmp.cleanup()


def _check_audio(cfg: Config) -> str | None:
    """None when the virtual device works; else why not (starting the daemon once if needed)."""
    if _availability:
        return _availability[0]
    reason = _probe(cfg)
    if reason:
        cfg.log(f"audio unavailable: {reason}")
    _availability.append(reason)
    return reason


def _probe(cfg: Config) -> str | None:
    if not has_module("pyaudio"):
        return "PyAudio is not installed"
    if not has_module("rtsync.audio.devices"):
        return "rtsync.audio.devices is missing"
    reason = ensure_daemon()
    if reason:
        return reason
    try:
        from rtsync.audio.devices import Speaker

        with _Device():
            sp = Speaker(rate=RATE, block_ms=20)
            sp.close()
    except Exception as exc:
        return f"cannot open a Speaker: {type(exc).__name__}: {exc}".splitlines()[0][:120]
    return None


def _na(names: list[str], reason: str) -> list[Row]:
    return [Row(n, NA, note=reason[:100]) for n in names]


# --------------------------------------------------------------------------- timing shim


class _Timer:
    """Times calls of a PortAudio callback into a preallocated int64 array (ns)."""

    def __init__(self, capacity: int) -> None:
        import numpy as np

        self.ns = np.zeros(capacity, dtype=np.int64)
        self.n = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        ns = self.ns
        cap = len(ns)
        clock = time.perf_counter_ns

        def shim(in_data: Any, frame_count: int, time_info: Any, status: int) -> Any:
            t0 = clock()
            result = fn(in_data, frame_count, time_info, status)
            dt = clock() - t0
            i = self.n
            if i < cap:
                ns[i] = dt
                self.n = i + 1
            return result

        return shim

    def micros(self, skip: int = 3) -> Any:
        """The timed calls in µs, without the first ``skip`` (stream start-up)."""
        return self.ns[skip : self.n] / 1000.0


def _open_timed(cls: type, timer: _Timer, **kwargs: Any) -> Any:
    """A Microphone/Speaker whose stream calls ``timer``'s shim around the real bound callback.

    ``_open`` passes ``self._callback`` to PortAudio, so an instance attribute set before
    ``__init__`` runs is what the stream calls; rtsync.audio itself is untouched.
    """
    obj = cls.__new__(cls)
    obj._callback = timer.wrap(cls._callback.__get__(obj, cls))
    cls.__init__(obj, **kwargs)
    return obj


def _tone(seconds: float, level: float = 0.25) -> Any:
    import numpy as np

    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 440.0 * t) * 32767 * level).astype(np.int16)


def _pct(values: Any, q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else float("nan")


# --------------------------------------------------------------------------- 1. callback cost


def _run_rtsync_pair(seconds: float, cap: int, tap: bool = False) -> tuple[Any, Any]:
    """Microphone + Speaker for ``seconds``; with ``tap``, the speaker copies every block it hands
    to PortAudio into a ring (the echo canceller's reference, as ``VoiceSession`` with
    ``echo_guard="aec"`` sets it up), which the main thread drains block by block."""
    import numpy as np

    from rtsync.audio import RingBuffer
    from rtsync.audio.devices import Microphone, Speaker

    t_mic, t_spk = _Timer(cap), _Timer(cap)
    with _Device():
        mic = _open_timed(Microphone, t_mic, rate=RATE, block_ms=20)  # first: a probe resets speaker.raw
        spk = _open_timed(Speaker, t_spk, rate=RATE, block_ms=20, buffer_ms=(seconds + 3) * 1000)
    ring = RingBuffer(1 << 16) if tap else None
    ref = np.zeros(BLOCK, dtype=np.int16)
    try:
        if ring is not None:
            spk.tap(ring)
        spk.write(_tone(seconds + 1.0))
        spk.start()
        mic.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if len(mic.read_block(timeout=0.1)) and ring is not None:
                ring.readinto(ref)
        if spk.callback_errors or mic.callback_errors:
            raise RuntimeError(f"callback errors: speaker {spk.last_callback_error!r}, mic {mic.last_callback_error!r}")
    finally:
        spk.close()
        mic.close()
    return t_spk, t_mic


def _run_bare_pair(seconds: float, cap: int) -> tuple[Any, Any]:
    import numpy as np
    import pyaudio

    t_mic, t_spk = _Timer(cap), _Timer(cap)
    out_result = (np.zeros(BLOCK, dtype=np.int16), pyaudio.paContinue)
    in_result = (None, pyaudio.paContinue)

    def bare_out(in_data: Any, frame_count: int, time_info: Any, status: int) -> Any:
        return out_result

    def bare_in(in_data: Any, frame_count: int, time_info: Any, status: int) -> Any:
        return in_result

    with _Device():
        pa = pyaudio.PyAudio()
    streams = []
    try:
        for timer, fn, is_out in ((t_mic, bare_in, False), (t_spk, bare_out, True)):
            streams.append(pa.open(rate=RATE, channels=1, format=pyaudio.paInt16, input=not is_out, output=is_out,
                                   frames_per_buffer=BLOCK, start=False, stream_callback=timer.wrap(fn)))
        for s in streams:
            s.start_stream()
        time.sleep(seconds)
    finally:
        for s in streams:
            with contextlib.suppress(Exception):
                s.stop_stream()
                s.close()
        pa.terminate()
    return t_spk, t_mic


def _callback_lines() -> list[tuple[str, int, int]]:
    """(file, first line, last line) of the code that runs inside the rtsync callbacks."""
    from rtsync.audio import devices, playout, ringbuffer

    spans = []
    for fn in (devices.Speaker._callback, playout.Playout.fill, playout.Playout._fade_out,
               devices.Microphone._callback):
        lines, first = inspect.getsourcelines(fn)
        spans.append((os.path.realpath(inspect.getsourcefile(fn) or ""), first, first + len(lines)))
    spans.append((os.path.realpath(ringbuffer.__file__), 1, 10**9))
    return spans


def _retained_blocks(seconds: float) -> tuple[int, int, int]:
    """(blocks retained by the callbacks, all blocks retained in rtsync/audio, callbacks run).

    The speaker has the echo tap attached (the heavier of its two paths), drained by the main
    thread as the voice sender does."""
    import tracemalloc

    import numpy as np

    from rtsync.audio import RingBuffer, devices
    from rtsync.audio.devices import Microphone, Speaker

    audio_dir = os.path.dirname(os.path.realpath(devices.__file__))
    spans = _callback_lines()
    cb_lines = [s for s in spans if not s[0].endswith("ringbuffer.py")]
    with _Device():
        mic = Microphone(rate=RATE, block_ms=20)
        spk = Speaker(rate=RATE, block_ms=20, buffer_ms=(seconds + 4) * 1000)
    ring = RingBuffer(1 << 16)
    ref = np.zeros(BLOCK, dtype=np.int16)
    spk.tap(ring)
    tracemalloc.start(8)
    try:
        spk.write(_tone(seconds + 2.0))
        spk.start()
        mic.start()

        def consume(until: float) -> None:
            while time.monotonic() < until:
                if len(mic.read_block(timeout=0.1)):
                    ring.readinto(ref)

        consume(time.monotonic() + 0.5)  # steady state: both callbacks have run many times
        flt = [tracemalloc.Filter(True, os.path.join(audio_dir, "*"), all_frames=True)]
        snap1 = tracemalloc.take_snapshot().filter_traces(flt)
        c1 = mic.blocks + spk.played_frames_device // BLOCK
        consume(time.monotonic() + seconds)
        snap2 = tracemalloc.take_snapshot().filter_traces(flt)
        c2 = mic.blocks + spk.played_frames_device // BLOCK
    finally:
        # Streams first: PortAudio's callback threads are foreign to Python, and each callback's
        # PyGILState_Ensure allocates a thread state through tracemalloc's raw-domain hook. On
        # CPython 3.11, tracemalloc.stop() while such an allocation is in flight dereferences the
        # freed traceback buffer (a segfault seen once in three runs), so no callback may run then.
        spk.close()
        mic.close()
        tracemalloc.stop()

    def in_callback(tb: Any) -> bool:
        for fr in tb:
            path = os.path.realpath(fr.filename)
            if any(path == f and a <= fr.lineno < b for f, a, b in cb_lines):
                return True
        return False

    diffs = snap2.compare_to(snap1, "traceback")
    cb = sum(d.count_diff for d in diffs if d.count_diff > 0 and in_callback(d.traceback))
    total = sum(d.count_diff for d in diffs if d.count_diff > 0)
    return cb, total, c2 - c1


@benchmark("audio callbacks", order=41)
def audio_callbacks(cfg: Config) -> list[Row]:
    """PortAudio callback cost (p50/p99 µs per 20 ms block) and steady-state allocations."""
    names = ["PortAudio callback p50: Speaker (20 ms block)", "PortAudio callback p99: Speaker (20 ms block)",
             "PortAudio callback p50: Microphone (20 ms block)", "PortAudio callback p99: Microphone (20 ms block)",
             "PortAudio callback p99: Speaker with the echo tap (20 ms block)",
             "callback allocations: rtsync/audio blocks retained per 1000 callbacks"]
    reason = _check_audio(cfg)
    if reason:
        return _na(names, reason)
    import numpy as np

    seconds = 1.0 if cfg.quick else 3.0
    cap = int(seconds * 50) + 200
    spk, mic, bspk, bmic, tspk = [], [], [], [], []
    for _ in range(cfg.runs):
        s, m = _run_rtsync_pair(seconds, cap)
        spk.append(s.micros())
        mic.append(m.micros())
        s, _m = _run_rtsync_pair(seconds, cap, tap=True)
        tspk.append(s.micros())
        s, m = _run_bare_pair(seconds, cap)
        bspk.append(s.micros())
        bmic.append(m.micros())
    spk_a, mic_a, bspk_a, bmic_a, tspk_a = (np.concatenate(x) for x in (spk, mic, bspk, bmic, tspk))
    how = f"shim on the bound _callback, {len(spk_a)}/{len(mic_a)} calls"
    base = "do-nothing callback, bare PyAudio"
    rows = []
    for label, vals, bvals in (("Speaker", spk_a, bspk_a), ("Microphone", mic_a, bmic_a)):
        rows.append(Row(f"PortAudio callback p50: {label} (20 ms block)", _pct(vals, 50), "µs", _pct(bvals, 50),
                        base, higher_is_better=False, note=how))
        rows.append(Row(f"PortAudio callback p99: {label} (20 ms block)", _pct(vals, 99), "µs", _pct(bvals, 99),
                        base, higher_is_better=False, target_abs=P99_TARGET_US,
                        note=f"max {vals.max():.0f} µs" if len(vals) else ""))
    rows.append(Row("PortAudio callback p99: Speaker with the echo tap (20 ms block)", _pct(tspk_a, 99), "µs",
                    _pct(bspk_a, 99), base, higher_is_better=False, target_abs=P99_TARGET_US,
                    note=f"p50 {_pct(tspk_a, 50):.0f} µs, max {tspk_a.max():.0f} µs" if len(tspk_a) else ""))
    cb, total, calls = _retained_blocks(seconds)
    per_k = cb * 1000.0 / max(1, calls)
    rows.append(Row(names[-1], per_k, "blocks", higher_is_better=False, ok=cb == 0, target_text="0",
                    note=f"tracemalloc, {calls} callbacks (mic+speaker); {total} retained in all of rtsync/audio"))
    return rows


# --------------------------------------------------------------------------- 2. underruns under flood


def _busy(stop: Callable[[], bool]) -> int:
    """A pure-Python CPU loop on the calling thread until ``stop()``; returns the iterations."""
    n = 0
    while not stop():
        acc = 0
        for i in range(2000):
            acc += i * i % 7
        n += 1
    return n


@contextlib.contextmanager
def _server_process(**opts: Any) -> Iterator[str]:
    """A LocalServer in a child process (so the flood does not slow it down); yields its URL."""
    import sys

    code = f"from rtsync.server import serve; serve('127.0.0.1', 0, **{opts!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if " on ws://" not in line:
            raise RuntimeError(f"the local server did not start: {line.strip()!r}")
        yield line.split(" on ", 1)[1].split()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _flood_run(seconds: float, flood: bool, timeout: float = 60.0) -> dict[str, Any]:
    from rtsync import RealtimeClient
    from rtsync.audio.devices import Speaker

    words = max(1, round(seconds / 0.3) - 2)  # tone voice: 300 ms per word, plus "You said:"
    timer = _Timer(int((seconds + 10) * 50))
    audio_done = threading.Event()
    stop_flood = threading.Event()
    counts = {"text": 0, "audio": 0, "oob_done": 0}
    in_flight = [0]
    arrivals = [0.0, 0.0]  # first and last audio delta at the dispatcher
    flood_text = " ".join(["flood"] * 3000)
    flood_input = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": flood_text}]}]
    with _Device():
        spk = _open_timed(Speaker, timer, rate=RATE, block_ms=20, buffer_ms=(seconds + 10) * 1000)
    try:
        with _server_process(audio_pace=0.1, voice="tone", text_delay=0.0) as url, RealtimeClient(url=url) as client:
            def on_audio(ev: Any) -> None:
                if not counts["audio"]:
                    arrivals[0] = time.monotonic()
                counts["audio"] += 1
                arrivals[1] = time.monotonic()
                spk.write(ev.samples)

            def on_audio_done(ev: Any) -> None:
                spk.end_of_stream()
                audio_done.set()

            def on_text(ev: Any) -> None:
                counts["text"] += 1

            def on_done(ev: Any) -> None:
                if getattr(ev.response, "conversation_id", "") is None:  # an out-of-band flood response
                    counts["oob_done"] += 1
                    in_flight[0] -= 1

            client.on("response.audio.delta", on_audio)
            client.on("response.audio.done", on_audio_done)
            client.on("response.text.delta", on_text)
            spk.start()
            client.create_item("say " + " ".join(["word"] * words))
            if flood:
                client.on("response.done", on_done)

                def flooder() -> None:
                    while not stop_flood.is_set():
                        if in_flight[0] < 2:
                            in_flight[0] += 1
                            client.create_response(conversation="none", modalities=["text"], input=flood_input)
                        else:
                            time.sleep(0.002)

                th = threading.Thread(target=flooder, name="bench-flooder", daemon=True)
                th.start()
                time.sleep(0.05)  # the flood is under way before the audio starts
            t0 = time.monotonic()
            client.create_response(modalities=["audio", "text"])
            deadline = t0 + timeout

            def finished() -> bool:
                return (audio_done.is_set() and spk.queued_samples == 0) or time.monotonic() > deadline

            if flood:
                _busy(finished)
            else:
                while not finished():
                    time.sleep(0.01)
            elapsed = time.monotonic() - t0
            stop_flood.set()
            if flood:
                th.join(5)
            if not audio_done.is_set():
                raise RuntimeError(f"the audio reply did not finish within {timeout:.0f} s")
            time.sleep(spk.device_latency)
            res = {"underruns": spk.underruns, "overruns": spk.overruns, "underflows": spk.output_underflows,
                   "played_s": spk.played_samples / RATE, "text": counts["text"], "audio": counts["audio"],
                   "elapsed": elapsed, "cb": timer.micros(),
                   "first_audio": arrivals[0] - t0, "last_audio": arrivals[1] - t0}
    finally:
        spk.close()
    return res


@benchmark("audio flood", order=42)
def audio_flood(cfg: Config) -> list[Row]:
    """Speaker underruns/overruns: 10× real-time audio, text-delta flood, busy main thread."""
    names = ["speaker underruns: 10× audio + text flood + busy main thread",
             "speaker overruns: 10× audio + text flood + busy main thread",
             "PortAudio callback p99: Speaker during the flood"]
    reason = _check_audio(cfg)
    if reason:
        return _na(names, reason)
    import numpy as np

    seconds = 2.0 if cfg.quick else 5.0
    quiet = _flood_run(seconds, flood=False)
    loud = _flood_run(seconds, flood=True)
    rate = loud["text"] / max(1e-9, loud["elapsed"])
    note = (f"{loud['played_s']:.1f} s played, {loud['audio']} audio + {loud['text']} text deltas "
            f"({rate / 1000:.1f}k/s) in {loud['elapsed']:.1f} s; audio reached the dispatcher "
            f"{loud['first_audio']:.2f}-{loud['last_audio']:.2f} s after response.create "
            f"(quiet: {quiet['first_audio']:.2f}-{quiet['last_audio']:.2f} s); "
            f"paOutputUnderflow {loud['underflows']}")
    cb = loud["cb"]
    return [
        Row(names[0], loud["underruns"], "", quiet["underruns"], "same reply, no flood, idle main",
            higher_is_better=False, ok=loud["underruns"] == 0, target_text="0", note=note),
        Row(names[1], loud["overruns"], "", quiet["overruns"], "same reply, no flood, idle main",
            higher_is_better=False, ok=loud["overruns"] == 0, target_text="0"),
        Row(names[2], _pct(cb, 99), "µs", _pct(quiet["cb"], 99), "same reply, no flood",
            higher_is_better=False, target_abs=P99_TARGET_US,
            note=f"p50 {_pct(cb, 50):.1f} µs, max {np.max(cb) if len(cb) else 0:.0f} µs, {len(cb)} calls"),
    ]


# --------------------------------------------------------------------------- 3. barge-in


def _speech(text: str, workdir: Path) -> Any:
    import numpy as np

    from rtsync.audio import read_wav, resample

    wav = workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True, timeout=30)
    samples, rate = read_wav(wav)
    return resample(samples, rate, RATE).astype(np.int16)


def _silence(seconds: float) -> Any:
    import numpy as np

    return np.zeros(int(seconds * RATE), dtype=np.int16)


def _barge_in_run(first: Any, second: Any) -> dict[str, Any]:
    import numpy as np

    from rtsync import RealtimeClient, VoiceSession
    from rtsync.audio.devices import Microphone, Speaker
    from rtsync.server import LocalServer

    mic_audio = np.concatenate([_silence(0.3), first, _silence(1.6), second, _silence(3.0)])
    marks: dict[str, Any] = {}
    items: list[str] = []
    done = threading.Event()
    with _Device() as dev:
        dev.set_mic(mic_audio)
        mic = Microphone(rate=RATE, block_ms=20)  # before the speaker: a device probe resets speaker.raw
        spk = Speaker(rate=RATE, block_ms=20, buffer_ms=120_000)
    try:
        with LocalServer() as server, RealtimeClient(url=server.url) as client:
            def on_delta(ev: Any) -> None:
                if not items or items[-1] != ev.item_id:
                    items.append(ev.item_id)

            def before(ev: Any) -> None:  # registered before the voice session's handler
                if items and "at" not in marks and spk.queued_samples > 0:
                    marks["at"] = spk.played_samples
                    marks["item"] = items[-1]

            def after(ev: Any) -> None:  # registered after it: the barge-in has been handled
                if "at" in marks and "after" not in marks:
                    marks["after"] = spk.played_samples
                    marks["pending"] = spk.interrupt_pending
                    done.set()

            client.on("response.audio.delta", on_delta)
            client.on("input_audio_buffer.speech_started", before)
            with VoiceSession(client, microphone=mic, speaker=spk) as voice:
                client.on("input_audio_buffer.speech_started", after)
                done.wait(len(mic_audio) / RATE + 10)
                stats = voice.refresh_stats()
    finally:
        spk.close()
        mic.close()
    if "after" not in marks:
        return {}
    return {"samples": marks["after"] - marks["at"], "ms": stats.last_barge_in_ms, "pending": marks["pending"],
            "truncated": bool(stats.truncations)}


@benchmark("barge-in", order=43)
def barge_in(cfg: Config) -> list[Row]:
    """Barge-in latency on real streams: last_barge_in_ms and samples played after speech_started."""
    names = ["barge-in: speech_started -> speaker silent (stats.last_barge_in_ms)",
             "barge-in: item samples handed to the device after speech_started"]
    reason = _check_audio(cfg)
    if not reason and shutil.which("espeak-ng") is None:
        reason = "espeak-ng is not installed"
    if reason:
        return _na(names, reason)
    runs = 1 if cfg.quick else max(3, cfg.runs)
    with tempfile.TemporaryDirectory(prefix="rtsync-bench-speech-") as tmp:
        first = _speech("please tell me a long story about the sea", Path(tmp))
        second = _speech("stop, stop", Path(tmp))
    results = []
    failed = 0
    for _ in range(runs):
        r = _barge_in_run(first, second)
        if r:
            results.append(r)
        else:
            failed += 1
    if not results:
        return [Row(n, "n/a", ok=False, target_text="≤ 1 block", note="speech_started never arrived mid-reply")
                for n in names]
    ms = [r["ms"] for r in results if r["ms"] is not None]
    blocks = [r["samples"] / BLOCK for r in results]
    extra = f"; {failed} run(s) without a mid-reply speech_started" if failed else ""
    pending = sum(bool(r["pending"]) for r in results)
    extra += f"; {pending} still pending after the handler" if pending else ""
    ms_v = median(ms) if ms else None
    return [
        Row(names[0], ms_v, "ms", higher_is_better=False, ok=None if not ms else max(ms) <= 20.0,
            target_text="≤ 20 ms (1 block)",
            note=f"median of {len(ms)}, max {max(ms):.1f} ms{extra}" if ms else f"not set{extra}"),
        Row(names[1], median(blocks), "blocks", higher_is_better=False, ok=max(blocks) <= 1.0,
            target_text="≤ 1 block",
            note=f"median of {len(blocks)}, max {max(blocks):.2f} blocks "
                 f"({max(r['samples'] for r in results)} samples)" + extra),
    ]
