"""Audio formats: pcm16/float conversion, G.711, resampling, WAV files and base64.

Everything here is plain numpy (no scipy, no ``audioop``) and works on 1-D arrays of mono
samples. The API, by group:

* Sample types: :func:`pcm16_to_float32`, :func:`float32_to_pcm16`.
* G.711: :func:`ulaw_encode`, :func:`ulaw_decode`, :func:`alaw_encode`, :func:`alaw_decode`.
* Resampling: :func:`resample` for a whole signal, :class:`Resampler` for a stream of blocks.
* WAV files: :func:`read_wav`, :func:`write_wav`.
* base64: :func:`b64encode_pcm16`, :func:`b64decode_pcm16`, :func:`b64encode_bytes`,
  :func:`b64decode_bytes`.
* Realtime formats by name (``pcm16``, ``g711_ulaw``, ``g711_alaw``): :data:`FORMAT_RATES`,
  :func:`bytes_per_ms`, :func:`encode_audio`, :func:`decode_audio`.

None of these functions is meant for a PortAudio callback: they allocate their results.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import os
import struct
import wave
from typing import IO, Any, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from rtsync.errors import AudioError

__all__ = [
    "FORMAT_RATES",
    "Resampler",
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
    "pcm16_to_float32",
    "read_wav",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

#: Sample rate of each Realtime audio format, by its name in ``session.update``.
FORMAT_RATES: dict[str, int] = {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}

_FORMAT_WIDTHS = {"pcm16": 2, "g711_ulaw": 1, "g711_alaw": 1}


# --------------------------------------------------------------------------- sample types


def pcm16_to_float32(x: ArrayLike) -> NDArray[np.float32]:
    """Convert int16 samples to float32 in ``[-1, 1)`` by dividing by 32768.

    The conversion is exact and :func:`float32_to_pcm16` inverts it exactly.
    """
    a = np.asarray(x)
    return np.multiply(a, np.float32(1.0 / 32768.0), dtype=np.float32)


def float32_to_pcm16(x: ArrayLike) -> NDArray[np.int16]:
    """Convert float samples in ``[-1, 1]`` to int16.

    Samples are scaled by 32768 (so that ``pcm16_to_float32`` round-trips exactly), rounded to
    the nearest integer (ties to even) and clipped to ``[-32768, 32767]``: ``-1.0`` becomes
    -32768 and ``1.0`` becomes 32767. NaN becomes 0.
    """
    a = np.asarray(x)
    ftype = np.float64 if a.dtype == np.float64 else np.float32
    y = np.multiply(a, 32768.0, dtype=ftype)
    np.rint(y, out=y)
    np.clip(y, -32768.0, 32767.0, out=y)
    np.nan_to_num(y, copy=False, nan=0.0)
    return y.astype(np.int16)


#: Alias of :func:`float32_to_pcm16` (any float dtype is accepted).
float_to_pcm16 = float32_to_pcm16


def _as_int16(x: ArrayLike, what: str) -> NDArray[np.int16]:
    """Return ``x`` as int16: int16 passes through, other integers are clipped, floats refused."""
    a = np.asarray(x)
    if a.dtype == np.int16:
        return a
    if a.dtype.kind in "iu":
        return np.clip(a, -32768, 32767).astype(np.int16)
    if a.dtype.kind == "f":
        raise TypeError(f"{what} takes int16 samples, got {a.dtype}; convert with float32_to_pcm16()")
    raise TypeError(f"{what} takes int16 samples, got {a.dtype}")


# --------------------------------------------------------------------------- G.711
#
# Bit-exact with the Sun Microsystems reference g711.c (the revision of December 30, 1994 that
# converts unquantised 16-bit values, as distributed with the COST 250 reference system and as
# used by CPython's former audioop module). mu-law: the input is shifted to 14 bits, the
# magnitude is clipped at 8159 and biased by 33 (0x84 >> 2); A-law: the input is shifted to
# 13 bits and negative values are one's-complemented. Both are tabulated once, on first use.

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _all_int16_by_uint16_index() -> NDArray[np.int32]:
    # Entry i holds the int16 whose bit pattern is i, so table[x.view(np.uint16)] looks x up.
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


@functools.cache
def _ulaw_tables() -> tuple[NDArray[np.uint8], NDArray[np.int16]]:
    pcm = _all_int16_by_uint16_index() >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + 33
    seg = np.searchsorted(_SEG_UEND, mag, side="left")
    quant = (mag >> np.minimum(seg + 1, 15)) & 0xF
    code = np.where(seg >= 8, 0x7F, (seg << 4) | quant) ^ mask
    encode = code.astype(np.uint8)

    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0xF) << 3) + 0x84) << ((u & 0x70) >> 4)
    decode = np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)
    encode.flags.writeable = False
    decode.flags.writeable = False
    return encode, decode


@functools.cache
def _alaw_tables() -> tuple[NDArray[np.uint8], NDArray[np.int16]]:
    pcm = _all_int16_by_uint16_index() >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    shift = np.where(seg < 2, 1, np.minimum(seg, 15))
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> shift) & 0xF)) ^ mask
    encode = code.astype(np.uint8)

    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg_d = (a & 0x70) >> 4
    t = (a & 0xF) << 4
    t = np.where(seg_d == 0, t + 8, (t + 0x108) << np.maximum(seg_d - 1, 0))
    decode = np.where(a & 0x80, t, -t).astype(np.int16)
    encode.flags.writeable = False
    decode.flags.writeable = False
    return encode, decode


def ulaw_encode(samples: ArrayLike) -> NDArray[np.uint8]:
    """Encode int16 samples as G.711 mu-law bytes (one ``uint8`` code per sample)."""
    x = _as_int16(samples, "ulaw_encode()")
    return _ulaw_tables()[0][x.view(np.uint16)]


def ulaw_decode(codes: ArrayLike | bytes) -> NDArray[np.int16]:
    """Decode G.711 mu-law codes (``uint8`` array or ``bytes``) to int16 samples."""
    return _ulaw_tables()[1][_as_codes(codes)]


def alaw_encode(samples: ArrayLike) -> NDArray[np.uint8]:
    """Encode int16 samples as G.711 A-law bytes (one ``uint8`` code per sample)."""
    x = _as_int16(samples, "alaw_encode()")
    return _alaw_tables()[0][x.view(np.uint16)]


def alaw_decode(codes: ArrayLike | bytes) -> NDArray[np.int16]:
    """Decode G.711 A-law codes (``uint8`` array or ``bytes``) to int16 samples."""
    return _alaw_tables()[1][_as_codes(codes)]


def _as_codes(codes: Any) -> NDArray[np.uint8]:
    if isinstance(codes, (bytes, bytearray, memoryview)):
        return np.frombuffer(codes, dtype=np.uint8)
    a = np.asarray(codes)
    if a.dtype != np.uint8:
        if a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() > 255)):
            raise ValueError(f"G.711 codes must be bytes or integers in 0..255, got {a.dtype}")
        a = a.astype(np.uint8)
    return a


# --------------------------------------------------------------------------- resampling
#
# Rational polyphase resampling. With L/M = to_rate/from_rate in lowest terms, the input is
# (notionally) upsampled by L with zeros, filtered by a windowed-sinc lowpass h at the rate
# from_rate * L, and every M-th sample is kept. Only the taps that meet non-zero input are
# computed: output n lies at t = n*M + c on the upsampled grid (c = the filter's centre, which
# compensates its group delay), and
#
#     y[n] = sum_k h[(t mod L) + k*L] * x[t div L - k],   k = 0 .. K-1
#
# so each output is a K-tap dot product with one of L polyphase filters.

_STOPBAND_DB = 80.0
_CUTOFF = 0.45  # -6 dB point, as a fraction of the lower of the two rates
_TRANSITION = 0.10  # full transition width, same unit: passband to 0.40, stopband from 0.50


class _Design:
    """The polyphase filter bank for one (from_rate, to_rate) pair; immutable and shared."""

    __slots__ = ("bank", "centre", "down", "taps", "up")

    def __init__(self, from_rate: int, to_rate: int) -> None:
        g = math.gcd(from_rate, to_rate)
        up, down = to_rate // g, from_rate // g
        self.up = up
        self.down = down
        if up == down:
            h = np.ones(1)
        else:
            fs = float(from_rate) * up  # rate of the upsampled grid
            low = float(min(from_rate, to_rate))
            fc = _CUTOFF * low / fs  # cycles per upsampled sample
            width = _TRANSITION * low / fs
            # Kaiser's estimates for the window's beta and the filter length.
            beta = 0.1102 * (_STOPBAND_DB - 8.7)
            n = math.ceil((_STOPBAND_DB - 7.95) / (2.285 * 2.0 * math.pi * width)) + 1
            n |= 1  # odd, so that the centre falls on a tap
            i = np.arange(n) - (n - 1) / 2.0
            h = 2.0 * fc * np.sinc(2.0 * fc * i) * np.kaiser(n, beta)
            h *= up / h.sum()  # unity gain at DC after zero-stuffing by `up`
        self.centre = (len(h) - 1) // 2
        taps = -(-len(h) // up)  # K, taps per phase
        padded = np.zeros(taps * up)
        padded[: len(h)] = h
        # bank[p] is phase p reversed, so that it dots with x[base - K + 1 .. base] in order.
        bank = padded.reshape(taps, up).T[:, ::-1]
        self.bank: NDArray[np.float64] = np.ascontiguousarray(bank)
        self.bank.flags.writeable = False
        self.taps = taps

    def locate(self, n: int) -> tuple[int, int]:
        """Return (base input index, phase) of output ``n``."""
        return divmod(n * self.down + self.centre, self.up)

    def outputs_for(self, n_inputs: int) -> int:
        """Number of outputs for a signal of ``n_inputs`` samples: ceil(n_inputs * L / M)."""
        return -(-n_inputs * self.up // self.down)

    def outputs_ready(self, n_inputs: int) -> int:
        """Number of leading outputs computable from the first ``n_inputs`` input samples."""
        # Output n is ready when its base index (n*M + c) // L is < n_inputs.
        top = n_inputs * self.up - self.centre  # need n*M < top
        return max(0, -(-top // self.down))

    def run(self, hist: NDArray[np.float64], hist_start: int, n0: int, n1: int) -> NDArray[np.float64]:
        """Compute outputs ``n0 .. n1-1`` from ``hist``, which holds input from ``hist_start``."""
        count = n1 - n0
        out = np.empty(count)
        if count <= 0:
            return out
        taps, up, down = self.taps, self.up, self.down
        windows = np.lib.stride_tricks.sliding_window_view(hist, taps)
        if count >= 8 * up:
            # Outputs n0 + r, n0 + r + L, ... share a phase and step M inputs: one strided
            # matrix-vector product per phase.
            for r in range(up):
                base, phase = self.locate(n0 + r)
                first = base - taps + 1 - hist_start
                m = (count - r + up - 1) // up
                out[r::up] = windows[first : first + (m - 1) * down + 1 : down] @ self.bank[phase]
        else:
            # Few outputs per phase (large L, short block): gather rows and phases instead.
            grid = np.arange(n0, n1, dtype=np.int64) * down + self.centre
            bases, phases = np.divmod(grid, up)
            rows = windows[bases - (taps - 1 + hist_start)]
            out[:] = np.einsum("ij,ij->i", rows, self.bank[phases])
        return out


@functools.lru_cache(maxsize=64)
def _design(from_rate: int, to_rate: int) -> _Design:
    return _Design(from_rate, to_rate)


def _check_rate(rate: Any, name: str) -> int:
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0:
        raise ValueError(f"{name} must be a positive integer number of Hz, got {rate!r}")
    return int(rate)


def _finish(y: NDArray[np.float64], integer: bool) -> NDArray[Any]:
    if integer:
        np.rint(y, out=y)
        np.clip(y, -32768.0, 32767.0, out=y)
        return y.astype(np.int16)
    return y.astype(np.float32)


class Resampler:
    """Streaming sample-rate converter that keeps its filter state between blocks.

    Feeding a signal through :meth:`process` in blocks of any sizes and then calling
    :meth:`flush` gives the same samples as one :func:`resample` call on the whole signal. The
    arithmetic is float64, so a different summation order for some block size could at most
    move a float32 result by its last bit or an int16 result by 1 LSB; in the tests every
    sample comes out identical. Output lags input by about
    half the filter length: 1 ms when upsampling from 24 kHz, 6 ms from 24 kHz down to 8 kHz.

    The filter is a rational polyphase windowed-sinc (Kaiser window, 80 dB stopband) with its
    -6 dB point at 0.45 times the lower of the two rates: flat to 0.40, at least 80 dB down
    from the lower rate's Nyquist frequency (0.50) on, so nothing aliases into the band.

    Args:
        from_rate: input rate in Hz.
        to_rate: output rate in Hz.
        dtype: output sample type: ``np.int16`` (rounded and clipped) or a float type
            (``float32`` out). Input values are taken as they are, without scaling.

    Not thread-safe: use one instance per stream, from one thread at a time.
    """

    def __init__(self, from_rate: int, to_rate: int, dtype: DTypeLike = np.int16) -> None:
        self.from_rate = _check_rate(from_rate, "from_rate")
        self.to_rate = _check_rate(to_rate, "to_rate")
        kind = np.dtype(dtype).kind
        if kind not in "iuf":
            raise TypeError(f"Resampler dtype must be int16 or a float type, got {np.dtype(dtype)}")
        self.dtype: np.dtype[Any] = np.dtype(np.int16) if kind in "iu" else np.dtype(np.float32)
        self._design = _design(self.from_rate, self.to_rate)
        self.reset()

    def reset(self) -> None:
        """Forget all input: the next block starts a new signal."""
        taps = self._design.taps
        self._hist: NDArray[np.float64] = np.zeros(taps - 1)  # input from _hist_start on
        self._hist_start = -(taps - 1)  # zeros before the signal starts
        self._n_in = 0  # input samples received
        self._n_out = 0  # output samples emitted

    def process(self, block: ArrayLike) -> NDArray[Any]:
        """Feed one block of input; return the output samples that are complete so far.

        Args:
            block: 1-D samples at ``from_rate`` (any length, including 0).

        Returns:
            The next output samples at ``to_rate``, of the resampler's ``dtype``.
        """
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        self._hist = np.concatenate((self._hist, x)) if len(x) else self._hist
        self._n_in += len(x)
        return self._emit(self._design.outputs_ready(self._n_in))

    def flush(self) -> NDArray[Any]:
        """Return the remaining output, as if the input were followed by silence, and reset.

        After ``flush()`` the total output length is ``ceil(n_in * to_rate / from_rate)``.
        """
        d = self._design
        end = d.outputs_for(self._n_in)
        if end > self._n_out:
            last_base, _ = d.locate(end - 1)
            pad = last_base + 1 - (self._hist_start + len(self._hist))
            if pad > 0:
                self._hist = np.concatenate((self._hist, np.zeros(pad)))
        out = self._emit(end)
        self.reset()
        return out

    def _emit(self, end: int) -> NDArray[Any]:
        d = self._design
        n0 = self._n_out
        y = d.run(self._hist, self._hist_start, n0, end)
        if end > n0:
            self._n_out = end
            # Keep only the input that later outputs can still reach.
            keep_from = d.locate(end)[0] - d.taps + 1
            drop = min(keep_from - self._hist_start, len(self._hist))
            if drop > 0:
                self._hist = self._hist[drop:].copy()
                self._hist_start += drop
        return _finish(y, self.dtype == np.int16)


def resample(x: ArrayLike, from_rate: int, to_rate: int) -> NDArray[Any]:
    """Resample a whole signal from ``from_rate`` to ``to_rate`` (any pair of rates).

    The output is aligned with the input (the filter's delay is compensated) and has
    ``ceil(len(x) * to_rate / from_rate)`` samples. int16 input gives int16 output (rounded and
    clipped); any other input gives float32. See :class:`Resampler` for the filter and for
    streaming use.

    Args:
        x: 1-D samples at ``from_rate``.
        from_rate: input rate in Hz.
        to_rate: output rate in Hz.
    """
    a = np.asarray(x)
    integer = a.dtype == np.int16
    if _check_rate(from_rate, "from_rate") == _check_rate(to_rate, "to_rate"):
        return a.copy() if integer else a.astype(np.float32)
    r = Resampler(from_rate, to_rate, np.int16 if integer else np.float32)
    head = r.process(a)
    tail = r.flush()
    return np.concatenate((head, tail))


# --------------------------------------------------------------------------- WAV files

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def read_wav(source: PathOrFile) -> tuple[NDArray[np.int16], int]:
    """Read a WAV file as mono int16 samples.

    Integer PCM of 8 (unsigned), 16, 24 or 32 bits and IEEE float of 32 or 64 bits are
    accepted, also in WAVE_FORMAT_EXTENSIBLE files. Wider samples keep their top 16 bits
    (rounded); floats are converted with :func:`float32_to_pcm16`; several channels are
    averaged into one.

    Args:
        source: a path, or a binary file object opened for reading.

    Returns:
        ``(samples, rate)``: an int16 array and the sample rate in Hz.

    Raises:
        AudioError: the data is not a WAV file, or it uses a format listed as unsupported
            (compressed formats such as ADPCM, G.711 or MP3 inside RIFF).
    """
    data = _read_all(source)
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
        fmt = _WAVE_FORMAT_PCM
    except (wave.Error, EOFError):
        # The wave module reads plain PCM only; float and extensible files are parsed here.
        fmt, channels, width, rate, raw = _parse_riff(data)
    return _to_mono_int16(raw, fmt, channels, width), rate


def write_wav(target: PathOrFile, samples: ArrayLike, rate: int) -> None:
    """Write mono 16-bit PCM samples to a WAV file.

    Args:
        target: a path, or a binary file object opened for writing (left open).
        samples: 1-D int16 samples; other integers are clipped to int16, floats are taken as
            ``[-1, 1]`` and converted with :func:`float32_to_pcm16`.
        rate: the sample rate in Hz.
    """
    a = np.asarray(samples)
    if a.ndim != 1:
        raise ValueError(f"write_wav() writes mono: samples must be 1-D, got shape {a.shape}")
    pcm = float32_to_pcm16(a) if a.dtype.kind == "f" else _as_int16(a, "write_wav()")
    rate = _check_rate(rate, "rate")
    frames = pcm.astype("<i2", copy=False).tobytes()
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as f:
            _write_wave(f, frames, rate)
    else:
        _write_wave(target, frames, rate)


def _write_wave(f: IO[bytes], frames: bytes, rate: int) -> None:
    with wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


def _read_all(source: PathOrFile) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    data = source.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("read_wav() needs a path or a file opened in binary mode")
    return bytes(data)


def _parse_riff(data: bytes) -> tuple[int, int, int, int, bytes]:
    """Return (format tag, channels, sample width in bytes, rate, sample bytes) of a WAV file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (no RIFF/WAVE header)")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise AudioError("WAV file has a truncated fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)  # first two bytes of the SubFormat GUID
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("WAV file has its data chunk before the fmt chunk")
            tag, channels, rate, bits = fmt
            supported = (tag == _WAVE_FORMAT_PCM and bits in (8, 16, 24, 32)) or (
                tag == _WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64)
            )
            if not supported or channels < 1:
                raise AudioError(
                    f"unsupported WAV format (format tag {tag:#06x}, {bits} bits, {channels} channels): "
                    "rtsync reads integer PCM of 8, 16, 24 or 32 bits and float of 32 or 64 bits"
                )
            return tag, channels, bits // 8, rate, body
        pos += 8 + size + (size & 1)  # chunks are padded to an even size
    raise AudioError("WAV file has no fmt or no data chunk" if fmt is None else "WAV file has no data chunk")


def _to_mono_int16(raw: bytes, fmt: int, channels: int, width: int) -> NDArray[np.int16]:
    frame = channels * width
    raw = raw[: len(raw) - len(raw) % frame] if frame else b""
    wide: NDArray[Any]
    if fmt == _WAVE_FORMAT_IEEE_FLOAT:
        wide = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float64)
        wide = wide.reshape(-1, channels).mean(axis=1) if channels > 1 else wide
        return float32_to_pcm16(wide)
    if width == 1:
        wide = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        wide = np.frombuffer(raw, dtype="<i2")
        if channels == 1:
            return wide.astype(np.int16)
        wide = wide.astype(np.int32)
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        wide = _round_shift(v - ((v & 0x800000) << 1), 8)
    elif width == 4:
        wide = _round_shift(np.frombuffer(raw, dtype="<i4").astype(np.int64), 16)
    else:
        raise AudioError(f"unsupported WAV sample width: {width} bytes")
    if channels > 1:
        wide = np.rint(wide.reshape(-1, channels).mean(axis=1))
    return np.clip(wide, -32768, 32767).astype(np.int16)


def _round_shift(v: NDArray[Any], bits: int) -> NDArray[Any]:
    return (v + (1 << (bits - 1))) >> bits


# --------------------------------------------------------------------------- base64


def b64encode_bytes(data: bytes | bytearray | memoryview) -> str:
    """Return ``data`` as base64 text."""
    return base64.b64encode(data).decode("ascii")


def b64decode_bytes(text: str | bytes) -> bytes:
    """Decode base64 text to bytes (characters outside the alphabet are ignored)."""
    return base64.b64decode(text)


def b64encode_pcm16(samples: ArrayLike) -> str:
    """Return int16 samples as base64 text of little-endian pcm16, as the Realtime API sends."""
    return b64encode_bytes(_as_int16(samples, "b64encode_pcm16()").astype("<i2", copy=False).tobytes())


def b64decode_pcm16(text: str | bytes) -> NDArray[np.int16]:
    """Decode base64 little-endian pcm16 to a (writable) int16 array; a trailing odd byte is ignored."""
    raw = b64decode_bytes(text)
    return _pcm16_from_bytes(raw)


def _pcm16_from_bytes(raw: bytes | bytearray | memoryview) -> NDArray[np.int16]:
    usable = len(raw) & ~1
    return np.frombuffer(raw, dtype="<i2", count=usable // 2).astype(np.int16)


# --------------------------------------------------------------------------- Realtime formats


def _check_format(fmt: str) -> str:
    if fmt not in FORMAT_RATES:
        raise ValueError(f"unknown audio format {fmt!r}; expected one of {', '.join(sorted(FORMAT_RATES))}")
    return fmt


def bytes_per_ms(fmt: str) -> int:
    """Bytes of audio per millisecond in a Realtime format: 48 for pcm16, 8 for G.711."""
    return FORMAT_RATES[_check_format(fmt)] * _FORMAT_WIDTHS[fmt] // 1000


def encode_audio(samples: ArrayLike, fmt: str, rate: int = 24000) -> bytes:
    """Encode int16 samples for the wire in a Realtime format.

    The samples are resampled from ``rate`` to the format's rate (:data:`FORMAT_RATES`) when
    the two differ, treating ``samples`` as a whole signal; to encode a continuous stream in
    chunks without edge effects, run a :class:`Resampler` first and pass its output with
    ``rate`` equal to the format's rate.

    Args:
        samples: 1-D int16 samples.
        fmt: ``"pcm16"``, ``"g711_ulaw"`` or ``"g711_alaw"``.
        rate: the rate of ``samples`` in Hz (24000 by default).

    Returns:
        The encoded bytes (little-endian pcm16, or one G.711 code per sample).
    """
    x = _as_int16(samples, "encode_audio()")
    native = FORMAT_RATES[_check_format(fmt)]
    if _check_rate(rate, "rate") != native:
        x = resample(x, rate, native)
    if fmt == "pcm16":
        return x.astype("<i2", copy=False).tobytes()
    if fmt == "g711_ulaw":
        return ulaw_encode(x).tobytes()
    return alaw_encode(x).tobytes()


def decode_audio(data: bytes | bytearray | memoryview, fmt: str) -> NDArray[np.int16]:
    """Decode wire bytes of a Realtime format to int16 samples at the format's own rate.

    Args:
        data: the audio bytes (already base64-decoded).
        fmt: ``"pcm16"`` (24 kHz), ``"g711_ulaw"`` or ``"g711_alaw"`` (8 kHz).

    Returns:
        A writable int16 array; for pcm16 a trailing odd byte is ignored.
    """
    if _check_format(fmt) == "pcm16":
        return _pcm16_from_bytes(data)
    codes = np.frombuffer(data, dtype=np.uint8)
    return ulaw_decode(codes) if fmt == "g711_ulaw" else alaw_decode(codes)
