"""PortAudio loading and device discovery: :func:`list_devices` and :class:`DeviceInfo`.

PyAudio is imported the first time a device is listed or opened, never when
:mod:`rtsync.audio` is imported, so programs without sound need no PortAudio. When it is
missing, an :class:`~rtsync.errors.AudioError` says what to install.

PortAudio probes every device when a ``PyAudio`` instance is created. On Linux the C
libraries behind it (ALSA, JACK, PulseAudio's ALSA plugin) print what they find on the
process's standard error (file descriptor 2): a machine without a sound card gets about a
hundred lines of "ALSA lib ..." and "jack server is not running" before rtsync's own
message. rtsync points file descriptor 2 at a temporary file while PortAudio initialises,
probes, opens a stream and terminates, and restores it afterwards: the libraries' messages go
to the ``rtsync`` logger at DEBUG level instead, and anything else written meanwhile (by
another thread, say) is passed on to stderr. Real failures still raise
:class:`~rtsync.errors.AudioError` with PortAudio's own error text.

A limitation: PortAudio 19.6 (Debian 12's) stops the process with a failed assertion when
the ALSA configuration defines no PCM device at all (an empty ``ALSA_CONFIG_PATH`` file);
while its stderr is silenced, that assertion's text is not shown.

Device selection (used by :class:`~rtsync.audio.Microphone` and
:class:`~rtsync.audio.Speaker`): ``device=None`` picks PortAudio's default device for the
direction, an ``int`` is a PortAudio device index, a ``str`` is matched against device names
(exact name first, then a case-insensitive substring), and a :class:`DeviceInfo` is used by
its index.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import attrs

from rtsync._log import logger
from rtsync.errors import AudioError

__all__ = ["DeviceInfo", "list_devices"]

_PIP_HINT = "pip install 'rtsync[audio]'"
_APT_RUNTIME = "apt-get install libportaudio2"
_APT_BUILD = "apt-get install portaudio19-dev python3-dev gcc"

# PortAudio constants (portaudio.h); the same values that PyAudio exports.
_PA_CONTINUE = 0
_PA_INT16 = 8
_PA_INPUT_OVERFLOW = 2
_PA_OUTPUT_UNDERFLOW = 4


# --------------------------------------------------------------------------- quiet C libraries

_quiet_lock = threading.Lock()
_quiet_depth = 0  # sections currently silencing fd 2 (guarded by _quiet_lock)
_quiet_saved_fd = -1  # a duplicate of the real fd 2 while silenced
_quiet_capture: Any = None  # the temporary file fd 2 points at while silenced


def _quiet_begin() -> bool:
    """Redirect fd 2 (or join a redirection in progress); False when it cannot be redirected."""
    global _quiet_depth, _quiet_saved_fd, _quiet_capture
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                for stream in (sys.stderr, sys.__stderr__):
                    if stream is not None:
                        with contextlib.suppress(Exception):
                            stream.flush()  # what Python wrote before goes to the terminal
                capture = tempfile.TemporaryFile(prefix="rtsync-portaudio-")
                try:
                    saved = os.dup(2)
                except OSError:
                    capture.close()
                    raise
                try:
                    os.dup2(capture.fileno(), 2)
                except OSError:
                    os.close(saved)
                    capture.close()
                    raise
            except OSError:  # no fd 2, no temporary directory: leave stderr as it is
                logger.debug("cannot silence the C libraries' stderr", exc_info=True)
                return False
            _quiet_saved_fd, _quiet_capture = saved, capture
        _quiet_depth += 1
        return True


def _quiet_end() -> None:
    """Leave a section that _quiet_begin() entered; the last one out restores fd 2."""
    global _quiet_depth, _quiet_saved_fd, _quiet_capture
    with _quiet_lock:
        _quiet_depth -= 1
        if _quiet_depth:
            return
        saved, capture = _quiet_saved_fd, _quiet_capture
        _quiet_saved_fd, _quiet_capture = -1, None
        try:
            os.dup2(saved, 2)
        finally:
            os.close(saved)
    try:
        capture.seek(0)
        data = capture.read()
    except OSError:
        data = b""
    finally:
        capture.close()
    noise: list[str] = []
    other: list[bytes] = []
    for line in data.splitlines(keepends=True):
        text = line.decode("utf-8", "replace").rstrip()
        if _is_library_noise(text):
            if text:
                noise.append(text)
        else:
            other.append(line)
    if noise:
        logger.debug("PortAudio's libraries wrote to stderr:\n%s", "\n".join(noise))
    if other:  # written meanwhile by something else (another thread's traceback, say): pass it on
        with contextlib.suppress(OSError):
            os.write(2, b"".join(other))


_NOISE_PREFIXES = ("ALSA lib ", "Cannot connect to server", "Expression '", "bt_audio_service_open")
_NOISE_WORDS = ("jack", "pa_linux_alsa", "src/hostapi/", "paalsa", "pulseaudio: unable to connect")


def _is_library_noise(line: str) -> bool:
    """True for what ALSA, JACK, PulseAudio's plugin and PortAudio print while probing."""
    if not line.strip():
        return True
    if line.startswith(_NOISE_PREFIXES):
        return True
    lower = line.lower()
    return any(word in lower for word in _NOISE_WORDS)


@contextlib.contextmanager
def _quiet_c_stderr() -> Iterator[None]:
    """Silence what C libraries write to file descriptor 2 for the duration of the block.

    fd 2 is pointed at a temporary file on entry and restored on exit, even when the block
    raises; exceptions pass through unchanged. Sections may nest and overlap across threads:
    the first one in redirects, the last one out restores (a lock guards the switch). Of what
    was captured, the libraries' messages (ALSA, JACK, PortAudio) are logged at DEBUG level on
    the ``rtsync`` logger, and every other line (another thread's output, a traceback) is
    written to the real stderr once it is restored, a little late but not lost. Sections are
    kept short: only PortAudio's initialisation, device probes, stream opening and termination.
    If fd 2 cannot be redirected, the block runs with stderr untouched.
    """
    if not _quiet_begin():
        yield
        return
    try:
        yield
    finally:
        _quiet_end()


# --------------------------------------------------------------------------- PyAudio loading


def _import_pyaudio() -> Any:
    """Import PyAudio, or raise an AudioError that says exactly what to install."""
    try:
        import pyaudio
    except ImportError as exc:
        text = str(exc)
        if getattr(exc, "name", None) == "pyaudio" and "portaudio" not in text.lower():
            raise AudioError(
                "PyAudio is not installed, so rtsync cannot use sound devices. Install it with "
                f"{_PIP_HINT}. On Debian/Ubuntu, first {_APT_RUNTIME} (and {_APT_BUILD} so that pip "
                "can build PyAudio)."
            ) from exc
        raise AudioError(
            f"PyAudio is installed but cannot load the PortAudio library ({text}). On Debian/Ubuntu: "
            f"{_APT_RUNTIME} (to rebuild PyAudio: {_APT_BUILD}, then {_PIP_HINT})."
        ) from exc
    except OSError as exc:  # a broken shared library
        raise AudioError(
            f"PyAudio cannot load the PortAudio library ({exc}). On Debian/Ubuntu: {_APT_RUNTIME}."
        ) from exc
    return pyaudio


def _new_pyaudio() -> tuple[Any, Any]:
    """Return ``(pyaudio_module, PyAudio())``; PortAudio initialisation errors become AudioError."""
    pyaudio = _import_pyaudio()
    try:
        with _quiet_c_stderr():
            pa = pyaudio.PyAudio()
    except Exception as exc:
        raise AudioError(f"PortAudio could not be initialised: {exc}") from exc
    return pyaudio, pa


def _terminate(pa: Any) -> None:
    """Terminate a ``PyAudio`` instance quietly; errors are logged, never raised."""
    try:
        with _quiet_c_stderr():
            pa.terminate()
    except Exception:
        logger.debug("PyAudio.terminate() failed", exc_info=True)


# --------------------------------------------------------------------------- device discovery


@attrs.frozen
class DeviceInfo:
    """One PortAudio device, as returned by :func:`list_devices`.

    Attributes:
        index: PortAudio's device index (valid for the lifetime of one ``PyAudio`` instance;
            stable as long as the set of devices does not change).
        name: the device name, e.g. ``"default"`` or ``"HDA Intel PCH: ALC257 Analog (hw:0,0)"``.
        host_api: the name of the host API, e.g. ``"ALSA"``.
        max_input_channels: 0 for an output-only device.
        max_output_channels: 0 for an input-only device.
        default_sample_rate: the rate the device prefers, in Hz.
        is_default_input: PortAudio's default input device.
        is_default_output: PortAudio's default output device.
    """

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    is_default_input: bool = False
    is_default_output: bool = False


def _default_index(pa: Any, output: bool) -> int | None:
    try:
        info = pa.get_default_output_device_info() if output else pa.get_default_input_device_info()
    except (OSError, ValueError):
        return None
    return int(info["index"])


def _device_info(pa: Any, raw: dict[str, Any], default_in: int | None, default_out: int | None) -> DeviceInfo:
    index = int(raw["index"])
    try:
        host_api = str(pa.get_host_api_info_by_index(raw["hostApi"])["name"])
    except Exception:
        host_api = str(raw.get("hostApi", "?"))
    return DeviceInfo(
        index=index,
        name=str(raw["name"]),
        host_api=host_api,
        max_input_channels=int(raw["maxInputChannels"]),
        max_output_channels=int(raw["maxOutputChannels"]),
        default_sample_rate=float(raw["defaultSampleRate"]),
        is_default_input=index == default_in,
        is_default_output=index == default_out,
    )


def _all_devices(pa: Any) -> list[DeviceInfo]:
    default_in = _default_index(pa, output=False)
    default_out = _default_index(pa, output=True)
    devices = []
    for i in range(pa.get_device_count()):
        try:
            raw = pa.get_device_info_by_index(i)
        except Exception:  # a device that vanished between count and query
            continue
        devices.append(_device_info(pa, raw, default_in, default_out))
    return devices


def list_devices() -> list[DeviceInfo]:
    """List the sound devices PortAudio knows, inputs and outputs alike.

    Creates and terminates a ``PyAudio`` instance. On Linux, PortAudio opens every ALSA
    device briefly while it enumerates them; what the C libraries print meanwhile is kept
    off the terminal (it goes to the ``rtsync`` logger at DEBUG level).

    Returns:
        The devices in PortAudio's index order (empty when there is none).

    Raises:
        AudioError: PyAudio or the PortAudio library is missing, or PortAudio failed to
            initialise.
    """
    _, pa = _new_pyaudio()
    try:
        return _all_devices(pa)
    finally:
        _terminate(pa)


def _resolve_device(pa: Any, device: int | str | DeviceInfo | None, output: bool, rate: int) -> DeviceInfo:
    """Find the device to open for one direction; raise AudioError naming it and the rate."""
    kind = "output" if output else "input"
    channels = "max_output_channels" if output else "max_input_channels"
    devices = _all_devices(pa)
    if device is None:
        for d in devices:
            if (d.is_default_output if output else d.is_default_input) and getattr(d, channels) > 0:
                return d
        raise AudioError(
            f"no default {kind} device (PortAudio lists {len(devices)} device(s)): cannot open the "
            f"default {kind} at {rate} Hz"
        )
    if isinstance(device, DeviceInfo):
        device = device.index
    if isinstance(device, int):
        for d in devices:
            if d.index == device:
                if getattr(d, channels) < 1:
                    raise AudioError(
                        f"device {device} ({d.name!r}) has no {kind} channels: cannot open it at {rate} Hz"
                    )
                return d
        raise AudioError(
            f"no {kind} device with index {device} (PortAudio lists {len(devices)}): cannot open it at {rate} Hz"
        )
    wanted = str(device)
    usable = [d for d in devices if getattr(d, channels) > 0]
    for d in usable:
        if d.name == wanted:
            return d
    for d in usable:
        if wanted.lower() in d.name.lower():
            return d
    names = ", ".join(repr(d.name) for d in usable) or "none"
    raise AudioError(f"no {kind} device named {wanted!r} (available: {names}): cannot open it at {rate} Hz")


