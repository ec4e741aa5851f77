"""Audio for rtsync: formats, the lock-free ring buffer, and PortAudio devices.

The API, by group:

* Ring buffer: :class:`RingBuffer` (single producer, single consumer, no locks).
* Devices: :class:`Microphone`, :class:`Speaker`, :func:`list_devices`, :class:`DeviceInfo`
  (PyAudio is imported only when one of these is first used).
* Playout: :class:`Playout`, the speaker's playout state machine (prebuffer, underruns,
  fade-out on interrupt, end of stream), pure: no device needed.
* Echo cancellation: :class:`EchoCanceller` (its library, from ``pip install 'rtsync[aec]'``, is
  imported only when a canceller is created).
* Sample types: :func:`pcm16_to_float32`, :func:`float32_to_pcm16` (alias ``float_to_pcm16``).
* G.711: :func:`ulaw_encode`, :func:`ulaw_decode`, :func:`alaw_encode`, :func:`alaw_decode`.
* Resampling: :func:`resample`, :class:`Resampler`.
* WAV files: :func:`read_wav`, :func:`write_wav`.
* base64: :func:`b64encode_pcm16`, :func:`b64decode_pcm16`, :func:`b64encode_bytes`,
  :func:`b64decode_bytes`.
* Realtime formats: :data:`FORMAT_RATES`, :func:`bytes_per_ms`, :func:`encode_audio`,
  :func:`decode_audio`.

Importing :mod:`rtsync.audio` loads numpy but never PyAudio, so text-only programs and
servers need no PortAudio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rtsync.audio.formats import (
    FORMAT_RATES,
    Resampler,
    alaw_decode,
    alaw_encode,
    b64decode_bytes,
    b64decode_pcm16,
    b64encode_bytes,
    b64encode_pcm16,
    bytes_per_ms,
    decode_audio,
    encode_audio,
    float32_to_pcm16,
    float_to_pcm16,
    pcm16_to_float32,
    read_wav,
    resample,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)
from rtsync.audio.playout import Playout
from rtsync.audio.ringbuffer import RingBuffer

if TYPE_CHECKING:
    from rtsync.audio.devices import DeviceInfo, Microphone, Speaker, list_devices
    from rtsync.audio.echo import EchoCanceller

__all__ = [
    "FORMAT_RATES",
    "DeviceInfo",
    "EchoCanceller",
    "Microphone",
    "Playout",
    "Resampler",
    "RingBuffer",
    "Speaker",
    "alaw_decode",
    "alaw_encode",
    "b64decode_bytes",
    "b64decode_pcm16",
    "b64encode_bytes",
    "b64encode_pcm16",
    "bytes_per_ms",
    "decode_audio",
    "encode_audio",
    "float32_to_pcm16",
    "float_to_pcm16",
    "list_devices",
    "pcm16_to_float32",
    "read_wav",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]

_DEVICE_NAMES = frozenset({"DeviceInfo", "Microphone", "Speaker", "list_devices"})


def __getattr__(name: str) -> Any:
    # The device classes live in rtsync.audio.devices, loaded on first use; that module in turn
    # imports PyAudio only when a stream is opened or devices are listed.
    if name in _DEVICE_NAMES:
        try:
            devices = importlib.import_module("rtsync.audio.devices")
        except ModuleNotFoundError as exc:
            if exc.name != "rtsync.audio.devices":
                raise
            raise AttributeError(f"rtsync.audio.{name} is unavailable: rtsync.audio.devices is missing") from exc
        value = getattr(devices, name)
        globals()[name] = value
        return value
    if name == "EchoCanceller":
        from rtsync.audio.echo import EchoCanceller  # imports its backend library only when created

        globals()[name] = EchoCanceller
        return EchoCanceller
    raise AttributeError(f"module 'rtsync.audio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _DEVICE_NAMES | {"EchoCanceller"})
