"""Audio formats: sample types, G.711 against a port of g711.c, resampling quality and
streaming, WAV, base64, Realtime formats, and the rtsync.audio package surface."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

import rtsync.audio
from rtsync.audio import (
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
    pcm16_to_float32,
    read_wav,
    resample,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)
from rtsync.errors import AudioError

# --------------------------------------------------------------------------- sample types


def test_pcm16_float_round_trip_is_exact() -> None:
    x = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
    f = pcm16_to_float32(x)
    assert f.dtype == np.float32
    assert f.min() == -1.0 and f.max() < 1.0
    np.testing.assert_array_equal(float32_to_pcm16(f), x)


def test_float_to_pcm16_rounds_and_clips() -> None:
    f = np.array([0.0, 1.0, -1.0, 2.0, -3.0, 0.5 / 32768, 1.5 / 32768, -0.6 / 32768, np.nan], dtype=np.float32)
    assert float32_to_pcm16(f).tolist() == [0, 32767, -32768, 32767, -32768, 0, 2, -1, 0]
    assert float32_to_pcm16(np.array([0.25])).dtype == np.int16  # float64 in is fine
    assert rtsync.audio.float_to_pcm16 is float32_to_pcm16


# --------------------------------------------------------------------------- G.711
# A scalar transcription of the Sun Microsystems reference g711.c (the 1994 revision that
# handles 16-bit input), kept deliberately literal: C's `short` arithmetic, `>>` on negative
# numbers rounds toward minus infinity in both C compilers and Python.

_SEG_AEND = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
_SEG_UEND = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]
_BIAS = 0x84
_CLIP = 8159


def _search(val: int, table: list[int]) -> int:
    for i, end in enumerate(table):
        if val <= end:
            return i
    return len(table)


def ref_linear2alaw(pcm_val: int) -> int:
    pcm_val = pcm_val >> 3
    if pcm_val >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm_val = -pcm_val - 1
    seg = _search(pcm_val, _SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    if seg < 2:
        aval |= (pcm_val >> 1) & 0xF
    else:
        aval |= (pcm_val >> seg) & 0xF
    return aval ^ mask


def ref_alaw2linear(a_val: int) -> int:
    a_val ^= 0x55
    t = (a_val & 0xF) << 4
    seg = (a_val & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if a_val & 0x80 else -t


def ref_linear2ulaw(pcm_val: int) -> int:
    pcm_val = pcm_val >> 2
    if pcm_val < 0:
        pcm_val = -pcm_val
        mask = 0x7F
    else:
        mask = 0xFF
    if pcm_val > _CLIP:
        pcm_val = _CLIP
    pcm_val += _BIAS >> 2
    seg = _search(pcm_val, _SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    uval = (seg << 4) | ((pcm_val >> (seg + 1)) & 0xF)
    return uval ^ mask


def ref_ulaw2linear(u_val: int) -> int:
    u_val = ~u_val & 0xFF
    t = ((u_val & 0xF) << 3) + _BIAS
    t <<= (u_val & 0x70) >> 4
    return _BIAS - t if u_val & 0x80 else t - _BIAS


ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


def test_ulaw_encode_matches_g711c_for_every_int16() -> None:
    expected = np.array([ref_linear2ulaw(v) for v in range(-32768, 32768)], dtype=np.uint8)
    got = ulaw_encode(ALL_INT16)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_alaw_encode_matches_g711c_for_every_int16() -> None:
    expected = np.array([ref_linear2alaw(v) for v in range(-32768, 32768)], dtype=np.uint8)
    got = alaw_encode(ALL_INT16)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_ulaw_decode_matches_g711c_for_every_code() -> None:
    expected = [ref_ulaw2linear(c) for c in range(256)]
    got = ulaw_decode(ALL_CODES)
    assert got.dtype == np.int16
    assert got.tolist() == expected
    assert ulaw_decode(bytes(range(256))).tolist() == expected


def test_alaw_decode_matches_g711c_for_every_code() -> None:
    expected = [ref_alaw2linear(c) for c in range(256)]
    got = alaw_decode(ALL_CODES)
    assert got.dtype == np.int16
    assert got.tolist() == expected
    assert alaw_decode(bytes(range(256))).tolist() == expected


def test_g711_known_values() -> None:
    assert ulaw_encode(np.array([0], dtype=np.int16)).tolist() == [0xFF]
    assert ulaw_decode(bytes([0xFF, 0x00, 0x80, 0x7F])).tolist() == [0, -32124, 32124, 0]
    assert alaw_encode(np.array([0], dtype=np.int16)).tolist() == [0xD5]
    assert alaw_decode(bytes([0xD5, 0x55])).tolist() == [8, -8]
    assert alaw_decode(bytes([0xAA, 0x2A])).tolist() == [32256, -32256]


def test_g711_decode_then_encode_is_the_identity_on_codes() -> None:
    # mu-law has two codes for zero (0x7F and 0xFF); the encoder picks 0xFF.
    u = ulaw_encode(ulaw_decode(ALL_CODES))
    assert u.tolist() == [0xFF if c == 0x7F else c for c in range(256)]
    np.testing.assert_array_equal(alaw_encode(alaw_decode(ALL_CODES)), ALL_CODES)


def test_g711_input_checks() -> None:
    with pytest.raises(TypeError, match="float32_to_pcm16"):
        ulaw_encode(np.zeros(3, dtype=np.float32))
    assert alaw_encode(np.array([70000, -70000])).tolist() == alaw_encode(np.array([32767, -32768], np.int16)).tolist()
    assert ulaw_decode([0, 255]).tolist() == [-32124, 0]
    with pytest.raises(ValueError, match=r"0\.\.255"):
        ulaw_decode([300])


# --------------------------------------------------------------------------- resampling

RATES = [8000, 16000, 22050, 24000, 44100, 48000]
AMPLITUDE = 0.5 * 32768


def _sine(freq: float, rate: int, seconds: float = 0.5, amplitude: float = AMPLITUDE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def _snr_db(got: np.ndarray, ideal: np.ndarray, rate: int) -> float:
    edge = int(0.05 * rate)  # 50 ms at each end, far beyond the filter's reach
    n = min(len(got), len(ideal))
    g = got[edge : n - edge].astype(np.float64)
    r = ideal[edge : n - edge]
    return float(10 * np.log10(np.sum(r**2) / np.sum((g - r) ** 2)))


def _rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-12))


@pytest.mark.parametrize("rate", [r for r in RATES if r != 24000])
@pytest.mark.parametrize("freq", [1000, 5000])
def test_one_way_and_round_trip_snr(rate: int, freq: int) -> None:
    if freq > 0.4 * rate:
        pytest.skip("tone above the passband of this rate")
    x = _sine(freq, 24000).astype(np.int16)
    down = resample(x, 24000, rate)
    assert down.dtype == np.int16
    one_way = _snr_db(down, _sine(freq, rate), rate)
    back = resample(down, rate, 24000)
    round_trip = _snr_db(back, _sine(freq, 24000), 24000)
    up_from = resample(_sine(freq, rate).astype(np.int16), rate, 24000)
    into_24k = _snr_db(up_from, _sine(freq, 24000), 24000)
    print(f"\n{freq} Hz 24k->{rate}: {one_way:.1f} dB; {rate}->24k: {into_24k:.1f} dB; round trip {round_trip:.1f} dB")
    # Measured 82-90 dB (int16 rounding of a half-scale tone alone limits it to about 92 dB).
    assert one_way >= 75
    assert into_24k >= 75
    assert round_trip >= 75


def test_float_signals_resample_to_float32_with_the_same_quality() -> None:
    x = _sine(1000, 24000, amplitude=0.5)
    y = resample(x, 24000, 44100)
    assert y.dtype == np.float32
    assert _snr_db(y, _sine(1000, 44100, amplitude=0.5), 44100) >= 75


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "freq"),
    [
        (24000, 8000, 6000),
        (24000, 8000, 5500),
        (48000, 24000, 15000),
        (24000, 16000, 9000),
        (24000, 22050, 11500),
        (44100, 24000, 13000),
    ],
)
def test_tones_above_the_target_nyquist_are_rejected(from_rate: int, to_rate: int, freq: int) -> None:
    x = _sine(freq, from_rate).astype(np.int16)
    y = resample(x, from_rate, to_rate)
    edge = int(0.05 * to_rate)
    rejection = _rms_db(x) - _rms_db(y[edge:-edge])
    print(f"\n{freq} Hz {from_rate}->{to_rate}: {rejection:.1f} dB down")
    assert rejection >= 75  # measured 80-90 dB (the output is a few LSB of rounding noise)


@pytest.mark.parametrize(("from_rate", "freq"), [(8000, 3000), (16000, 7000), (22050, 10000)])
def test_upsampling_leaves_no_images(from_rate: int, freq: int) -> None:
    x = _sine(freq, from_rate, 1.0, amplitude=1.0)
    y = resample(x, from_rate, 24000).astype(np.float64)
    edge = int(0.05 * 24000)
    y = y[edge:-edge]
    window = np.kaiser(len(y), 14)
    spectrum = np.abs(np.fft.rfft(y * window))
    hz = np.fft.rfftfreq(len(y), 1 / 24000)
    images = spectrum[hz > from_rate / 2].max()
    level = 20 * np.log10(images / spectrum.max())
    print(f"\n{freq} Hz {from_rate}->24000: images {level:.1f} dB")
    assert level <= -70  # measured about -80 dB


@pytest.mark.parametrize("from_rate", RATES)
@pytest.mark.parametrize("to_rate", RATES)
def test_output_length(from_rate: int, to_rate: int) -> None:
    for n in (0, 1, 7, 480, 1001):
        y = resample(np.zeros(n, dtype=np.int16), from_rate, to_rate)
        assert abs(len(y) - round(n * to_rate / from_rate)) <= 1


def test_dc_passes_at_unity_gain_and_output_is_aligned() -> None:
    x = np.full(4800, 10000, dtype=np.int16)
    for rate in (8000, 22050, 44100):
        y = resample(x, 24000, rate)
        mid = y[len(y) // 4 : 3 * len(y) // 4]
        assert np.abs(mid.astype(int) - 10000).max() <= 2
    # An impulse stays where it was in time (group delay compensated).
    imp = np.zeros(2400, dtype=np.float32)
    imp[1200] = 1.0
    for rate in (8000, 16000, 48000):
        y = resample(imp, 24000, rate)
        assert int(np.argmax(y)) == 1200 * rate // 24000


def test_same_rate_is_a_copy() -> None:
    x = np.arange(10, dtype=np.int16)
    y = resample(x, 24000, 24000)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    r = Resampler(16000, 16000)
    assert np.concatenate((r.process(x), r.flush())).tolist() == x.tolist()


def test_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="from_rate"):
        resample(np.zeros(3, dtype=np.int16), 0, 8000)
    with pytest.raises(ValueError, match="to_rate"):
        Resampler(24000, -1)
    with pytest.raises(ValueError, match="to_rate"):
        Resampler(24000, 8000.5)  # type: ignore[arg-type]
    assert Resampler(24000.0, 8000).from_rate == 24000  # type: ignore[arg-type]


def _stream(r: Resampler, x: np.ndarray, rng: np.random.Generator, largest: int) -> np.ndarray:
    outs = []
    pos = 0
    while pos < len(x):
        k = int(rng.integers(0, largest + 1))
        outs.append(r.process(x[pos : pos + k]))
        pos += k
    outs.append(r.flush())
    return np.concatenate(outs)


@pytest.mark.parametrize(
    ("from_rate", "to_rate"),
    [(24000, 8000), (8000, 24000), (24000, 16000), (24000, 22050), (22050, 24000), (24000, 44100),
     (44100, 24000), (48000, 24000), (24000, 48000)],
)
def test_streaming_in_random_chunks_matches_one_call(from_rate: int, to_rate: int) -> None:
    rng = np.random.default_rng(from_rate + to_rate)
    x = (rng.standard_normal(from_rate // 2) * 6000).clip(-32768, 32767).astype(np.int16)
    whole = resample(x, from_rate, to_rate)
    for largest in (1, 37, 2000):
        r = Resampler(from_rate, to_rate)
        y = _stream(r, x[: 3000] if largest == 1 else x, rng, largest)
        ref = resample(x[:3000], from_rate, to_rate) if largest == 1 else whole
        assert y.dtype == np.int16
        assert len(y) == len(ref)
        assert np.abs(y.astype(np.int32) - ref).max() <= 1
        assert np.count_nonzero(y != ref) <= len(ref) // 1000  # in practice: none

    xf = x.astype(np.float32) / 32768
    rf = Resampler(from_rate, to_rate, dtype=np.float32)
    yf = _stream(rf, xf, rng, 500)
    assert yf.dtype == np.float32
    np.testing.assert_allclose(yf, resample(xf, from_rate, to_rate), rtol=0, atol=1e-6)


def test_resampler_flush_starts_a_new_signal() -> None:
    x = _sine(1000, 24000, 0.1).astype(np.int16)
    r = Resampler(24000, 8000)
    first = np.concatenate((r.process(x), r.flush()))
    second = np.concatenate((r.process(x), r.flush()))
    np.testing.assert_array_equal(first, second)
    assert r.flush().size == 0
    r.process(x[:100])
    r.reset()
    np.testing.assert_array_equal(np.concatenate((r.process(x), r.flush())), first)


# --------------------------------------------------------------------------- WAV


def _wav_bytes(channels: int, width: int, rate: int, frames: bytes) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def _riff(fmt_body: bytes, data: bytes, extra_chunk: bytes = b"") -> bytes:
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra_chunk
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _float_wav(samples: np.ndarray, rate: int, channels: int = 1, extensible: bool = False) -> bytes:
    data = samples.astype("<f4").tobytes()
    block = 4 * channels
    if extensible:
        guid = struct.pack("<H", 3) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        body = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, 32, 22, 32, 0) + guid
    else:
        body = struct.pack("<HHIIHH", 3, channels, rate, rate * block, block, 32)
    # An odd-sized chunk before the data, to exercise the pad byte.
    return _riff(body, data, extra_chunk=b"LIST" + struct.pack("<I", 3) + b"abc\x00")


def test_wav_round_trip_through_a_path_and_a_file(tmp_path: Path) -> None:
    x = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    path = tmp_path / "a.wav"
    write_wav(path, x, 24000)
    y, rate = read_wav(path)
    assert rate == 24000 and y.dtype == np.int16
    np.testing.assert_array_equal(y, x)
    y2, _ = read_wav(str(path))
    np.testing.assert_array_equal(y2, x)

    buf = io.BytesIO()
    write_wav(buf, x, 8000)
    assert not buf.closed
    buf.seek(0)
    y3, rate3 = read_wav(buf)
    assert rate3 == 8000
    np.testing.assert_array_equal(y3, x)


def test_write_wav_converts_floats_and_refuses_stereo(tmp_path: Path) -> None:
    write_wav(tmp_path / "f.wav", np.array([0.5, -1.0], dtype=np.float32), 16000)
    assert read_wav(tmp_path / "f.wav")[0].tolist() == [16384, -32768]
    with pytest.raises(ValueError, match="mono"):
        write_wav(tmp_path / "s.wav", np.zeros((4, 2), dtype=np.int16), 16000)


def test_stereo_is_averaged_to_mono() -> None:
    left = np.array([1000, -2000, 32767, 3], dtype=np.int16)
    right = np.array([3000, -2000, 32767, 0], dtype=np.int16)
    frames = np.stack([left, right], axis=1).astype("<i2").tobytes()
    y, rate = read_wav(io.BytesIO(_wav_bytes(2, 2, 44100, frames)))
    assert rate == 44100
    assert y.tolist() == [2000, -2000, 32767, 2]  # 1.5 rounds to even


def test_eight_bit_wav_is_converted() -> None:
    y, rate = read_wav(io.BytesIO(_wav_bytes(1, 1, 8000, bytes([128, 255, 0, 129]))))
    assert rate == 8000
    assert y.tolist() == [0, 127 << 8, -32768, 256]


def test_24_and_32_bit_wavs_keep_the_top_16_bits() -> None:
    s24 = b"".join(v.to_bytes(3, "little", signed=True) for v in (0x123456, -0x123456, 0x7FFFFF))
    assert read_wav(io.BytesIO(_wav_bytes(1, 3, 8000, s24)))[0].tolist() == [0x1234, -0x1234, 32767]
    s32 = np.array([0x12348000, -(2**31), 2**31 - 1], dtype="<i4").tobytes()
    assert read_wav(io.BytesIO(_wav_bytes(1, 4, 8000, s32)))[0].tolist() == [0x1235, -32768, 32767]


@pytest.mark.parametrize("extensible", [False, True])
def test_float_wav_is_converted(extensible: bool) -> None:
    samples = np.array([0.0, 0.5, -0.5, 1.0, -1.0], dtype=np.float32)
    y, rate = read_wav(io.BytesIO(_float_wav(samples, 22050, extensible=extensible)))
    assert rate == 22050
    assert y.tolist() == [0, 16384, -16384, 32767, -32768]
    stereo = np.array([0.5, 0.0, -0.25, -0.25], dtype=np.float32)
    y2, _ = read_wav(io.BytesIO(_float_wav(stereo, 48000, channels=2, extensible=extensible)))
    assert y2.tolist() == [8192, -8192]


def test_unsupported_wavs_raise_audio_error(tmp_path: Path) -> None:
    adpcm = struct.pack("<HHIIHH", 2, 1, 8000, 4000, 256, 4)
    with pytest.raises(AudioError, match=r"unsupported WAV format \(format tag 0x0002"):
        read_wav(io.BytesIO(_riff(adpcm, b"\x00" * 64)))
    alaw = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    with pytest.raises(AudioError, match="unsupported WAV format"):
        read_wav(io.BytesIO(_riff(alaw, b"\x00" * 8)))
    with pytest.raises(AudioError, match="not a WAV file"):
        read_wav(io.BytesIO(b"ID3 this is an mp3"))
    with pytest.raises(AudioError, match="not a WAV file"):
        read_wav(io.BytesIO(b""))
    no_data = b"RIFF" + struct.pack("<I", 28) + b"WAVEfmt " + struct.pack("<I", 16)
    no_data += struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    with pytest.raises(AudioError, match="no data chunk"):
        read_wav(io.BytesIO(no_data))
    text = tmp_path / "t.txt"
    text.write_text("hello")
    with pytest.raises(TypeError, match="binary"):
        with open(text) as f:
            read_wav(f)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- base64


def test_base64_pcm16_round_trip_is_little_endian() -> None:
    x = np.array([1, -2, 0x1234], dtype=np.int16)
    text = b64encode_pcm16(x)
    assert b64decode_bytes(text) == b"\x01\x00\xfe\xff\x34\x12"
    y = b64decode_pcm16(text)
    assert y.dtype == np.int16 and y.tolist() == x.tolist()
    y[0] = 5  # writable
    assert b64decode_pcm16(b64encode_bytes(b"\x01\x00\x02")).tolist() == [1]  # odd byte ignored
    assert b64decode_pcm16(text.encode()).tolist() == x.tolist()
    assert b64decode_pcm16("").size == 0
    big = np.array([1, 2], dtype=">i2")
    assert b64decode_pcm16(b64encode_pcm16(big)).tolist() == [1, 2]


# --------------------------------------------------------------------------- Realtime formats


def test_format_table_and_bytes_per_ms() -> None:
    assert FORMAT_RATES == {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}
    assert bytes_per_ms("pcm16") == 48
    assert bytes_per_ms("g711_ulaw") == bytes_per_ms("g711_alaw") == 8
    with pytest.raises(ValueError, match="g711_alaw, g711_ulaw, pcm16"):
        bytes_per_ms("opus")


def test_encode_and_decode_audio() -> None:
    x = _sine(1000, 24000, 0.2).astype(np.int16)
    pcm = encode_audio(x, "pcm16")
    assert len(pcm) == 2 * len(x)
    np.testing.assert_array_equal(decode_audio(pcm, "pcm16"), x)
    assert decode_audio(pcm + b"\x07", "pcm16").size == len(x)

    for fmt, decode in (("g711_ulaw", ulaw_decode), ("g711_alaw", alaw_decode)):
        wire = encode_audio(x, fmt)
        assert isinstance(wire, bytes)
        assert len(wire) == len(x) // 3  # 24 kHz in, 8 kHz on the wire
        y = decode_audio(wire, fmt)
        assert y.dtype == np.int16
        np.testing.assert_array_equal(y, decode(np.frombuffer(wire, dtype=np.uint8)))
        # G.711 keeps about 38 dB of SNR on a tone like this one.
        assert _snr_db(y, _sine(1000, 8000, 0.2), 8000) > 30
        # Already at 8 kHz: no resampling.
        at_8k = resample(x, 24000, 8000)
        assert encode_audio(at_8k, fmt, rate=8000) == wire

    with pytest.raises(ValueError, match="unknown audio format"):
        encode_audio(x, "mp3")
    with pytest.raises(ValueError, match="unknown audio format"):
        decode_audio(b"", "g722")
    with pytest.raises(TypeError, match="int16"):
        encode_audio(x.astype(np.float32), "pcm16")


# --------------------------------------------------------------------------- the package


def test_importing_rtsync_audio_does_not_import_pyaudio() -> None:
    code = "import sys, rtsync.audio; print('pyaudio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_all_is_sorted_and_complete() -> None:
    names = rtsync.audio.__all__
    constants = [n for n in names if n.isupper()]
    assert names == sorted(constants) + sorted(n for n in names if n not in constants)  # isort style
    for name in ("RingBuffer", "Microphone", "Speaker", "list_devices", "DeviceInfo", "resample"):
        assert name in names
    for name in names:
        if name not in ("Microphone", "Speaker", "list_devices", "DeviceInfo"):
            assert getattr(rtsync.audio, name) is not None
    assert set(rtsync.audio.formats.__all__) <= set(names)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        rtsync.audio.no_such_thing  # noqa: B018
