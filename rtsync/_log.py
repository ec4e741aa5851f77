"""Logging helpers: one ``rtsync`` logger, secret redaction and short dumps of events.

Every text that may contain a key (URLs, headers, exception messages from the network layer)
passes through :func:`redact` before it is logged or raised. Debug dumps of events cut base64
audio short with :func:`short_dump`.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

__all__ = ["logger", "redact", "register_secret", "short_dump"]

logger = logging.getLogger("rtsync")

_secrets: set[str] = set()

# "Bearer <token>", "api-key: <key>", OpenAI key shapes, and ?api-key=/&key= style query values.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[^\s'\",;]+"),
    re.compile(r"(?i)(api[-_]key[\"']?\s*[:=]\s*[\"']?)[^\s'\",;&]+"),
    re.compile(r"()\b(?:sk|ek|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"()\bek_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(openai-insecure-api-key\.)[^\s'\",;]+"),
]


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` hides it wherever it appears.

    Short values (under 8 characters) are not registered: replacing them would mangle
    ordinary text, and no real key is that short.
    """
    if value and len(value) >= 8:
        _secrets.add(value)


def redact(text: object) -> str:
    """Return ``str(text)`` with API keys and bearer tokens replaced by ``***``."""
    s = str(text)
    for secret in _secrets:
        if secret in s:
            s = s.replace(secret, "***")
    for pattern in _PATTERNS:
        s = pattern.sub(lambda m: m.group(1) + "***", s)
    return s


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        if len(value) > limit:
            return f"{value[:limit]}…(+{len(value) - limit} chars)"
        return value
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def short_dump(data: Any, limit: int = 64) -> str:
    """One-line JSON of ``data`` with every long string (base64 audio above all) cut short.

    The result is also redacted, so it is safe to log.
    """
    try:
        text = json.dumps(_shorten(data, limit), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(data)
        if len(text) > 4 * limit:
            text = text[: 4 * limit] + "…"
    return redact(text)
