"""PortAudio devices: :class:`Microphone`, :class:`Speaker` and :func:`list_devices`.

Both device classes run a PyAudio *callback* stream of mono int16 samples. PortAudio calls
the callback on its own real-time thread; the callback only copies samples between
PortAudio's buffer and a lock-free :class:`~rtsync.audio.ringbuffer.RingBuffer`, and your
code talks to the ring buffer from ordinary threads. The API, by group:

* Discovery: :func:`list_devices` -> list of :class:`DeviceInfo`.
* Input: :class:`Microphone` (``read``, ``read_block``, ``available``, ``level``, counters).
* Output: :class:`Speaker` (``write``, ``interrupt``, ``end_of_stream``,
  ``wait_until_drained``, counters such as ``played_samples`` and ``underruns``).

PyAudio is imported the first time one of these is used, never when :mod:`rtsync.audio` is
imported, so programs without sound need no PortAudio. When it is missing, an
:class:`~rtsync.errors.AudioError` says what to install.

Each :class:`Microphone` and :class:`Speaker` owns one ``pyaudio.PyAudio`` instance (created
in ``__init__``, terminated by ``close()``), so objects can be opened and closed
independently from different threads. PortAudio probes every device when a ``PyAudio`` is
created; on Linux that also prints messages from ALSA and JACK on stderr, which are harmless.

Device selection: ``device=None`` picks PortAudio's default device for the direction, an
``int`` is a PortAudio device index, a ``str`` is matched against device names (exact name
first, then a case-insensitive substring), and a :class:`DeviceInfo` is used by its index.

Sample rates: the streams are opened at ``rate`` (24 kHz by default, the Realtime API's
pcm16 rate). When the device refuses that rate, the stream is opened at the device's
default rate instead and rtsync converts between the two rates *outside* the callback: the
microphone in :meth:`Microphone.read`, the speaker in :meth:`Speaker.write`. ``device_rate=``
forces a particular device rate.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, TypeVar

import attrs
import numpy as np
from numpy.typing import NDArray

from rtsync._log import logger
from rtsync.audio.formats import Resampler
from rtsync.audio.ringbuffer import RingBuffer
from rtsync.errors import AudioError

__all__ = ["DeviceInfo", "Microphone", "Speaker", "list_devices"]

_PIP_HINT = "pip install 'rtsync[audio]'"
_APT_RUNTIME = "apt-get install libportaudio2"
_APT_BUILD = "apt-get install portaudio19-dev python3-dev gcc"

# PortAudio constants (portaudio.h); the same values that PyAudio exports.
_PA_CONTINUE = 0
_PA_INT16 = 8
_PA_INPUT_OVERFLOW = 2
_PA_OUTPUT_UNDERFLOW = 4

_S = TypeVar("_S", bound="_Stream")

# Speaker callback states.
_PREBUFFERING = 0
_PLAYING = 1
_INTERRUPTED = 2


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
        pa = pyaudio.PyAudio()
    except Exception as exc:
        raise AudioError(f"PortAudio could not be initialised: {exc}") from exc
    return pyaudio, pa


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
    device briefly while it enumerates them.

    Returns:
        The devices in PortAudio's index order (empty when there is none).

    Raises:
        AudioError: PyAudio or the PortAudio library is missing.
    """
    _, pa = _new_pyaudio()
    try:
        return _all_devices(pa)
    finally:
        pa.terminate()


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


def _pow2_at_least(n: int) -> int:
    return 1 << (max(1, int(n)) - 1).bit_length()


# --------------------------------------------------------------------------- common stream base


class _Stream:
    """What Microphone and Speaker share: the PyAudio instance, opening, start/stop/close."""

    _output = False

    def __init__(
        self,
        rate: int,
        block_ms: float,
        device: int | str | DeviceInfo | None,
        device_rate: int | None,
    ) -> None:
        if int(rate) != rate or rate <= 0:
            raise ValueError(f"rate must be a positive integer number of Hz, got {rate!r}")
        if block_ms <= 0:
            raise ValueError(f"block_ms must be positive, got {block_ms!r}")
        self._rate = int(rate)
        self._block_ms = float(block_ms)
        self._block = max(1, round(self._rate * self._block_ms / 1000.0))
        self._close_lock = threading.Lock()
        self._closed = False
        self._stream: Any = None
        self._pa: Any = None
        self._callback_errors = 0
        self._last_callback_error: BaseException | None = None
        pyaudio, pa = _new_pyaudio()
        self._pa = pa
        try:
            self._info = _resolve_device(pa, device, self._output, self._rate)
            self._open(pyaudio, pa, device_rate)
        except BaseException:
            self._pa = None
            pa.terminate()
            raise

    # -- opening

    def _candidate_rates(self, pa: Any, device_rate: int | None) -> list[int]:
        if device_rate is not None:
            return [int(device_rate)]
        rates = []
        if self._supports(pa, self._rate):
            rates.append(self._rate)
        default = round(self._info.default_sample_rate)
        if default > 0 and default not in rates:
            rates.append(default)
        if self._rate not in rates:
            rates.append(self._rate)  # is_format_supported can be wrong: try anyway, last
        return rates

    def _supports(self, pa: Any, rate: int) -> bool:
        kw: dict[str, Any]
        if self._output:
            kw = {"output_device": self._info.index, "output_channels": 1, "output_format": _PA_INT16}
        else:
            kw = {"input_device": self._info.index, "input_channels": 1, "input_format": _PA_INT16}
        try:
            return bool(pa.is_format_supported(rate, **kw))
        except (ValueError, OSError):
            return False

    def _open(self, pyaudio: Any, pa: Any, device_rate: int | None) -> None:
        kind = "output" if self._output else "input"
        errors = []
        for r in self._candidate_rates(pa, device_rate):
            self._setup(r)
            try:
                self._stream = pa.open(
                    rate=r,
                    channels=1,
                    format=pyaudio.paInt16,
                    input=not self._output,
                    output=self._output,
                    input_device_index=None if self._output else self._info.index,
                    output_device_index=self._info.index if self._output else None,
                    frames_per_buffer=self._device_block,
                    start=False,
                    stream_callback=self._callback,
                )
            except Exception as exc:
                errors.append(f"{r} Hz: {exc}")
                continue
            if r != self._rate:
                logger.info(
                    "%s device %r opened at %d Hz; converting to and from %d Hz", kind, self._info.name, r, self._rate
                )
            return
        tried = "; ".join(errors)
        raise AudioError(
            f"cannot open {kind} device {self._info.index} ({self._info.name!r}) at {self._rate} Hz (tried {tried})"
        )

    def _setup(self, device_rate: int) -> None:
        """Allocate everything the callback uses, for one device rate (before the stream opens)."""
        self._device_rate = device_rate
        self._device_block = max(1, round(device_rate * self._block_ms / 1000.0))
        self._resampling = device_rate != self._rate

    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[Any, int]:
        raise NotImplementedError

    # -- properties

    @property
    def rate(self) -> int:
        """The sample rate your code reads or writes, in Hz."""
        return self._rate

    @property
    def device_rate(self) -> int:
        """The rate the device stream actually runs at (differs from :attr:`rate` when converting)."""
        return self._device_rate

    @property
    def block_size(self) -> int:
        """Samples per block at :attr:`rate` (``rate * block_ms / 1000``)."""
        return self._block

    @property
    def device(self) -> DeviceInfo:
        """The device this stream was opened on."""
        return self._info

    @property
    def active(self) -> bool:
        """True while the stream is started and not closed."""
        stream = self._stream
        if stream is None or self._closed:
            return False
        try:
            return bool(stream.is_active())
        except Exception:
            return False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    @property
    def callback_errors(self) -> int:
        """Exceptions caught inside the audio callback (each one produced a block of silence)."""
        return self._callback_errors

    @property
    def last_callback_error(self) -> BaseException | None:
        """The most recent exception caught inside the audio callback, if any."""
        return self._last_callback_error

    # -- lifecycle

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")

    def _reset_for_start(self) -> None:
        """Hook: reset callback state while the stream is stopped."""

    def start(self) -> None:
        """Start the stream (PortAudio begins calling the callback). Does nothing if running.

        Raises:
            RuntimeError: the object is closed.
            AudioError: PortAudio failed to start the stream.
        """
        self._check_open()
        if self._stream.is_active():
            return
        try:
            if not self._stream.is_stopped():
                self._stream.stop_stream()  # finished by itself: PortAudio needs a stop before a start
        except Exception:
            logger.debug("stop before start failed", exc_info=True)
        self._reset_for_start()
        try:
            self._stream.start_stream()
        except Exception as exc:
            raise AudioError(f"cannot start stream on {self._info.name!r} at {self._device_rate} Hz: {exc}") from exc

    def stop(self) -> None:
        """Stop the stream; buffered samples are kept and :meth:`start` resumes. Idempotent."""
        if self._closed or self._stream is None:
            return
        try:
            if not self._stream.is_stopped():
                self._stream.stop_stream()
        except Exception as exc:
            if self._closed:  # closed by another thread meanwhile
                return
            raise AudioError(f"cannot stop stream on {self._info.name!r}: {exc}") from exc

    def close(self) -> None:
        """Stop and close the stream and terminate this object's PyAudio instance.

        Idempotent and callable from any thread except PortAudio's callback thread (rtsync's
        callbacks never call it). Errors from PortAudio while closing are logged, not raised.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            stream, pa = self._stream, self._pa
            self._pa = None
        try:
            if stream is not None:
                try:
                    if not stream.is_stopped():
                        stream.stop_stream()
                finally:
                    stream.close()
        except Exception:
            logger.debug("closing the %s stream failed", type(self).__name__, exc_info=True)
        finally:
            if pa is not None:
                try:
                    pa.terminate()
                except Exception:
                    logger.debug("PyAudio.terminate() failed", exc_info=True)

    def __enter__(self: _S) -> _S:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _to_rate(self, device_samples: int) -> int:
        """Convert a count of device frames to samples at :attr:`rate`."""
        if not self._resampling:
            return device_samples
        return device_samples * self._rate // self._device_rate


# --------------------------------------------------------------------------- microphone


class Microphone(_Stream):
    """Microphone input: a PortAudio callback stream of mono int16 samples.

    Which thread runs what:

    * **PortAudio's callback thread** runs only the internal callback. It copies each block
      PortAudio captured into a :class:`~rtsync.audio.ringbuffer.RingBuffer` and updates the
      counters. It never takes a lock, never allocates sample memory (it views PortAudio's
      bytes with ``np.frombuffer``, which creates only a small array header, and copies them
      once, into the ring), never logs, never touches a socket, never resamples, and never
      lets an exception escape (an exception is counted in :attr:`callback_errors` and the
      block is dropped).
    * **Your thread** (one consumer at a time; the consumer methods take a lock of their own,
      never shared with the callback) calls :meth:`read`, :meth:`read_block`,
      :attr:`available`, :attr:`level`, :meth:`clear`, and does the rate conversion when the
      device runs at another rate. :meth:`start`, :meth:`stop` and :meth:`close` may be
      called from any thread.

    The stream is opened in ``__init__`` (on the device, at ``rate`` or at the device's
    default rate when it refuses ``rate``) and starts on :meth:`start` or ``with``. If your
    code reads more slowly than the device captures, the ring buffer (``buffer_ms``) fills
    up and the newest samples are dropped and counted in :attr:`overruns` and
    :attr:`overrun_samples`.

    Args:
        rate: the rate of the samples you read, in Hz.
        block_ms: PortAudio's buffer size in milliseconds, and the size of :meth:`read_block`.
        device: ``None`` (default input), a device index, a name (exact, then substring) or a
            :class:`DeviceInfo`.
        buffer_ms: how much audio the ring buffer holds before overrunning.
        device_rate: open the device at this rate instead of negotiating it (the samples are
            converted to ``rate`` in :meth:`read`). ``None`` negotiates.

    Raises:
        AudioError: PyAudio/PortAudio missing, no such device, or the device cannot be opened
            (the message names the device and the rates tried).

    Example::

        with Microphone() as mic:
            while True:
                block = mic.read_block(timeout=1.0)   # 20 ms of int16 at 24 kHz
                ...
    """

    _output = False

    def __init__(
        self,
        rate: int = 24000,
        block_ms: float = 20,
        device: int | str | DeviceInfo | None = None,
        buffer_ms: float = 2000,
        *,
        device_rate: int | None = None,
    ) -> None:
        if buffer_ms <= 0:
            raise ValueError(f"buffer_ms must be positive, got {buffer_ms!r}")
        self._buffer_ms = float(buffer_ms)
        self._read_lock = threading.Lock()
        self._level = -math.inf
        self._empty: NDArray[np.int16] = np.zeros(0, dtype=np.int16)
        self._pending: NDArray[np.int16] = self._empty
        super().__init__(rate, block_ms, device, device_rate)

    def _setup(self, device_rate: int) -> None:
        super()._setup(device_rate)
        capacity = max(round(device_rate * self._buffer_ms / 1000.0), 2 * self._device_block)
        self._ring = RingBuffer(_pow2_at_least(capacity), np.int16)
        self._resampler = Resampler(device_rate, self._rate) if self._resampling else None
        self._pending = self._empty
        self._blocks = 0
        self._overruns = 0
        self._overrun_samples = 0
        self._input_overflows = 0
        self._result = (None, _PA_CONTINUE)  # preallocated return value of the callback

    # -- the real-time callback (PortAudio's thread)

    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[Any, int]:
        try:
            self._blocks += 1
            lost = False
            if status & _PA_INPUT_OVERFLOW:
                self._input_overflows += 1
                lost = True
            if in_data is not None:
                dropped = frame_count - self._ring.write_bytes(in_data)
                if dropped > 0:
                    self._overrun_samples += dropped
                    lost = True
            if lost:
                self._overruns += 1
        except BaseException as exc:
            self._callback_errors += 1
            self._last_callback_error = exc
        return self._result

    # -- consumer side (your thread)

    def _fill(self, n: int) -> int:
        """Convert device-rate samples from the ring into ``_pending`` until it holds ``n``."""
        assert self._resampler is not None
        pending = self._pending
        while len(pending) < n:
            avail = self._ring.read_available
            if avail <= 0:
                break
            chunk = np.empty(avail, dtype=np.int16)
            got = self._ring.readinto(chunk)
            if got <= 0:
                break
            out = self._resampler.process(chunk[:got])
            pending = np.concatenate((pending, out)) if len(pending) else out
        self._pending = pending
        return len(pending)

    def _read_locked(self, n: int) -> NDArray[np.int16]:
        if n <= 0:
            return np.zeros(0, dtype=np.int16)
        if self._resampler is None:
            out = np.empty(min(n, self._ring.read_available), dtype=np.int16)
            got = self._ring.readinto(out)
            out = out[:got]
        else:
            self._fill(n)
            out = self._pending[:n].copy()
            self._pending = self._pending[n:]
        if len(out):
            rms = math.sqrt(float(np.mean(np.square(out, dtype=np.float64))))
            self._level = 20.0 * math.log10(rms / 32768.0) if rms > 0 else -math.inf
        return out

    def read(self, n: int) -> NDArray[np.int16]:
        """Return up to ``n`` captured samples at :attr:`rate`, oldest first, without waiting.

        Args:
            n: the most samples to return.

        Returns:
            A new int16 array of exactly ``n`` samples, or fewer (possibly none) when fewer
            are available.

        Called on: your thread (never the callback thread).
        """
        with self._read_lock:
            return self._read_locked(int(n))

    def read_block(self, timeout: float | None = None) -> NDArray[np.int16]:
        """Wait for one block (:attr:`block_size` samples at :attr:`rate`) and return it.

        Polls every quarter of a block; takes no lock that the callback uses.

        Args:
            timeout: the longest wait in seconds; ``None`` waits as long as the stream runs.

        Returns:
            :attr:`block_size` samples, or fewer (possibly none) when the timeout expires or
            the stream is not running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = self._block_ms / 4000.0
        n = self._block
        while True:
            with self._read_lock:
                ready = self._fill(n) if self._resampler is not None else self._ring.read_available
                if ready >= n or not self.active:
                    return self._read_locked(n)
                if deadline is not None and time.monotonic() >= deadline:
                    return self._read_locked(n)
            time.sleep(poll)

    @property
    def available(self) -> int:
        """Samples :meth:`read` can return now, at :attr:`rate`.

        Exact when the device runs at :attr:`rate`; an estimate (within a few samples) when
        converting, because the converter holds back a few samples of look-ahead.
        """
        if self._resampler is None:
            return self._ring.read_available
        return len(self._pending) + self._to_rate(self._ring.read_available)

    def clear(self) -> None:
        """Discard everything captured so far (e.g. after a turn was committed)."""
        with self._read_lock:
            self._ring.flush()
            self._pending = self._empty
            if self._resampler is not None:
                self._resampler.reset()

    @property
    def level(self) -> float:
        """RMS level of the last block returned by :meth:`read`, in dBFS (``-inf`` for silence).

        0 dBFS is the RMS of a full-scale square wave; a full-scale sine is about -3 dBFS.
        Computed on your thread when you read, never in the callback.
        """
        return self._level

    @property
    def blocks(self) -> int:
        """Blocks PortAudio delivered to the callback since the stream opened."""
        return self._blocks

    @property
    def overruns(self) -> int:
        """Blocks in which input was lost: the ring buffer was full, or PortAudio reported overflow."""
        return self._overruns

    @property
    def overrun_samples(self) -> int:
        """Samples (device frames) dropped because the ring buffer was full."""
        return self._overrun_samples

    @property
    def input_overflows(self) -> int:
        """Callbacks in which PortAudio flagged ``paInputOverflow`` (input lost before rtsync saw it)."""
        return self._input_overflows

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("active" if self.active else "stopped")
        return (
            f"<Microphone {self._info.name!r} rate={self._rate} device_rate={self._device_rate} "
            f"{state} blocks={self._blocks} overruns={self._overruns}>"
        )


# --------------------------------------------------------------------------- speaker


def _ndarray_return_ok() -> bool:
    # PyAudio parses the callback's return value with "z#", which accepts any buffer whose type
    # has no bf_releasebuffer slot. numpy arrays qualify, so the callback can return its
    # preallocated array instead of a new bytes object. Python >= 3.12 shows the slot as
    # __release_buffer__; if a future numpy grows one, fall back to .tobytes().
    return not hasattr(np.ndarray, "__release_buffer__")


class Speaker(_Stream):
    """Speaker output: a PortAudio callback stream of mono int16 samples, with barge-in.

    Which thread runs what:

    * **Your thread** (the producer) calls :meth:`write` (and :meth:`end_of_stream`,
      :meth:`wait_until_drained`). ``write`` converts to the device rate when needed and puts
      the samples in a :class:`~rtsync.audio.ringbuffer.RingBuffer`; concurrent writers are
      serialised by a producer-side lock that the callback never takes. If the ring buffer
      (``buffer_ms``) is full, the samples that do not fit are **dropped** and counted in
      :attr:`overruns`/:attr:`overrun_samples` (pass ``timeout=`` to wait for room instead).
    * **Any thread** may call :meth:`interrupt` (barge-in), :meth:`start`, :meth:`stop`,
      :meth:`close` and read the counters.
    * **PortAudio's callback thread** runs only the internal callback. It copies the next
      block from the ring buffer into a preallocated array and returns that same array to
      PortAudio (no ``bytes`` object per block). It never takes a lock, never allocates
      sample memory, never logs, never touches a socket, never resamples, and never lets an
      exception escape (an exception is counted in :attr:`callback_errors` and the block is
      silence). Requests reach it as messages: an
      interrupt counter it compares with the last one it saw, and an end-of-stream mark.

    Playback rules:

    * **Prebuffer** (jitter buffer): after :meth:`start`, an underrun or an interrupt, the
      callback plays silence until ``prebuffer_ms`` of audio is queued, so that audio
      arriving in bursts plays smoothly. :meth:`end_of_stream` (also called by
      :meth:`wait_until_drained`) marks that everything written so far must play even if it
      is shorter than the prebuffer, so the tail of a reply is never stuck.
    * **Underrun**: when the ring buffer runs dry in the middle of a block (and not at an
      end-of-stream mark), the rest of the block is zeros; :attr:`underruns` counts such
      blocks and :attr:`underrun_samples` the zeros. Playback resumes after the prebuffer
      refills. Running dry at an end-of-stream mark is the normal end and is not counted.
    * **Interrupt** (:meth:`interrupt`): everything queued is discarded (``RingBuffer.flush``)
      and the sound stops within one block: the callback fades the next ``fade_ms`` of
      audio it already holds (a linear ramp to zero, so there is no click), then plays
      silence until new audio reaches the prebuffer. Samples written after ``interrupt()``
      returns play normally.

    The callback keeps a look-ahead of up to ``max_fade_ms`` samples read from the ring
    buffer beyond the block it returns; they are what an interrupt fades out. This costs no
    latency (the output sequence is unchanged) and is counted in :attr:`queued_samples`.

    :meth:`close` (and leaving ``with``) drops whatever is still queued: call
    :meth:`wait_until_drained` first to hear the end.

    Args:
        rate: the rate of the samples you write, in Hz.
        block_ms: PortAudio's buffer size in milliseconds.
        device: ``None`` (default output), a device index, a name (exact, then substring) or
            a :class:`DeviceInfo`.
        buffer_ms: how much audio the ring buffer holds (a reply usually arrives faster than
            real time).
        prebuffer_ms: how much audio must be queued before playback starts or resumes.
        device_rate: open the device at this rate instead of negotiating it (``write``
            converts). ``None`` negotiates.
        max_fade_ms: the longest fade-out an :meth:`interrupt` can ask for (at most one block).

    Raises:
        AudioError: PyAudio/PortAudio missing, no such device, or the device cannot be opened
            (the message names the device and the rates tried).

    Example::

        with Speaker() as spk:
            spk.write(samples)            # int16 at 24 kHz, or pcm16 bytes
            spk.wait_until_drained()
    """

    _output = True

    def __init__(
        self,
        rate: int = 24000,
        block_ms: float = 20,
        device: int | str | DeviceInfo | None = None,
        buffer_ms: float = 10000,
        prebuffer_ms: float = 60,
        *,
        device_rate: int | None = None,
        max_fade_ms: float = 10,
    ) -> None:
        if buffer_ms <= 0:
            raise ValueError(f"buffer_ms must be positive, got {buffer_ms!r}")
        if prebuffer_ms < 0 or prebuffer_ms > buffer_ms:
            raise ValueError(f"prebuffer_ms must be between 0 and buffer_ms, got {prebuffer_ms!r}")
        if max_fade_ms < 0:
            raise ValueError(f"max_fade_ms must not be negative, got {max_fade_ms!r}")
        self._buffer_ms = float(buffer_ms)
        self._prebuffer_ms = float(prebuffer_ms)
        self._max_fade_ms = float(max_fade_ms)
        self._write_lock = threading.Lock()
        self._interrupt_lock = threading.Lock()
        self._return_array = _ndarray_return_ok()
        super().__init__(rate, block_ms, device, device_rate)

    def _setup(self, device_rate: int) -> None:
        super()._setup(device_rate)
        n = self._device_block
        capacity = max(round(device_rate * self._buffer_ms / 1000.0), 2 * n)
        self._ring = RingBuffer(_pow2_at_least(capacity), np.int16)
        self._lookahead = min(n, max(0, round(device_rate * self._max_fade_ms / 1000.0)))
        self._prebuffer = min(max(0, round(device_rate * self._prebuffer_ms / 1000.0)), self._ring.capacity)
        # Preallocated callback memory: the block plus the look-ahead, silence, the fade ramp.
        self._buf: NDArray[np.int16] = np.zeros(n + self._lookahead, dtype=np.int16)
        self._buf_bytes = self._buf.data.cast("B")  # the steady-state copies go through bytes
        self._silence: NDArray[np.int16] = np.zeros(n, dtype=np.int16)
        self._iota: NDArray[np.float32] = np.arange(1, self._lookahead + 1, dtype=np.float32)
        self._fade: NDArray[np.float32] = np.zeros(self._lookahead, dtype=np.float32)
        self._result = (self._buf, _PA_CONTINUE)
        self._silence_result = (self._silence, _PA_CONTINUE)
        self._resampler = Resampler(self._rate, device_rate) if self._resampling else None
        self._reset_resampler = False
        # Callback-owned state (written only by the callback while the stream runs).
        self._state = _PREBUFFERING
        self._carry = 0  # look-ahead samples held at _buf[_carry_at : _carry_at + _carry]
        self._carry_at = 0
        self._interrupt_seen = 0
        self._played = 0
        self._underruns = 0
        self._underrun_samples = 0
        self._output_underflows = 0
        # Messages to the callback (written by other threads).
        self._interrupt_req = 0  # incremented by interrupt()
        self._interrupt_flushed = 0  # set to the request number once its flush() was issued
        self._fade_len = 0
        self._eos_mark = 0  # ring write index up to which audio must play without prebuffer
        # Producer-side counters.
        self._overruns = 0
        self._overrun_samples = 0

    def _reset_for_start(self) -> None:
        # The stream is stopped here, so the callback is not running.
        self._state = _PREBUFFERING
        if self._interrupt_seen != self._interrupt_req:
            self._carry = 0  # interrupted while stopped: the look-ahead belongs to the old audio
            self._interrupt_seen = self._interrupt_req

    # -- the real-time callback (PortAudio's thread)

    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[Any, int]:
        try:
            if status & _PA_OUTPUT_UNDERFLOW:
                self._output_underflows += 1
            n = frame_count
            buf = self._buf
            if n > self._device_block:  # never happens with a fixed frames_per_buffer
                self._callback_errors += 1
                return (bytes(2 * n), _PA_CONTINUE)
            carry = self._carry
            raw = self._buf_bytes
            if carry and self._carry_at:
                at = 2 * self._carry_at
                raw[: 2 * carry] = raw[at : at + 2 * carry]
                self._carry_at = 0

            req = self._interrupt_req
            if req != self._interrupt_seen:
                return self._fade_out(req, carry, n)

            state = self._state
            ring = self._ring
            if state == _INTERRUPTED:
                if self._interrupt_flushed != self._interrupt_seen:
                    return self._silence_result if self._return_array else (self._silence.tobytes(), _PA_CONTINUE)
                state = self._state = _PREBUFFERING
            if state == _PREBUFFERING:
                ready = ring.read_available  # a pending flush already taken into account
                if ready + carry <= 0:
                    return self._silence_result if self._return_array else (self._silence.tobytes(), _PA_CONTINUE)
                # Audio up to the end-of-stream mark plays even below the prebuffer. The first
                # unplayed sample's index is total_written - ready - carry (loaded in this order,
                # a concurrent write can only make it look later, i.e. wait for the prebuffer).
                tail = self._eos_mark > ring.total_written - ready - carry
                if ready + carry < self._prebuffer and not tail:
                    return self._silence_result if self._return_array else (self._silence.tobytes(), _PA_CONTINUE)
                self._state = _PLAYING

            got = ring.readinto_bytes(raw[2 * carry : 2 * (n + self._lookahead)])
            valid = carry + got
            if valid >= n:
                self._carry = valid - n
                self._carry_at = n
                self._played += n
            else:
                req = self._interrupt_req
                if req != self._interrupt_seen:
                    # interrupt() ran while this block was being read, and its flush emptied
                    # the queue: not an underrun, a barge-in.
                    return self._fade_out(req, valid, n)
                buf[valid:n] = 0
                self._carry = 0
                self._played += valid
                self._state = _PREBUFFERING
                if ring.total_read > self._eos_mark:
                    self._underruns += 1
                    self._underrun_samples += n - valid
        except BaseException as exc:
            self._callback_errors += 1
            self._last_callback_error = exc
            self._carry = 0
            self._state = _PREBUFFERING
            return self._silence_result if self._return_array else (bytes(2 * frame_count), _PA_CONTINUE)
        return self._result if self._return_array else (buf[:n].tobytes(), _PA_CONTINUE)

    def _fade_out(self, request: int, have: int, n: int) -> tuple[Any, int]:
        """Callback part of a barge-in: fade the ``have`` samples at the front of the block buffer.

        Ramps the first ``min(fade, have)`` of them linearly to zero, zeroes the rest of the
        block, and goes silent until the interrupt's flush has been issued.
        """
        buf = self._buf
        self._interrupt_seen = request
        m = self._fade_len
        if m > have:
            m = have
        if m > 0:
            fade = self._fade[:m]
            np.multiply(self._iota[:m], -1.0 / m, out=fade)
            fade += 1.0  # 1 - (i + 1) / m: reaches 0 at the last sample
            np.multiply(buf[:m], fade, out=fade)
            buf[:m] = fade
            self._played += m
        buf[m:n] = 0
        self._carry = 0
        self._state = _INTERRUPTED
        return self._result if self._return_array else (buf[:n].tobytes(), _PA_CONTINUE)

    # -- producer side

    def write(self, samples: Any, timeout: float = 0.0) -> int:
        """Queue samples for playback.

        Args:
            samples: mono int16 samples at :attr:`rate`: a numpy int16 array or pcm16 bytes
                (little-endian).
            timeout: seconds to wait for room in the ring buffer; ``0`` (default) drops what
                does not fit at once. An :meth:`interrupt` during the wait ends it.

        Returns:
            The number of samples (at :attr:`rate`) queued; less than ``len(samples)`` when
            some were dropped (counted in :attr:`overruns` and :attr:`overrun_samples`).
            0 once the speaker is closed (a late write is not an error).

        Raises:
            TypeError: ``samples`` is neither int16 nor bytes.
            ValueError: ``samples`` is bytes of odd length.

        Called on: your thread (any thread; writers are serialised).
        """
        if isinstance(samples, (bytes, bytearray, memoryview)):
            x = np.frombuffer(samples, dtype="<i2").astype(np.int16, copy=False)
        else:
            x = np.asarray(samples)
            if x.dtype != np.int16:
                raise TypeError(f"Speaker.write() takes int16 samples or pcm16 bytes, not {x.dtype}")
            x = x.reshape(-1)
        if len(x) == 0 or self._closed:
            return 0
        with self._write_lock:
            generation = self._interrupt_req
            if self._resampler is not None:
                if self._reset_resampler:
                    self._reset_resampler = False
                    self._resampler.reset()
                y = self._resampler.process(x)
            else:
                y = x
            done = self._ring.write(y)
            if done < len(y) and timeout > 0:
                deadline = time.monotonic() + timeout
                poll = self._block_ms / 4000.0
                while done < len(y) and self._interrupt_req == generation and time.monotonic() < deadline:
                    time.sleep(poll)
                    if self._interrupt_req != generation:
                        break
                    done += self._ring.write(y[done:])
            dropped = len(y) - done
            if dropped <= 0:
                return len(x)
            self._overruns += 1
            self._overrun_samples += dropped
            return min(len(x), done * self._rate // self._device_rate)

    def end_of_stream(self) -> None:
        """Mark that everything written so far must play, even if shorter than the prebuffer.

        Call it when a reply is complete (e.g. on ``response.audio.done``). When playback
        then runs dry at this mark, that is the normal end, not an underrun. Writing more
        afterwards starts a new stream with the usual prebuffer.

        Called on: your thread (the writer's; it flushes the rate converter's tail).
        """
        with self._write_lock:
            if self._resampler is not None and not self._reset_resampler:
                tail = self._resampler.flush()
                if len(tail):
                    self._ring.write(tail)
            self._eos_mark = self._ring.total_written

    def interrupt(self, fade_ms: float = 5.0) -> None:
        """Barge-in: stop playback within one block, with a short fade-out, and drop the queue.

        Everything written before this call is discarded. The callback fades out the next
        ``fade_ms`` (at most ``max_fade_ms``) of the audio it already holds, then plays
        silence; audio written after this call returns plays once it reaches the prebuffer.

        Args:
            fade_ms: length of the linear fade to zero, in milliseconds (0 cuts at once).

        Called on: any thread; never blocks on the callback.
        """
        fade = max(0, min(self._lookahead, round(self._device_rate * max(0.0, fade_ms) / 1000.0)))
        with self._interrupt_lock:
            request = self._interrupt_req + 1
            self._fade_len = fade
            self._interrupt_req = request  # message 1: fade out what you hold, go silent
            self._ring.flush()  # drop what was queued before this point
            self._interrupt_flushed = request  # message 2: the flush is issued, resume after it
            self._reset_resampler = True

    def wait_until_drained(self, timeout: float | None = None) -> bool:
        """Play out everything queued, then wait until it has been handed to the device.

        Calls :meth:`end_of_stream` first, so a tail shorter than the prebuffer plays too,
        and after the queue is empty waits for the device's own output latency so the last
        sample has left the speaker.

        Args:
            timeout: the longest wait in seconds; ``None`` waits as long as the stream runs.

        Returns:
            True when everything queued was played; False on timeout or when the stream is
            not running (a stopped stream cannot drain).
        """
        self.end_of_stream()
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = self._block_ms / 4000.0
        while self._ring.read_available > 0 or self._carry > 0:
            if not self.active:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        latency = self.device_latency
        if deadline is not None:
            latency = min(latency, max(0.0, deadline - time.monotonic()))
        if latency > 0:
            time.sleep(latency)
        return True

    # -- counters and state (any thread)

    @property
    def device_latency(self) -> float:
        """PortAudio's reported output latency in seconds (audio handed over but not yet heard)."""
        stream = self._stream
        if stream is None or self._closed:
            return 0.0
        try:
            return float(stream.get_output_latency())
        except Exception:
            return 0.0

    @property
    def played_samples(self) -> int:
        """Samples (at :attr:`rate`) the callback has handed to PortAudio from the queue.

        Excludes the silence of prebuffering, underruns and interrupts; includes a fade-out.
        Use it to tell the server how much of a reply was heard (``audio_end_ms``).
        """
        return self._to_rate(self._played)

    @property
    def interrupt_pending(self) -> bool:
        """True from :meth:`interrupt` until the callback has faded out the old audio.

        Once it is False again, :attr:`played_samples` is final for everything written before
        the interrupt (a stopped stream never clears it).
        """
        return self._interrupt_seen != self._interrupt_req

    @property
    def played_frames_device(self) -> int:
        """Like :attr:`played_samples`, in frames at :attr:`device_rate`."""
        return self._played

    @property
    def queued_samples(self) -> int:
        """Samples (at :attr:`rate`) written but not yet handed to PortAudio."""
        return self._to_rate(self._ring.read_available + self._carry)

    @property
    def write_available(self) -> int:
        """Samples (at :attr:`rate`) that :meth:`write` can queue now without dropping."""
        return self._to_rate(self._ring.write_available)

    @property
    def underruns(self) -> int:
        """Blocks in which the queue ran dry mid-stream and the rest of the block was zeros."""
        return self._underruns

    @property
    def underrun_samples(self) -> int:
        """Zeros (at :attr:`rate`) inserted because of underruns."""
        return self._to_rate(self._underrun_samples)

    @property
    def overruns(self) -> int:
        """:meth:`write` calls that dropped samples because the ring buffer was full."""
        return self._overruns

    @property
    def overrun_samples(self) -> int:
        """Samples (at :attr:`device_rate`) dropped by :meth:`write` because the ring buffer was full."""
        return self._overrun_samples

    @property
    def output_underflows(self) -> int:
        """Callbacks in which PortAudio flagged ``paOutputUnderflow`` (the callback was late)."""
        return self._output_underflows

    @property
    def playing(self) -> bool:
        """True while the callback is playing queued audio (not prebuffering or interrupted)."""
        return self._state == _PLAYING

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("active" if self.active else "stopped")
        return (
            f"<Speaker {self._info.name!r} rate={self._rate} device_rate={self._device_rate} {state} "
            f"played={self.played_samples} queued={self.queued_samples} underruns={self._underruns}>"
        )
