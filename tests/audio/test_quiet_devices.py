"""PortAudio's probe noise stays off the terminal; a machine without sound gets one clear line.

The "no sound card" machine is an ALSA configuration whose every device fails to open, loudly
("ALSA lib ..."), with no JACK server reachable (libjack then prints "jack server is not
running" and more). Each subprocess test first checks that a bare ``pyaudio.PyAudio()`` really
prints that noise in this environment, so the assertions about rtsync's output can fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rtsync.audio import list_devices
from rtsync.audio.portaudio import _quiet_c_stderr
from rtsync.errors import AudioError
from tests.audio.conftest import VirtualAudio

ROOT = Path(__file__).resolve().parents[2]

# Every device here fails to open: an unknown slave, a card that does not exist, a PulseAudio
# server that does not exist. PortAudio lists none of them.
NO_SOUND_ALSA_CONF = """\
pcm.!default { type plug slave.pcm "no_such_pcm" }
pcm.nocard { type hw card 7 }
pcm.nopulse { type pulse server "unix:/nonexistent/rtsync-test/pulse.sock" }
"""

NOISE = ("ALSA lib", "jack", "Jack", "JACK")


def noisy_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(word in line for word in NOISE)]


@pytest.fixture
def no_sound_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine without a sound card (for subprocesses)."""
    pytest.importorskip("pyaudio", reason="PyAudio is not installed")
    conf = tmp_path / "asound.conf"
    conf.write_text(NO_SOUND_ALSA_CONF)
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    env.update(
        ALSA_CONFIG_PATH=str(conf),
        JACK_NO_START_SERVER="1",
        JACK_DEFAULT_SERVER=f"rtsync-test-no-such-server-{os.getpid()}",
        PULSE_SERVER="unix:/nonexistent/rtsync-test/pulse.sock",
        PYTHONPATH=str(ROOT),
    )
    bare = run(["-c", "import pyaudio; pa = pyaudio.PyAudio(); print(pa.get_device_count()); pa.terminate()"], env)
    assert bare.returncode == 0, bare.stderr[-2000:]
    assert bare.stdout.strip() == "0", "the test configuration is meant to have no usable device"
    assert noisy_lines(bare.stderr), f"PortAudio printed no probe noise here, the test would prove nothing: {bare}"
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def test_devices_without_a_device_says_so_in_one_line(no_sound_env: dict[str, str]) -> None:
    res = run(["-m", "rtsync", "devices"], no_sound_env)
    assert res.returncode == 1
    assert res.stderr == "no audio devices found\n"
    assert res.stdout == ""


def test_voice_without_a_microphone_prints_one_reason_and_exits_1(no_sound_env: dict[str, str]) -> None:
    res = run(["-m", "rtsync", "voice", "--seconds", "1"], no_sound_env)
    assert res.returncode == 1, res.stderr[-2000:]
    assert noisy_lines(res.stderr) == [] and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("voice: no microphone"), res.stderr
    assert res.stdout == ""  # no local server was started, no connection was made


def test_voice_without_pyaudio_prints_what_to_install_and_exits_1(no_sound_env: dict[str, str]) -> None:
    code = "import sys; sys.modules['pyaudio'] = None; from rtsync.cli import main; sys.exit(main(['voice']))"
    res = run(["-c", code], no_sound_env)
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("voice: PyAudio is not installed"), res.stderr
    assert "pip install 'rtsync[audio]'" in lines[0]


def test_opening_a_device_that_is_not_there_raises_a_clear_error_and_nothing_else(no_sound_env: dict[str, str]) -> None:
    code = (
        "from rtsync.audio import Microphone, Speaker\n"
        "from rtsync.errors import AudioError\n"
        "for cls in (Microphone, Speaker):\n"
        "    try:\n"
        "        cls()\n"
        "    except AudioError as exc:\n"
        "        print(exc)\n"
    )
    res = run(["-c", code], no_sound_env)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.splitlines() == [
        "no default input device (PortAudio lists 0 device(s)): cannot open the default input at 24000 Hz",
        "no default output device (PortAudio lists 0 device(s)): cannot open the default output at 24000 Hz",
    ]


def test_list_devices_on_the_virtual_device_works_and_prints_nothing(
    virtual_audio: VirtualAudio, capfd: pytest.CaptureFixture[str]
) -> None:
    devices = list_devices()
    assert [d.name for d in devices if d.is_default_input and d.is_default_output] == ["default"]
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


# --------------------------------------------------------------------------- the silencer itself


def test_quiet_section_restores_stderr_and_lets_exceptions_through(capfd: pytest.CaptureFixture[str]) -> None:
    os.write(2, b"before\n")
    with pytest.raises(AudioError, match="real failure"), _quiet_c_stderr():
        os.write(2, b"ALSA lib noise\n")
        with _quiet_c_stderr():  # nested: the inner exit does not restore early
            os.write(2, b"ALSA lib inner noise\n")
        os.write(2, b"ALSA lib more noise\n")
        raise AudioError("real failure")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"


def test_quiet_sections_overlapping_in_threads_restore_stderr_once(capfd: pytest.CaptureFixture[str]) -> None:
    inside = threading.Barrier(4)
    leave = threading.Event()

    def section() -> None:
        with _quiet_c_stderr():
            inside.wait(5)
            os.write(2, b"ALSA lib from a thread\n")
            leave.wait(5)

    def bystander() -> None:  # a thread that is not probing devices: its output is kept
        inside.wait(5)
        os.write(2, b"Traceback (most recent call last):\n  ValueError: from another thread\n")
        leave.wait(5)

    threads = [threading.Thread(target=section) for _ in range(2)] + [threading.Thread(target=bystander)]
    for t in threads:
        t.start()
    inside.wait(5)
    leave.set()
    for t in threads:
        t.join(5)
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "Traceback (most recent call last):\n  ValueError: from another thread\nvisible\n"


def test_what_the_libraries_print_is_recognised_as_noise() -> None:
    from rtsync.audio.portaudio import _is_library_noise

    for line in (
        "ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear",
        "Cannot connect to server socket err = No such file or directory",
        "Cannot connect to server request channel",
        "jack server is not running or cannot be started",
        "JackShmReadWritePtr::~JackShmReadWritePtr - Init not done for -1, skipping unlock",
        "Expression 'ret' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 1736",
        "",
    ):
        assert _is_library_noise(line), line
    for line in ("Traceback (most recent call last):", "ValueError: bad value", "voice: no microphone"):
        assert not _is_library_noise(line), line
