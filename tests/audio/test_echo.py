"""EchoCanceller on a deterministic synthetic room (``tests/audio/room.py``), and its contract.

The room tests need the ``aec`` extra (``livekit``); without it they are skipped with the reason.
Levels are compared over windows with margins, never sample by sample: AEC3's float results
differ slightly between runs and CPUs. The margins sit below the targets that the benchmark
(``benchmarks/bench_echo.py``) reports against.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtsync.audio import echo
from tests.audio import room

ROOT = Path(__file__).resolve().parents[2]
HAVE_LIVEKIT = importlib.util.find_spec("livekit") is not None
needs_aec = pytest.mark.skipif(
    not HAVE_LIVEKIT, reason="livekit is not installed (pip install 'rtsync[aec]'): no WebRTC canceller to test")


def _py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)


# -- contract, no canceller library needed -------------------------------------------------------
@pytest.mark.subprocess
def test_importing_rtsync_audio_does_not_import_the_canceller_library():
    out = _py("import sys, rtsync.audio, rtsync.audio.echo; "
              "print('livekit' in sys.modules, 'EchoCanceller' in rtsync.audio.__all__, "
              "'EchoCanceller' in dir(rtsync.audio))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "True"]


def test_lazy_export_is_the_class():
    import rtsync.audio

    assert rtsync.audio.EchoCanceller is echo.EchoCanceller


@pytest.mark.subprocess
def test_missing_extra_names_the_install_command():
    code = ("import sys; sys.modules['livekit'] = None\n"
            "from rtsync.audio import EchoCanceller\n"
            "try:\n    EchoCanceller()\nexcept ImportError as e:\n    print('IMPORTERROR', e)\n")
    out = _py(code)
    assert out.returncode == 0, out.stderr
    assert "IMPORTERROR" in out.stdout
    assert "pip install 'rtsync[aec]'" in out.stdout


class _Subtract:
    """A toy backend: the echo is known to be ``played`` scaled by ``gain`` with no delay."""

    def __init__(self, rate: int, delay_ms: int | None) -> None:
        self.rate = rate
        self.frames = 0
        self.closed = False

    def process_frame(self, mic, played, out) -> None:
        self.frames += 1
        out[:] = np.clip(mic.astype(np.int32) - played.astype(np.int32) // 2, -32768, 32767)

    def close(self) -> None:
        self.closed = True


def test_backends_are_chosen_by_name_and_get_10ms_frames():
    made: list[_Subtract] = []
    echo.register_backend("test-subtract", lambda rate, delay: made.append(_Subtract(rate, delay)) or made[-1])
    try:
        assert {"webrtc", "test-subtract"} <= set(echo.backend_names())
        aec = echo.EchoCanceller(16000, backend="test-subtract", guard=False)
        rng = np.random.default_rng(0)
        played = (rng.standard_normal(640) * 4000).astype(np.int16)  # 40 ms at 16 kHz
        user = (rng.standard_normal(640) * 500).astype(np.int16)
        mic = (played // 2 + user).astype(np.int16)
        out = aec.process(mic, played)
        assert out.dtype == np.int16 and len(out) == 640
        assert aec.frames == 4  # four 10 ms frames of 160 samples
        assert room.level_db(out) == pytest.approx(room.level_db(user), abs=0.5)
        assert aec.erle_db > 10  # the echo (played / 2) was far louder than the user
        assert [b.rate for b in made] == [16000]
        aec.close()
        aec.close()
        assert made[0].closed
        with pytest.raises(RuntimeError, match="closed"):
            aec.process(mic, played)
    finally:
        echo._BACKENDS.pop("test-subtract", None)


def test_unknown_backend_and_bad_blocks_are_refused():
    with pytest.raises(ValueError, match=r"unknown echo canceller backend 'speex'.*webrtc"):
        echo.EchoCanceller(backend="speex")
    with pytest.raises(ValueError, match="multiple of 100"):
        echo.EchoCanceller(rate=22050)
    echo.register_backend("test-subtract", _Subtract)
    try:
        aec = echo.EchoCanceller(backend="test-subtract")
        with pytest.raises(ValueError, match="same length"):
            aec.process(np.zeros(480, np.int16), np.zeros(240, np.int16))
        with pytest.raises(ValueError, match="10 ms"):
            aec.process(np.zeros(300, np.int16), np.zeros(300, np.int16))
    finally:
        echo._BACKENDS.pop("test-subtract", None)


# -- the synthetic room, with WebRTC AEC3 ------------------------------------------------------
ROOMS = [  # seed, delay, RT60, echo over user: each seed also draws its own tail and noise
    dict(seed=1, delay_ms=60, rt60_s=0.2, echo_over_user_db=4.0),
    dict(seed=2, delay_ms=35, rt60_s=0.3, echo_over_user_db=0.0),
    dict(seed=3, delay_ms=150, rt60_s=0.15, echo_over_user_db=8.0, noise_dbfs=-60.0),
]


@pytest.fixture(scope="module", params=ROOMS, ids=lambda r: f"room{r['seed']}")
def cleaned(request):
    pytest.importorskip("livekit.rtc", reason="livekit is not installed (pip install 'rtsync[aec]')")
    sc = room.Scene(**request.param)
    mic = sc.mic()
    aec = echo.EchoCanceller(24000)
    split = [sc.seconds(0, sc.user_at_s), sc.seconds(sc.user_at_s, sc.user_at_s + 2), sc.seconds(sc.user_at_s + 2, 60)]
    out = np.concatenate([room.run(aec.process, mic[s], sc.played[s]) for s in split[:1]])
    running = [aec.erle_db]  # the running estimate after echo alone, then 2 s into double talk
    out = np.concatenate([out, room.run(aec.process, mic[split[1]], sc.played[split[1]])])
    running.append(aec.erle_db)
    out = np.concatenate([out, room.run(aec.process, mic[split[2]], sc.played[split[2]])])
    aec.close()
    return sc, mic, out, aec, running


@needs_aec
@pytest.mark.slow
def test_room_echo_is_removed_from_the_first_second_on(cleaned):
    sc, mic, out, aec, _ = cleaned
    assert room.erle_db(mic, out, sc.seconds(0, 1)) >= 15
    assert min(room.erle_windows(mic, out, 1, sc.user_at_s, 0.5)) >= 15
    assert room.erle_db(mic, out, sc.seconds(3, sc.user_at_s)) >= 30
    # after the double talk, back to converged levels (the canceller did not diverge)
    end_dt = sc.user_at_s + len(room.voices()[1]) / room.RATE
    assert room.erle_db(mic, out, sc.seconds(end_dt + 0.3, sc.far_end_s - 0.1)) >= 25
    assert aec.converged and aec.frames == len(mic) // 240


@needs_aec
@pytest.mark.slow
def test_room_running_erle_follows_the_echo(cleaned):
    sc, mic, out, _, (echo_alone, double_talk) = cleaned
    measured = room.erle_db(mic, out, sc.seconds(sc.user_at_s - 1, sc.user_at_s))
    assert echo_alone >= 25
    assert abs(echo_alone - min(measured, 60)) <= 15
    assert double_talk < echo_alone - 10  # the user is kept, so the mic/cleaned ratio drops


@needs_aec
@pytest.mark.slow
def test_room_keeps_the_user_alone_and_in_double_talk(cleaned):
    sc, _, out, _, _ = cleaned
    alone = sc.seconds(sc.user_again_s, sc.user_again_s + 5.5)
    assert room.level_db(out, alone) == pytest.approx(room.level_db(sc.user, alone), abs=1.5)
    dt = sc.seconds(sc.user_at_s, sc.user_at_s + 5.5)
    assert room.user_dominant_level_db(sc.user, sc.echo, out, dt) >= -9
    # and the cleaned signal still triggers a VAD where the user speaks, both times
    assert room.count_vad_starts(out, dt) >= 1
    assert room.count_vad_starts(out, alone) >= 1


@needs_aec
@pytest.mark.slow
def test_room_echo_alone_would_not_trip_the_server_vad():
    sc = room.Scene(seed=4, delay_ms=60, echo_over_user_db=6.0)
    mic = sc.mic(user=False)
    before = sc.seconds(0, sc.far_end_s + 0.3)
    assert room.count_vad_starts(mic, before) >= 1  # the raw echo does
    aec = echo.EchoCanceller()
    out = room.run(aec.process, mic, sc.played)
    assert room.count_vad_starts(out, before) == 0


@needs_aec
@pytest.mark.slow
@pytest.mark.parametrize("wrong", ["3 s later", "3 s earlier", "reversed"])
def test_a_wrong_reference_does_not_cancel(wrong):
    # The same voice at the same level, but not what made the echo. A gate that mutes the
    # microphone while the speaker is loud would pass the ERLE tests above and fail this one.
    sc = room.Scene(seed=5, delay_ms=60)
    mic = sc.mic(user=False)
    ref = {"3 s later": np.roll(sc.played, 3 * room.RATE), "3 s earlier": np.roll(sc.played, -3 * room.RATE),
           "reversed": sc.played[::-1].copy()}[wrong]
    aec = echo.EchoCanceller()
    out = room.run(aec.process, mic, ref)
    assert room.erle_db(mic, out, sc.seconds(0, sc.far_end_s)) < 8
    assert float(np.median(room.erle_windows(mic, out, 0, sc.far_end_s, 0.5))) < 10
    assert not aec.erle_db >= 10


@needs_aec
@pytest.mark.slow
def test_startup_guard_mutes_echo_bursts_but_not_a_louder_user():
    sc = room.Scene(seed=6, delay_ms=60, echo_over_user_db=4.0)
    mic = sc.mic(user=False)
    worst = {}
    for guard in (False, True):
        aec = echo.EchoCanceller(guard=guard)
        out = room.run(aec.process, mic, sc.played)
        worst[guard] = min(room.erle_windows(mic, out, 0, 3, 0.1))
        assert (aec.guarded_frames > 0) is guard
    assert worst[True] >= worst[False]
    # a user 6 dB louder than the echo, talking from the first second, is not muted
    loud = room.Scene(seed=6, delay_ms=60, echo_over_user_db=-6.0, user_at_s=0.5, user_again_s=7.0)
    aec = echo.EchoCanceller()
    out = room.run(aec.process, loud.mic(), loud.played)
    early = loud.seconds(0.5, 3.0)
    assert room.user_dominant_level_db(loud.user, loud.echo, out, early) >= -9
    assert room.count_vad_starts(out, early) >= 1


@needs_aec
@pytest.mark.parametrize("delay_ms", [35, 60, 150])
def test_guard_finds_the_echo_delay_from_the_levels(delay_ms):
    sc = room.Scene(seed=2, delay_ms=delay_ms)
    mic = sc.mic(user=False)
    aec = echo.EchoCanceller()
    first = sc.seconds(0, 2.5)
    room.run(aec.process, mic[first], sc.played[first])
    assert aec.echo_delay_ms is not None
    assert abs(aec.echo_delay_ms - delay_ms) <= 20, aec.echo_delay_ms


@needs_aec
def test_a_wrong_reference_has_no_echo_delay():
    sc = room.Scene(seed=2, delay_ms=60)
    other = room.Scene(seed=5, delay_ms=60)
    aec = echo.EchoCanceller()
    room.run(aec.process, sc.mic(user=False)[: 24000 * 3], np.roll(other.played, 24000 * 2)[: 24000 * 3])
    assert aec.echo_delay_ms is None and aec.guarded_frames == 0


@needs_aec
def test_during_the_users_turn_the_guard_stands_down():
    # A user at the echo's level from the first second: the guard mutes many of their frames
    # while the canceller has not converged, unless the server has heard them (user_turn).
    sc = room.Scene(seed=6, delay_ms=60, echo_over_user_db=0.0, user_at_s=1.5, user_again_s=7.0)
    mic = sc.mic()
    guarded = {}
    for turn in (False, True):
        aec = echo.EchoCanceller()
        start = sc.seconds(0, 1.5)
        room.run(aec.process, mic[start], sc.played[start])
        before = aec.guarded_frames
        aec.user_turn = turn
        talk = sc.seconds(1.5, 3.0)
        room.run(aec.process, mic[talk], sc.played[talk])
        guarded[turn] = aec.guarded_frames - before
        aec.close()
    assert guarded[False] > 0 and guarded[True] == 0, guarded


class _Ringing(_Subtract):
    """A toy backend that emits a tone whatever it is given (AEC3 can emit its echo estimate)."""

    def process_frame(self, mic, played, out) -> None:
        out[:] = (np.sin(np.arange(len(out)) * 0.3) * 3000).astype(np.int16)


def test_the_canceller_never_makes_a_frame_louder_than_the_microphone():
    echo.register_backend("test-ringing", lambda rate, delay: _Ringing(rate, delay))
    try:
        aec = echo.EchoCanceller(24000, backend="test-ringing", guard=False)
        played = (np.sin(np.arange(4800) * 0.05) * 8000).astype(np.int16)
        silent = np.zeros(4800, dtype=np.int16)
        assert not aec.process(silent, played).any()  # digital silence stays silence
        quiet = (np.sin(np.arange(4800) * 0.01) * 100).astype(np.int16)
        np.testing.assert_array_equal(aec.process(quiet, played), quiet)  # the louder frame is refused
        aec.close()
    finally:
        echo._BACKENDS.pop("test-ringing", None)


# -- VoiceSession's choice of echo guard (no device needed) ----------------------------------------
@pytest.mark.subprocess
def test_voice_default_without_the_extra_is_unguarded_with_one_log_line():
    code = ("import logging, sys; sys.modules['livekit'] = None; logging.basicConfig()\n"
            "from rtsync import VoiceSession\n"
            "a = VoiceSession(object()); b = VoiceSession(object())\n"
            "print(a.echo_guard, b.echo_guard, VoiceSession(object(), echo_guard='half_duplex').echo_guard)\n"
            "try:\n    VoiceSession(object(), echo_guard='aec').start()\n"
            "except ImportError as e:\n    print('IMPORTERROR', e)\n")
    out = _py(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "None None half_duplex"
    assert "IMPORTERROR" in out.stdout and "pip install 'rtsync[aec]'" in out.stdout
    assert out.stderr.count("pip install 'rtsync[aec]'") == 1  # the one-time log line
    assert "echo_guard='half_duplex'" in out.stderr


@needs_aec
def test_voice_default_with_the_extra_is_aec():
    from rtsync import VoiceSession

    assert VoiceSession(object()).echo_guard == "aec"
    assert VoiceSession(object(), echo_guard="none").echo_guard is None
    assert VoiceSession(object(), echo_guard=None).echo_guard is None


def test_voice_refuses_unknown_guards_and_blocks_aec_cannot_take():
    from rtsync import VoiceSession

    with pytest.raises(ValueError, match="echo_guard must be"):
        VoiceSession(object(), echo_guard="speex")
    with pytest.raises(ValueError, match="10 ms"):
        VoiceSession(object(), echo_guard="aec", block_ms=25)


@needs_aec
@pytest.mark.slow
@pytest.mark.parametrize("noise", [True, False], ids=["room-noise", "digital-silence"])
def test_without_an_echo_path_a_user_talking_early_is_not_held_back(noise):
    # Headphones: the reference plays, the microphone hears only the user (from 1.5 s on, well
    # inside AEC3's cautious first seconds). The near-end bypass passes them untouched, also
    # where the microphone is digitally silent between words (a virtual or muted device).
    sc = room.Scene(seed=7, user_at_s=1.5, user_again_s=8.0)
    mic = np.clip(np.round(sc.user + (sc.noise if noise else 0)), -32768, 32767).astype(np.int16)
    aec = echo.EchoCanceller()
    out = room.run(aec.process, mic, sc.played)
    early = sc.seconds(1.5, 4.0)
    assert room.level_db(out, early) >= room.level_db(sc.user, early) - 3
    assert aec.near_end_frames > 0 and aec.guarded_frames == 0
    assert room.count_vad_starts(out, early) >= 1


@needs_aec
@pytest.mark.slow
def test_reconverge_puts_the_guard_back_without_forgetting_the_room():
    sc = room.Scene(seed=8)
    mic = sc.mic(user=False)
    aec = echo.EchoCanceller(converge_s=3.0)
    first = sc.seconds(0, 4)
    room.run(aec.process, mic[first], sc.played[first])
    assert aec.converged
    aec.reconverge()
    assert not aec.converged and aec.active_seconds == 0
    rest = sc.seconds(4, 8)
    before = aec.guarded_frames
    out = room.run(aec.process, mic[rest], sc.played[rest])
    assert aec.guarded_frames > before  # the guard covers the relearning again
    assert room.erle_db(mic[rest], out, slice(0, len(out))) >= 30  # and nothing was forgotten
    assert aec.converged


class _LeakyWebRtc:
    """AEC3, except that while ``leak`` is set it passes a third of the microphone through: the
    bursts AEC3 can let into the reply that follows double talk."""

    leak = False

    def __init__(self, rate: int, delay_ms: int | None) -> None:
        self._inner = echo._WebRtcBackend(rate, delay_ms)

    def process_frame(self, mic, played, out) -> None:
        self._inner.process_frame(mic, played, out)
        if _LeakyWebRtc.leak:
            out[:] = mic // 3

    def close(self) -> None:
        self._inner.close()


@needs_aec
@pytest.mark.slow
def test_the_guard_comes_back_after_the_users_turn():
    # Converged after 4 s of echo; the user talks over it (user_turn), then AEC3 leaks into the
    # rest of the reply. Without a turn having ended the guard has stood down and the leak
    # reaches a VAD; after the turn it is back for converge_s and mutes the leak.
    sc = room.Scene(seed=9, user_at_s=5.0, user_again_s=13.5)
    mic, echo_only = sc.mic(), sc.mic(user=False)
    echo.register_backend("test-leaky", _LeakyWebRtc)
    results = {}
    try:
        for turn in (False, True):
            _LeakyWebRtc.leak = False
            aec = echo.EchoCanceller(backend="test-leaky")
            start = sc.seconds(0, 5)
            room.run(aec.process, echo_only[start], sc.played[start])
            assert aec.converged and aec.echo_delay_ms is not None
            aec.user_turn = turn
            talk = sc.seconds(5, 7)
            room.run(aec.process, mic[talk], sc.played[talk])
            aec.user_turn = False
            assert aec.converged is not turn
            _LeakyWebRtc.leak = True
            leak = sc.seconds(7, 9)
            before = aec.guarded_frames
            out = room.run(aec.process, echo_only[leak], sc.played[leak])
            results[turn] = (room.count_vad_starts(out), aec.guarded_frames - before)
            aec.close()
    finally:
        _LeakyWebRtc.leak = False
        echo._BACKENDS.pop("test-leaky", None)
    assert results[False][0] >= 1 and results[False][1] == 0, results  # the leak gets through
    assert results[True][0] == 0 and results[True][1] > 100, results  # the guard mutes it
