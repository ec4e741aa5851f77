"""The virtual sound device with an echo path, for the end-to-end echo tests and benchmark (no pytest here).

What the speaker plays comes back into the microphone 40-60 ms later at about the same level,
as on a laptop with open speakers: a PulseAudio ``module-loopback`` from the speaker sink's
monitor into the microphone sink (``source=vspk.monitor sink=vmic latency_msec=60``). It runs on
a daemon of its own (``$VAUDIO_ECHO_DIR``, default ``/tmp/rtsync-vaudio-echo``), started with
``tests/audio/vaudio.sh`` like the plain one, so the echo never leaks into the other audio tests.

The microphone file (``mic.raw``) is played first; after its end the input stream carries what
reaches ``vmic``: the echo, plus a person talking, played into ``vmic`` with ``pacat`` at a
chosen moment (:meth:`EchoDevice.talk`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.audio.vaudio import SCRIPT, DeviceFiles

ECHO_DIR = Path(os.environ.get("VAUDIO_ECHO_DIR", "/tmp/rtsync-vaudio-echo"))
LOOPBACK = ["module-loopback", "source=vspk.monitor", "sink=vmic", "latency_msec=60"]


def _pactl(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    env = dict(os.environ, PULSE_SERVER=f"unix:{ECHO_DIR}/pulse.sock")
    return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True, timeout=timeout)


def ensure_echo_daemon() -> str | None:
    """Start the echo daemon and its loopback when needed; None, or why it cannot run."""
    for tool in ("pulseaudio", "pactl", "pacat"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)"
    env = dict(os.environ, VAUDIO_DIR=str(ECHO_DIR), VAUDIO_NO_INSTALL="1")
    try:
        proc = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SCRIPT.name} failed: {exc}"
    if proc.returncode != 0:
        return f"{SCRIPT.name} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    try:
        mods = _pactl("list", "short", "modules")
        if mods.returncode != 0:
            return f"pactl cannot reach the echo daemon: {mods.stderr.strip()[-300:]}"
        if "module-loopback" not in mods.stdout:
            load = _pactl("load-module", *LOOPBACK)
            if load.returncode != 0:
                return f"cannot load {' '.join(LOOPBACK)}: {load.stderr.strip()[-300:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pactl failed: {exc}"
    return None


class EchoDevice(DeviceFiles):
    """One run's files on the echo daemon (see :class:`tests.audio.vaudio.DeviceFiles`)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, ECHO_DIR)
        self._players: list[subprocess.Popen] = []

    def talk(self, samples: Any) -> subprocess.Popen:
        """Start playing ``samples`` (24 kHz int16) into the microphone sink now, as a person talking."""
        import numpy as np

        fd, name = tempfile.mkstemp(suffix=".raw", dir=self.dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        env = dict(os.environ, PULSE_SERVER=f"unix:{ECHO_DIR}/pulse.sock")
        p = subprocess.Popen(["pacat", "--playback", "--device=vmic", "--raw", "--format=s16le", "--rate=24000",
                              "--channels=1", "--latency-msec=20", name], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._players.append(p)
        return p

    def close(self) -> None:
        """Stop the players still running."""
        for p in self._players:
            if p.poll() is None:
                p.kill()
            p.wait()
        self._players.clear()


QUESTION = "please tell me a long story about the sea"
INTERRUPTION = "wait a moment please"


def espeak(text: str, directory: Path) -> Any:
    """``text`` spoken by espeak-ng at 24 kHz (int16); raises FileNotFoundError without espeak-ng."""
    import numpy as np

    from rtsync.audio import read_wav, resample

    if shutil.which("espeak-ng") is None:
        raise FileNotFoundError("espeak-ng is not installed")
    fd, name = tempfile.mkstemp(suffix=".wav", dir=directory)
    os.close(fd)
    subprocess.run(["espeak-ng", "-w", name, text], check=True, capture_output=True)
    samples, rate = read_wav(name)
    return resample(samples, rate, 24000).astype(np.int16)


class Outcome:
    """What one conversation on the echo device gave (filled on the client's dispatcher thread).

    Attributes:
        speech_started: ``input_audio_buffer.speech_started`` events.
        responses: ``response.created`` events.
        truncated: ``(item_id, audio_end_ms)`` of every ``conversation.item.truncated``.
        played_at_speech: the speaker's played samples of the first reply when the barge-in's
            ``speech_started`` arrived (None without one).
        talk_at: the played samples of the first reply when the person started talking.
        talk_item: the assistant item playing when the person started talking (its echo is
            what they talked over).
        item_ms_at_speech: the milliseconds of ``talk_item`` played when the barge-in's
            ``speech_started`` arrived.
        stats: the session's final :class:`~rtsync.voice.VoiceStats`.
        reply_ids: the assistant items in order.
    """

    def __init__(self) -> None:
        self.speech_started = 0
        self.responses = 0
        self.truncated: list[tuple[str, int]] = []
        self.played_at_speech: int | None = None
        self.talk_at: int | None = None
        self.talk_item: str | None = None
        self.item_ms_at_speech: int | None = None
        self.stats: Any = None
        self.reply_ids: list[str] = []


def converse(dev: EchoDevice, question: Any, interruption: Any = None, *, talk_after_s: float = 1.0,
             seconds: float = 9.0, model: str | None = None, **voice_options: Any) -> Outcome:
    """One spoken question on the echo device against a local server, optionally talked over.

    The question is the microphone file; the reply plays into the speaker and comes back as
    echo. With ``interruption``, a person says it into the microphone once an item of the first
    reply has played ``talk_after_s`` seconds (with a reasoning model, whose reply is a short
    preamble item and then the answer, that is the answer), so that they talk over its echo.
    Runs ``seconds`` in total from the start of the session. ``model``: the session's model
    (the client's default when None).
    """
    import time

    import numpy as np

    from rtsync import RealtimeClient, VoiceSession
    from rtsync.server import LocalServer

    dev.set_mic(np.concatenate([np.zeros(7200, dtype=np.int16), question]))
    out = Outcome()
    kwargs = {} if model is None else {"model": model}
    with LocalServer() as server, RealtimeClient(url=server.url, **kwargs) as client:
        voice_box: list[Any] = []

        def on_speech(ev: Any) -> None:  # registered before the session's own handler
            out.speech_started += 1
            if out.speech_started == 2 and voice_box:
                voice = voice_box[0]
                out.played_at_speech = voice.speaker.played_samples
                if out.talk_item is not None:
                    out.item_ms_at_speech = voice.refresh_stats().played_ms.get(out.talk_item)

        def on_item(ev: Any) -> None:
            if ev.item_id not in out.reply_ids:
                out.reply_ids.append(ev.item_id)

        client.on("input_audio_buffer.speech_started", on_speech)
        client.on("response.created", lambda ev: setattr(out, "responses", out.responses + 1))
        client.on("response.audio.delta", on_item)
        client.on("conversation.item.truncated", lambda ev: out.truncated.append((ev.item_id, ev.audio_end_ms)))
        with VoiceSession(client, **voice_options) as voice:
            voice_box.append(voice)
            t_end = time.monotonic() + seconds
            while time.monotonic() < t_end:
                time.sleep(0.01)
                if interruption is not None and out.talk_at is None and out.reply_ids:
                    item = out.reply_ids[-1]
                    if voice.refresh_stats().played_ms.get(item, 0) >= talk_after_s * 1000:
                        out.talk_at = voice.speaker.played_samples
                        out.talk_item = item
                        dev.talk(interruption)
            out.stats = voice.refresh_stats()
    dev.close()
    return out


def reply_problems(out: Outcome) -> list[str]:
    """What went wrong in a conversation without interruption (empty: the reply played through)."""
    st, problems = out.stats, []
    if out.speech_started != 1:
        problems.append(f"{out.speech_started} speech_started (the assistant's own voice taken for the user)")
    if out.responses != 1:
        problems.append(f"{out.responses} responses")
    if out.truncated or st.truncations:
        problems.append(f"truncated {st.truncations}")
    if st.echo_reduction_db is None or st.echo_reduction_db < 20:
        problems.append(f"echo reduction {st.echo_reduction_db} dB")
    for item in out.reply_ids:
        if st.played_ms.get(item) != st.received_ms.get(item):
            problems.append(f"{item}: played {st.played_ms.get(item)} of {st.received_ms.get(item)} ms")
    if not out.reply_ids or st.received_ms.get(out.reply_ids[-1], 0) <= 1000:
        problems.append("no answer of over a second")
    return problems


def barge_in_problems(out: Outcome) -> list[str]:
    """What went wrong in a conversation talked over (empty: the person barged in, the item talked
    over was truncated at what had been played, and the answer to them played through)."""
    st, problems = out.stats, []
    if out.talk_at is None or out.talk_item is None:
        return ["the reply never played long enough for the person to talk over it"]
    if out.speech_started != 2:
        problems.append(f"{out.speech_started} speech_started, expected 2 (the question, then the person)")
    if out.played_at_speech is None:
        return [*problems, "no speech_started after the person started"]
    lag_ms = (out.played_at_speech - out.talk_at) * 1000 / 24000
    if not 0 <= lag_ms <= 600:
        problems.append(f"speech_started {lag_ms:.0f} ms after the person started")
    # The item talked over was truncated at what had been played when speech_started arrived.
    if [item for item, _ in st.truncations] != [out.talk_item]:
        problems.append(f"truncations {st.truncations}, expected one of {out.talk_item}")
    elif out.item_ms_at_speech is None or abs(st.truncations[0][1] - out.item_ms_at_speech) > 60:
        problems.append(f"truncated at {st.truncations[0][1]} ms, {out.item_ms_at_speech} ms were played")
    if out.truncated != st.truncations:
        problems.append(f"the server truncated {out.truncated}")
    # The answer to the person plays through: the echo never interrupts it.
    if out.responses != 2:
        problems.append(f"{out.responses} responses")
    later = out.reply_ids[out.reply_ids.index(out.talk_item) + 1:]
    if not later or st.received_ms.get(later[-1], 0) <= 1000:
        problems.append("no second answer of over a second")
    for item in later:
        if st.played_ms.get(item) != st.received_ms.get(item):
            problems.append(f"{item}: played {st.played_ms.get(item)} of {st.received_ms.get(item)} ms")
    return problems
