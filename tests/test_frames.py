"""The sans-IO frame parser alone (no socket): random splits of valid frame streams give the
same frames as feeding them at once, random and corrupted bytes give frames or a documented
violation (never an exception, never a hang), and the size limit holds.

``RTSYNC_FUZZ_EXAMPLES`` sets the examples per property (default 200), as in ``test_fuzz.py``."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtsync.transport.frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    RECV_SIZE,
    TEXT,
    VIOLATION,
    FrameParser,
    Violation,
    close_payload,
)
from tests.peer import CONT, frame

EXAMPLES = int(os.environ.get("RTSYNC_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LIMIT = 100_000


def _own(frames: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Copy payload views (valid only until the next feed) to bytes."""
    out = []
    for op, payload in frames:
        assert isinstance(op, int)
        if op == VIOLATION:
            assert isinstance(payload, Violation) and payload.code in (1002, 1009) and payload.reason
            out.append((op, payload))
        else:
            assert isinstance(payload, (bytes, memoryview)), type(payload)
            out.append((op, bytes(payload)))
    return out


def one_shot(data: bytes, limit: int = LIMIT) -> list[tuple[int, Any]]:
    p = FrameParser(limit)
    p.feed(data)
    return _own(p.frames())


def in_pieces(data: bytes, cuts: list[int], limit: int = LIMIT, in_place: bool = False) -> list[tuple[int, Any]]:
    """Feed ``data`` cut at ``cuts``, taking the frames after every piece. ``in_place``: write the
    pieces into :meth:`FrameParser.recv_buffer` as the reader's ``recv_into`` does."""
    p = FrameParser(limit)
    out: list[tuple[int, Any]] = []
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    for a, b in itertools.pairwise(bounds):
        piece = data[a:b]
        if in_place:
            while piece:
                free = p.recv_buffer()
                n = min(len(free), len(piece))
                assert n > 0
                free[:n] = piece[:n]
                p.filled(n)
                piece = piece[n:]
                out += _own(p.frames())
        else:
            p.feed(piece)
            out += _own(p.frames())
    return out


# -- valid frame streams ---------------------------------------------------------------------------

sizes = st.integers(0, 125) | st.integers(126, 3000) | st.sampled_from([65535, 65536, 70000])
payloads = sizes.flatmap(
    lambda n: st.binary(min_size=n, max_size=n) if n < 200 else st.just((bytes(range(256)) * (n // 256 + 1))[:n])
)
control = st.tuples(st.sampled_from([PING, PONG]), st.binary(max_size=125))


@st.composite
def messages(draw: Any) -> tuple[bytes, list[tuple[int, bytes]]]:
    """One message (maybe fragmented, maybe with control frames between its fragments) or a
    control frame: the bytes a server sends, and the frames the parser must return."""
    kind = draw(st.sampled_from(["text", "binary", "fragmented", "control"]))
    if kind == "control":
        op, payload = draw(control)
        return frame(payload, op), [(op, payload)]
    op = BINARY if kind == "binary" else TEXT
    payload = draw(payloads)
    if kind != "fragmented":
        return frame(payload, op), [(op, payload)]
    op = draw(st.sampled_from([TEXT, BINARY]))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(payload)), min_size=1, max_size=4))))
    parts = [payload[a:b] for a, b in itertools.pairwise([0, *cuts, len(payload)])]
    data, expected = b"", []
    for i, part in enumerate(parts):
        data += frame(part, op if i == 0 else CONT, fin=i == len(parts) - 1)
        if i < len(parts) - 1 and draw(st.booleans()):
            cop, cpayload = draw(control)
            data += frame(cpayload, cop)
            expected.append((cop, cpayload))
    return data, [*expected, (op, payload)]


@st.composite
def streams(draw: Any) -> tuple[bytes, list[tuple[int, Any]]]:
    parts = draw(st.lists(messages(), max_size=8))
    data = b"".join(d for d, _ in parts)
    expected = [f for _, fs in parts for f in fs]
    if draw(st.booleans()):  # a close ends the stream: what follows is not returned
        code = draw(st.integers(1000, 4999))
        data += frame(code.to_bytes(2, "big") + b"bye", CLOSE) + frame(b"after the close")
        expected.append((CLOSE, code.to_bytes(2, "big") + b"bye"))
    return data, expected


cut_lists = st.lists(st.integers(0, 10**6), max_size=30)


@FUZZ
@given(streams(), cut_lists, st.booleans())
def test_any_split_of_a_valid_stream_gives_the_same_frames(stream, cuts, in_place):
    data, expected = stream
    assert one_shot(data) == expected
    assert in_pieces(data, cuts, in_place=in_place) == expected


@FUZZ
@given(streams())
def test_byte_at_a_time(stream):
    data, expected = stream
    if len(data) > 5000:
        data = data[:5000]
        expected = one_shot(data)
    assert in_pieces(data, list(range(len(data))), in_place=True) == expected


# -- garbage ---------------------------------------------------------------------------------------

def _check_garbage_result(frames: list[tuple[int, Any]]) -> None:
    """Frames of the documented kinds; a close or a violation only last."""
    for i, (op, _payload) in enumerate(frames):
        assert op in (TEXT, BINARY, PING, PONG, CLOSE, VIOLATION)
        if op in (CLOSE, VIOLATION):
            assert i == len(frames) - 1


@FUZZ
@given(st.binary(max_size=4000), cut_lists)
def test_random_bytes_never_raise(data, cuts):
    whole = one_shot(data, limit=1024)
    _check_garbage_result(whole)
    assert in_pieces(data, cuts, limit=1024) == whole


@FUZZ
@given(streams(), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6), cut_lists)
def test_corrupted_streams_never_raise(stream, flips, cuts):
    data = bytearray(stream[0] or b"\x81\x00")
    for pos, value in flips:
        data[pos % len(data)] = value
    whole = one_shot(bytes(data))
    _check_garbage_result(whole)
    assert in_pieces(bytes(data), cuts, in_place=True) == whole


def test_nothing_after_a_close_or_a_violation():
    for first in (frame(b"\x03\xe8", CLOSE), frame(b"x", mask=b"abcd")):
        p = FrameParser(LIMIT)
        p.feed(first + frame(b"a"))
        assert len(p.frames()) == 1
        p.feed(frame(b"b"))
        assert p.frames() == []


# -- each violation, alone -------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "code", "words"), [
    (frame(b"{}", mask=b"abcd"), 1002, "masked"),
    (frame(b"{}", rsv=4), 1002, "RSV"),
    (frame(b"{}", rsv=1), 1002, "RSV"),
    (frame(b"x", CONT), 1002, "continuation"),
    (frame(b"{", fin=False) + frame(b"}"), 1002, "inside a fragmented"),
    (frame(b"{", fin=False) + frame(b"}", BINARY), 1002, "inside a fragmented"),
    (frame(b"?", 0x3), 1002, "opcode 0x3"),
    (frame(b"?", 0xB), 1002, "opcode 0xb"),
    (frame(b"p", PING, fin=False), 1002, "control frame"),
    (frame(b"p" * 126, PONG), 1002, "control frame"),
    (frame(b"x" * 5000)[:4], 1009, "limit"),  # the header alone is enough
    (frame(b"x" * 70000)[:10], 1009, "limit"),
    (bytes([0x81, 127]) + (2**63 + 5).to_bytes(8, "big"), 1009, "limit"),
    (frame(b"{" * 3000, fin=False) + frame(b" " * 1000, CONT, fin=False) + frame(b" " * 200, CONT)[:4], 1009, "limit"),
])
def test_violations(data, code, words):
    frames = in_pieces(frame(b"before") + data, [1, 9, 10], limit=4096)
    assert frames[0] == (TEXT, b"before")
    assert len(frames) == 2, frames
    op, violation = frames[1]
    assert op == VIOLATION and violation.code == code and words in violation.reason


@FUZZ
@given(st.integers(125, 70_000), st.integers(0, 140_000), st.booleans())
def test_size_limit(limit, size, fragmented):
    payload = b"z" * size
    if fragmented and size:
        half = size // 2
        data = frame(payload[:half], fin=False) + frame(payload[half:], CONT)
    else:
        data = frame(payload)
    frames = one_shot(data, limit)
    if size <= limit:
        assert frames == [(TEXT, payload)]
    else:
        assert len(frames) == 1 and frames[0][0] == VIOLATION and frames[0][1].code == 1009


def test_limit_is_checked_before_the_payload_arrives():
    p = FrameParser(1000)
    p.feed(frame(b"x" * 2_000_000)[:10])
    assert [(op, v.code) for op, v in p.frames()] == [(VIOLATION, 1009)]
    assert len(p.recv_buffer()) <= RECV_SIZE  # it did not grow for the announced payload


# -- the buffer ------------------------------------------------------------------------------------

def test_text_payloads_are_views_and_the_buffer_shrinks_back():
    p = FrameParser(10_000_000)
    p.feed(frame(b"small"))
    ((op, payload),) = p.frames()
    assert op == TEXT and isinstance(payload, memoryview) and payload == b"small"
    big = frame(b"b" * 3_000_000)
    while big:  # as the reader does: recv_into the free space
        free = p.recv_buffer()
        n = min(len(free), len(big))
        free[:n] = big[:n]
        p.filled(n)
        big = big[n:]
        got = p.frames()
    assert [(op, len(payload)) for op, payload in got] == [(TEXT, 3_000_000)]
    p.feed(frame(b"after"))
    assert _own(p.frames()) == [(TEXT, b"after")]
    assert p.buffered == 0
    assert len(p.recv_buffer()) == RECV_SIZE  # back to the usual size


def test_fragmented_text_and_binary_are_bytes():
    p = FrameParser(LIMIT)
    p.feed(frame(b"ab", fin=False) + frame(b"cd", CONT) + frame(b"\x00", BINARY))
    frames = p.frames()
    assert frames == [(TEXT, b"abcd"), (BINARY, b"\x00")]
    assert all(type(payload) is bytes for _, payload in frames)


def test_close_payload():
    assert close_payload(b"") == (1005, "")
    assert close_payload(b"\x03\xe8") == (1000, "")
    assert close_payload(b"\x0f\xa1bye \xff") == (4001, "bye \ufffd")


def test_a_too_small_limit_is_refused():
    with pytest.raises(ValueError):
        FrameParser(124)
