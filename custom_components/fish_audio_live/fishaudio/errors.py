"""Typed errors of the Fish Audio client, each one a thing a caller can act on."""

from __future__ import annotations

import re

# What of a server's own words reaches a message or a log line: one line, short.
SERVER_TEXT_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def server_text(value: object) -> str:
    """A server-supplied string made safe to show in a message or a log line.

    Control characters and newlines collapse to one space and the text is cut to
    about 200 characters: a forged log line, a megabyte of text or a non-string all
    end up as one short line.
    """
    text = value if isinstance(value, str) else ""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= SERVER_TEXT_MAX else text[: SERVER_TEXT_MAX - 1] + "…"


class FishAudioError(Exception):
    """Base of every error the client raises.

    `kind` is a short stable name used for diagnostics and translations.
    """

    kind = "unknown"

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        """Keep the server's message and HTTP status when there is one."""
        super().__init__(message or self.kind)
        self.message = message
        self.status = status


class AuthenticationError(FishAudioError):
    """The API key was rejected (HTTP 401 or 403)."""

    kind = "invalid_auth"


class InsufficientCreditError(FishAudioError):
    """The account has no credit left for this model (HTTP 402)."""

    kind = "no_credit"


class RateLimitError(FishAudioError):
    """Too many requests or parallel sessions for the account (HTTP 429)."""

    kind = "rate_limited"

    def __init__(
        self, message: str = "", *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        """Keep the server's Retry-After hint, in seconds, when given."""
        super().__init__(message, status=status)
        self.retry_after = retry_after


class InvalidRequestError(FishAudioError):
    """The server refused the request's content (HTTP 400 or 422)."""

    kind = "invalid_request"


class VoiceNotFoundError(InvalidRequestError):
    """The voice (reference_id) does not exist or is not visible (HTTP 404)."""

    kind = "voice_not_found"


class ServerError(FishAudioError):
    """The service failed or is overloaded (HTTP 5xx)."""

    kind = "server_error"


class InvalidResponseError(FishAudioError):
    """The server answered something that is not Fish Audio's API (HTML, bad JSON)."""

    kind = "invalid_response"


class CannotConnectError(FishAudioError):
    """The server could not be reached, or the connection dropped."""

    kind = "cannot_connect"


class SynthesisError(FishAudioError):
    """The live session ended with an error (finish reason `error`, bad frames)."""

    kind = "synthesis_failed"


class FishTimeoutError(FishAudioError):
    """A bounded wait ran out."""

    kind = "timeout"


class ConnectTimeoutError(FishTimeoutError):
    """Opening the live socket took too long."""

    kind = "connect_timeout"


class FirstAudioTimeoutError(FishTimeoutError):
    """No audio arrived in time after the text was sent."""

    kind = "first_audio_timeout"


class AudioGapTimeoutError(FishTimeoutError):
    """Audio stopped arriving in the middle of a stream."""

    kind = "audio_gap_timeout"


class TextTimeoutError(FishTimeoutError):
    """The text to speak stopped coming without ever ending."""

    kind = "text_timeout"


class InvalidSettingError(FishAudioError, ValueError):
    """A synthesis setting is out of range; raised before anything is sent."""

    kind = "invalid_setting"

    def __init__(self, field: str, value: object, allowed: str) -> None:
        """Name the field, the bad value and what is allowed."""
        super().__init__(f"{field}={value!r} is invalid: expected {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed


def error_for_status(
    status: int, message: str = "", retry_after: float | None = None
) -> FishAudioError:
    """Map an HTTP status (REST answer or live handshake) to a typed error."""
    message = server_text(message)
    if status in (401, 403):
        return AuthenticationError(message, status=status)
    if status == 402:
        return InsufficientCreditError(message, status=status)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after)
    if status == 404:
        return VoiceNotFoundError(message, status=status)
    if status in (400, 422):
        return InvalidRequestError(message, status=status)
    if status >= 500:
        return ServerError(message, status=status)
    return InvalidResponseError(message or f"unexpected HTTP {status}", status=status)


class SessionLimitError(FishAudioError):
    """The server went past a bound of the session: too long, or too much audio."""

    kind = "session_limit"


class EmptyTextError(FishAudioError):
    """The text to speak was empty or only white space."""

    kind = "empty_message"
