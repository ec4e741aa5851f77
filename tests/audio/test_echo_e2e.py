"""Echo cancellation end to end: the virtual device with an echo path, the local server's VAD.

What the speaker plays comes back into the microphone ~100 ms later at the same level
(``tests/audio/echo_device.py``: a PulseAudio loopback on a daemon of its own). Without echo
cancellation the local server's energy VAD takes the echo for the user and the assistant
interrupts itself again and again; with ``VoiceSession``'s default (``echo_guard="aec"`` where
the ``aec`` extra is installed) the reply plays through, and a person talking over its echo
still barges in. Needs PulseAudio with pulseaudio-utils, PyAudio, espeak-ng and the ``aec``
extra; skipped with the reason otherwise (failed in CI, where they must run).

How often these scenarios go right is a rate (``make bench``, rows "echo e2e", 20 runs each); here
each scenario runs up to three times and must go right twice, so that a broken canceller fails
(it fails every run) while a one-in-a-hundred glitch of the virtual device does not turn CI red.
Every failed attempt is listed in the assertion message.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audio.echo_device import (
    INTERRUPTION,
    QUESTION,
    EchoDevice,
    Outcome,
    barge_in_problems,
    converse,
    ensure_echo_daemon,
    espeak,
    reply_problems,
)

pytestmark = [pytest.mark.audio, pytest.mark.slow]

USES_DEFAULT_MODEL = True  # the models are chosen per test below
REASONING = "gpt-realtime-2.1"  # a reply is a preamble item, then the answer item
ONE_MESSAGE = "gpt-realtime-1.5"


def _skip(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"echo end-to-end tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"echo end-to-end tests: {reason}")


@pytest.fixture
def echo_ready(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The echo daemon is up; ALSA_CONFIG_PATH is restored after the test."""
    if importlib.util.find_spec("livekit") is None:
        _skip("livekit is not installed (pip install 'rtsync[aec]')")
    if importlib.util.find_spec("pyaudio") is None:
        _skip("PyAudio is not installed (pip install 'rtsync[audio]')")
    reason = ensure_echo_daemon()
    if reason:
        _skip(reason)
    monkeypatch.setenv("ALSA_CONFIG_PATH", os.environ.get("ALSA_CONFIG_PATH", ""))
    yield


@pytest.fixture
def voices(tmp_path: Path) -> tuple[Any, Any]:
    try:
        return espeak(QUESTION, tmp_path), espeak(INTERRUPTION, tmp_path)
    except FileNotFoundError as exc:
        _skip(str(exc))
        raise


def _attempts(tmp_path: Path, run: Callable[[EchoDevice], Outcome], check: Callable[[Outcome], list[str]],
              need: int = 2, tries: int = 3) -> None:
    """Run the scenario until it went right ``need`` times; fail once that can no longer happen."""
    good, failures = 0, []
    for i in range(tries):
        (tmp_path / f"try{i}").mkdir()
        dev = EchoDevice(tmp_path / f"try{i}")
        os.environ["ALSA_CONFIG_PATH"] = str(dev.config_path)
        try:
            problems = check(run(dev))
        finally:
            dev.close()
        if problems:
            failures.append(f"attempt {i + 1}: " + "; ".join(problems))
        else:
            good += 1
        if good >= need or good + (tries - i - 1) < need:
            break
    assert good >= need, f"went right {good} times of {i + 1}, needed {need}:\n" + "\n".join(failures)


def test_without_echo_cancellation_the_assistant_interrupts_itself(echo_ready, voices, tmp_path):
    # The echo path is real: this is the failure echo cancellation exists for.
    question, _ = voices
    (tmp_path / "plain").mkdir()
    dev = EchoDevice(tmp_path / "plain")
    os.environ["ALSA_CONFIG_PATH"] = str(dev.config_path)
    out = converse(dev, question, seconds=7.0, echo_guard=None, model=ONE_MESSAGE)
    assert out.speech_started >= 3, out.speech_started
    assert out.stats.truncations, "the echo did not cut the reply"


def test_with_echo_cancellation_the_reply_plays_through(echo_ready, voices, tmp_path):
    question, _ = voices
    # The default echo_guard ("aec"), and a reasoning model: a preamble, a pause, the answer.
    _attempts(tmp_path, lambda dev: converse(dev, question, seconds=7.0, model=REASONING), reply_problems)


@pytest.mark.parametrize("model", [REASONING, ONE_MESSAGE])
def test_a_person_talking_over_the_echo_still_barges_in(echo_ready, voices, tmp_path, model):
    question, interruption = voices
    # The person starts once an item of the reply (the answer, with a reasoning model) has
    # played a second, in the canceller's first seconds: they talk over its echo.
    _attempts(tmp_path, lambda dev: converse(dev, question, interruption, talk_after_s=1.0, seconds=11.0,
                                             model=model), barge_in_problems)
