"""The stream base that :class:`~rtsync.audio.Microphone` and :class:`~rtsync.audio.Speaker` share.

One PyAudio *callback* stream of mono int16 samples per object, with its own ``PyAudio``
instance (created in ``__init__``, terminated by ``close()``), so objects can be opened and
closed independently from different threads. Opening negotiates the rate: the stream runs at
``rate`` when the device accepts it, else at the device's default rate, and the subclass
converts between the two *outside* the callback; ``device_rate=`` forces a particular device
rate. Device probing and opening run with the C libraries' stderr silenced (see
:mod:`rtsync.audio.portaudio`).
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from rtsync._log import logger
from rtsync.audio.portaudio import (
    _PA_INT16,
    DeviceInfo,
    _new_pyaudio,
    _quiet_c_stderr,
    _resolve_device,
    _terminate,
)
from rtsync.errors import AudioError

__all__: list[str] = []

_S = TypeVar("_S", bound="_Stream")


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
            with _quiet_c_stderr():  # resolving and opening probe the device too
                self._info = _resolve_device(pa, device, self._output, self._rate)
                self._open(pyaudio, pa, device_rate)
        except BaseException:
            self._pa = None
            _terminate(pa)
            raise
        if self._device_rate != self._rate:  # logged here, not while stderr is silenced
            logger.info(
                "%s device %r opened at %d Hz; converting to and from %d Hz",
                "output" if self._output else "input", self._info.name, self._device_rate, self._rate,
            )

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
                _terminate(pa)

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
