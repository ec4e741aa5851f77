"""Where and how a client connects: default endpoint, dialect choice, Azure URLs, handshake headers.

Pure functions (no I/O): the client calls them when it is created and when it opens a
connection. The dialect translation itself lives in :mod:`rtsync.events.dialect`; this module
only decides which dialect to speak and loads the client-side translator on first use.
"""

from __future__ import annotations

import os
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from rtsync.events._base import Event
from rtsync.events.codec import parse_event

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "DIALECTS",
    "azure_endpoint",
    "choose_dialect",
    "handshake_headers",
    "session_dialect",
]

#: The model a client (and ``python -m rtsync chat``/``voice``, and :func:`rtsync.create_client_secret`)
#: asks for when none is given: the newest current conversation model. ``gpt-realtime``,
#: ``gpt-realtime-2025-08-28`` and the ``gpt-realtime-mini`` models shut down on 2027-01-20.
DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_URL = "wss://api.openai.com/v1/realtime"
#: The values ``RealtimeClient(dialect=...)`` accepts.
DIALECTS = ("auto", "beta", "ga")
_BETA_MODEL_PREFIXES = ("gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview")


def choose_dialect(model: str | None, url: str) -> str:
    """What ``dialect="auto"`` picks: ``"beta"`` for the preview model ids
    (``gpt-4o-realtime-preview``, ``gpt-4o-mini-realtime-preview`` and their dated versions) and
    for Azure's older ``/openai/realtime?api-version=...`` URL; ``"ga"`` otherwise."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.path.rstrip("/").endswith("/openai/realtime") and "api-version" in query:
        return "beta"
    name = model or (query.get("model") or query.get("deployment") or [""])[0]
    return "beta" if name.startswith(_BETA_MODEL_PREFIXES) else "ga"


def session_dialect(first: Event, current: str) -> str:
    """The dialect the shape of a ``session.created`` shows (``current`` when it shows neither):
    a GA session has a ``type`` and nested ``audio``; a beta one has neither."""
    raw = first.wire.get("session") if isinstance(first.wire, dict) else None
    if not isinstance(raw, dict):
        return current
    ga_shape = "type" in raw and ("audio" in raw or "output_modalities" in raw)
    beta_shape = "type" not in raw and ("modalities" in raw or "voice" in raw or "input_audio_format" in raw)
    return "ga" if ga_shape else "beta" if beta_shape else current


def _reparse(first: Event, dialect: str) -> Event:
    """``first`` parsed again from its wire form in ``dialect``."""
    return parse_event(first.wire, dialect)


def handshake_headers(dialect: str, api_key: str | None, extra: dict[str, str]) -> dict[str, str]:
    """The HTTP headers of the WebSocket upgrade: ``OpenAI-Beta: realtime=v1`` in beta, the
    bearer key when there is one, then ``extra`` (which wins)."""
    h = {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}
    if api_key:
        h["Authorization"] = f"Bearer {api_key}"
    h.update(extra)
    return h


def azure_endpoint(
    endpoint: str,
    deployment: str,
    api_key: str | None = None,
    token: str | None = None,
    api_version: str | None = None,
) -> tuple[str, str, dict[str, str]]:
    """``(url, dialect, headers)`` for an Azure OpenAI deployment (see ``RealtimeClient.azure``).

    ``api_version=None`` gives the GA endpoint
    (``wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>``) in ``"ga"``; a
    preview version gives the older ``/openai/realtime?api-version=...&deployment=...`` in
    ``"beta"``. The headers carry ``token`` as a bearer token, else the key as ``api-key``
    (``AZURE_OPENAI_API_KEY`` when no key is given).
    """
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    scheme = "ws" if parts.scheme in ("http", "ws") else "wss"
    base = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    if api_version is None:
        url = f"{base}/openai/v1/realtime?{urlencode({'model': deployment})}"
        dialect = "ga"
    else:
        url = f"{base}/openai/realtime?{urlencode({'api-version': api_version, 'deployment': deployment})}"
        dialect = "beta"
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    else:
        key = api_key or os.environ.get("AZURE_OPENAI_API_KEY")
        if key:
            headers["api-key"] = key
    return url, dialect, headers


_TO_GA: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # loaded with the first GA send


def _client_to_ga() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """:func:`rtsync.events.dialect.client_to_ga`, imported on first use (beta-only users never
    load the translator)."""
    global _TO_GA
    if _TO_GA is None:
        from rtsync.events.dialect import client_to_ga as fn

        _TO_GA = fn
    return _TO_GA


_TO_BETA: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # loaded with the first beta send


def _client_to_beta() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """:func:`rtsync.events.dialect.client_to_beta` (GA-only fields left out), imported on first use."""
    global _TO_BETA
    if _TO_BETA is None:
        from rtsync.events.dialect.to_beta import client_to_beta as fn

        _TO_BETA = fn
    return _TO_BETA
