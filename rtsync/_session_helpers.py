"""What the transcription and translation sessions share: audio input and the local-server default.

Private: :class:`rtsync.Transcriber` and :class:`rtsync.Translator` document the behaviour.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import numpy as np

    from rtsync.server import LocalServer

__all__: list[str] = []

RATE = 24000


def load_audio(audio: Any) -> np.ndarray:
    """A WAV path, an int16 array (24 kHz) or pcm16 bytes as an int16 array at 24 kHz (mono)."""
    import numpy as np

    from rtsync.audio.formats import read_wav, resample

    if isinstance(audio, (str, os.PathLike)):
        samples, rate = read_wav(audio)
        if rate != RATE:
            samples = np.asarray(resample(samples, rate, RATE), dtype=np.int16)
        return np.ascontiguousarray(samples, dtype=np.int16)
    if isinstance(audio, (bytes, bytearray, memoryview)):
        data = bytes(audio)
        return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.int16)
    arr = np.asarray(audio)
    if arr.dtype != np.int16:
        raise TypeError(f"audio must be a WAV path, pcm16 bytes or an int16 array, not an array of {arr.dtype}")
    return np.ascontiguousarray(arr.reshape(-1))


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` set in its query (other parameters kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def endpoint(url: str | None, api_key: str | None, default: str) -> tuple[str, str | None, LocalServer | None]:
    """``(url, api_key, server)``: the given URL; OpenAI's ``default`` with a key (``api_key`` or
    ``OPENAI_API_KEY``); else a :class:`~rtsync.server.LocalServer` started here (``server``
    is then the caller's to stop)."""
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or None
    if url is not None:
        return url, key, None
    if key:
        return default, key, None
    from rtsync.server import LocalServer

    server = LocalServer().start()
    return server.url, None, server
