"""Exceptions raised by rtsync.

Every exception rtsync raises on purpose derives from :class:`RealtimeError`::

    RealtimeError
    ├── ConnectError                 the connection could not be opened
    │   ├── AuthenticationError      the key was refused (HTTP 401, or an auth error event)
    │   ├── BetaShapeDisabledError   the server refused the beta protocol (use ``dialect="ga"``)
    │   ├── ModelNotFoundError       the server does not know the model
    │   ├── NetworkError             refused, unreachable, DNS, timeout
    │   └── TLSError                 certificate or TLS handshake failure
    ├── ProtocolError                a frame that is not a valid event (bad JSON, no ``type``)
    ├── ClosedError                  the connection ended (or was never opened) while in use
    ├── WaitTimeout                  ``wait_for``/``ask`` ran out of time (also a ``TimeoutError``)
    ├── ServerError                  the server answered a request with an ``error`` event
    │   └── ResponseFailed           a response ended with status ``failed`` or ``incomplete``
    └── AudioError                   PortAudio or a device is missing or misbehaves

No exception message ever carries the API key: texts that may hold one are redacted first.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AudioError",
    "AuthenticationError",
    "BetaShapeDisabledError",
    "ClosedError",
    "ConnectError",
    "ModelNotFoundError",
    "NetworkError",
    "ProtocolError",
    "RealtimeError",
    "ResponseFailed",
    "ServerError",
    "TLSError",
    "WaitTimeout",
]


class RealtimeError(Exception):
    """Root of every exception rtsync raises on purpose."""


class ConnectError(RealtimeError):
    """The WebSocket connection could not be opened."""


class AuthenticationError(ConnectError):
    """The server refused the API key (HTTP 401 or an authentication ``error`` event)."""


class ModelNotFoundError(ConnectError):
    """The server does not serve the requested model."""


class BetaShapeDisabledError(ConnectError):
    """The server refused the beta protocol (``beta_api_shape_disabled``): connect with
    ``dialect="ga"`` (or ``"auto"``, which switches by itself)."""


class NetworkError(ConnectError):
    """The server could not be reached: connection refused, DNS failure, timeout."""


class TLSError(ConnectError):
    """The TLS handshake failed, for example because the certificate did not verify."""


class ProtocolError(RealtimeError):
    """A frame is not a valid Realtime event: invalid JSON, not an object, or no ``type``.

    Attributes:
        data: the offending frame (text, bytes or decoded value), kept for diagnosis.
    """

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.data = data


class ClosedError(RealtimeError):
    """The connection is closed, or closed while a call was waiting on it.

    Attributes:
        code: the WebSocket close code, when one was received.
        reason: the close reason text, when one was received.
    """

    def __init__(self, message: str, code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class WaitTimeout(RealtimeError, TimeoutError):
    """A blocking call such as ``wait_for`` or ``ask`` ran out of time."""


class ServerError(RealtimeError):
    """The server answered with an ``error`` event.

    Attributes:
        type: the error type, e.g. ``invalid_request_error``.
        code: the error code, e.g. ``response_cancel_not_active`` (may be ``None``).
        message: the human-readable text from the server.
        param: the offending parameter path, when the server names one.
        event_id: the client ``event_id`` of the request that failed, when known.
        event: the ``ErrorEvent`` itself, when the error came from one.
    """

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        event_id: str | None = None,
        event: Any = None,
    ) -> None:
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.event_id = event_id
        self.event = event
        text = message
        if code:
            text = f"{message} [{code}]"
        super().__init__(text)


class ResponseFailed(ServerError):
    """A response ended with status ``failed`` (or ``incomplete``, when asked to raise on it).

    Attributes:
        reply: the :class:`rtsync.Reply` gathered so far, for partial text and usage.
    """

    def __init__(self, message: str, *, reply: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reply = reply


class AudioError(RealtimeError):
    """PortAudio, PyAudio or a sound device is missing or failed; the text says what to install."""
