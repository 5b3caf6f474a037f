"""Strict validation of what a client sends on the live socket.

Every rule here comes from Fish Audio's asyncapi.yml: binary MessagePack maps
only, ``start`` first and once, ``text``/``flush`` in between, ``stop`` last,
no unknown keys, and a start ``request`` matching WebSocketTTSRequest. The
real service is more lenient in places (it coerces types); the emulator is
strict on purpose so that tests catch client mistakes.

One exception: what Fish's official SDK sends, the real service evidently
accepts (its own users run it). Such values are listed in ``TOLERATED``: they
are accepted and recorded as deviations from the spec, never as violations.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any, Final

from aiohttp import WSMsgType
import msgpack

from .audio import MP3_RATES, OPUS_RATES, PCM_RATES


class SpecViolationError(Exception):
    """A client frame broke the protocol; the message says how."""


EVENT_KEYS: Final = {
    "start": frozenset({"event", "request", "debug"}),
    "text": frozenset({"event", "text"}),
    "flush": frozenset({"event"}),
    "stop": frozenset({"event"}),
}
FORMAT_RATES: Final = {"wav": PCM_RATES, "pcm": PCM_RATES, "mp3": MP3_RATES, "opus": OPUS_RATES}
DEFAULT_CHUNK_LENGTH: Final = 300

Checker = Callable[[object], str | None]


def decode_frame(kind: WSMsgType, data: object) -> object:
    """Decode one client frame; only binary MessagePack is allowed."""
    if kind is not WSMsgType.BINARY:
        raise SpecViolationError(
            f"{kind.name.lower()} WebSocket frame received; every frame must be binary MessagePack"
        )
    try:
        return msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as err:
        raise SpecViolationError(f"frame is not valid MessagePack: {err}") from None


def check_event(value: object) -> dict[str, Any]:
    """The decoded frame must be a map with a known ``event`` and only its keys."""
    if not isinstance(value, dict):
        raise SpecViolationError(f"frame is a MessagePack {type(value).__name__}, not a map")
    name = value.get("event")
    if not isinstance(name, str) or name not in EVENT_KEYS:
        raise SpecViolationError(f"unknown event {name!r}")
    extra = set(value) - EVENT_KEYS[name]
    if extra:
        raise SpecViolationError(f"unknown keys in {name!r} event: {sorted(map(str, extra))}")
    if name == "text" and not isinstance(value.get("text"), str):
        raise SpecViolationError("'text' event without a str 'text'")
    return value


def check_start(event: dict[str, Any]) -> list[str]:
    """``request`` is required and validated; ``debug`` must be a bool when present.

    Returns the request's deviations from the spec that the service tolerates.
    """
    if "request" not in event:
        raise SpecViolationError("'start' event without 'request'")
    if "debug" in event and not isinstance(event["debug"], bool):
        raise SpecViolationError("'debug' must be a bool")
    problem = request_problem(event["request"])
    if problem:
        raise SpecViolationError(f"invalid start request: {problem}")
    return request_deviations(event["request"])


class EventOrder:
    """start once and first; text/flush in between; nothing after stop."""

    def __init__(self) -> None:
        """No event seen yet."""
        self.started = False
        self.stopped = False

    def accept(self, name: str) -> None:
        """Advance with event ``name`` or raise if it is out of order."""
        if self.stopped:
            raise SpecViolationError(f"{name!r} event received after 'stop'")
        if name == "start":
            if self.started:
                raise SpecViolationError("'start' event sent twice")
            self.started = True
        elif not self.started:
            raise SpecViolationError(f"{name!r} event received before 'start'")
        elif name == "stop":
            self.stopped = True


def request_problem(request: object) -> str | None:
    """First problem of a WebSocketTTSRequest, or None when it is valid."""
    if not isinstance(request, dict):
        return "'request' must be a map"
    unknown = set(request) - set(FIELD_CHECKS)
    if unknown:
        return f"unknown fields {sorted(map(str, unknown))}"
    if "text" not in request:
        return "'text' is required"
    for name, value in request.items():
        problem = None if _tolerated(name, value) else FIELD_CHECKS[name](value)
        if problem:
            return f"{name}: {problem}"
    return _sample_rate_problem(request)


def request_deviations(request: dict[str, Any]) -> list[str]:
    """Values of a valid request that break the spec but that the service accepts."""
    return [
        f"{name}: {request[name]!r} {TOLERATED[name][1]}"
        for name in TOLERATED
        if name in request and _tolerated(name, request[name])
    ]


def _tolerated(name: str, value: object) -> bool:
    """Whether ``value`` of field ``name`` is a known, accepted deviation."""
    if name not in TOLERATED or isinstance(value, bool):
        return False
    return value in TOLERATED[name][0]


def _sample_rate_problem(request: dict[str, Any]) -> str | None:
    """The sample rate must be one the requested format supports."""
    rate = request.get("sample_rate")
    audio_format = request.get("format", "mp3")
    if rate is None or rate in FORMAT_RATES[audio_format]:
        return None
    return f"sample_rate: {rate} not supported for {audio_format} ({sorted(FORMAT_RATES[audio_format])})"


def _is_int(value: object) -> bool:
    """MessagePack integers only; bools are not numbers here."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """Integer or finite float, not bool."""
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def string(value: object) -> str | None:
    """Check a str."""
    return None if isinstance(value, str) else f"must be a str, got {type(value).__name__}"


def boolean(value: object) -> str | None:
    """Check a bool."""
    return None if isinstance(value, bool) else f"must be a bool, got {type(value).__name__}"


def integer(low: int | None = None, high: int | None = None) -> Checker:
    """Checker for an int within optional bounds."""

    def check(value: object) -> str | None:
        if not _is_int(value):
            return f"must be an integer, got {type(value).__name__}"
        return _range_problem(value, low, high)

    return check


def number(low: float | None = None, high: float | None = None) -> Checker:
    """Checker for a number within optional bounds."""

    def check(value: object) -> str | None:
        if not _is_number(value):
            return f"must be a number, got {type(value).__name__}"
        return _range_problem(value, low, high)

    return check


def _range_problem(value: Any, low: float | None, high: float | None) -> str | None:
    """Inclusive bounds check."""
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{value} out of range [{low}, {high}]"
    return None


def one_of(*allowed: object) -> Checker:
    """Checker for an enum (bools never match numeric members)."""

    def check(value: object) -> str | None:
        if isinstance(value, bool) or value not in allowed:
            return f"{value!r} not one of {list(allowed)}"
        return None

    return check


def nullable(checker: Checker) -> Checker:
    """Allow None besides what ``checker`` allows."""

    def check(value: object) -> str | None:
        return None if value is None else checker(value)

    return check


PROSODY_CHECKS: Final[dict[str, Checker]] = {
    "speed": number(0.5, 2.0),
    "volume": number(-20.0, 20.0),
    "normalize_loudness": boolean,
}


def prosody(value: object) -> str | None:
    """WebSocketProsodyControl: speed, volume, normalize_loudness, nothing else."""
    if not isinstance(value, dict):
        return "must be a map or null"
    unknown = set(value) - set(PROSODY_CHECKS)
    if unknown:
        return f"unknown keys {sorted(map(str, unknown))}"
    for name, item in value.items():
        problem = PROSODY_CHECKS[name](item)
        if problem:
            return f"{name} {problem}"
    return None


def reference_audio(value: object) -> str | None:
    """WebSocketReferenceAudio: exactly {audio: bytes, text: str}."""
    if not isinstance(value, dict) or set(value) != {"audio", "text"}:
        return "each reference must be a map of exactly 'audio' and 'text'"
    if not isinstance(value["audio"], bytes):
        return "reference audio must be MessagePack bin (bytes)"
    if not isinstance(value["text"], str):
        return "reference text must be a str"
    return None


def references(value: object) -> str | None:
    """A list of references, or a list of such lists (one per speaker)."""
    if not isinstance(value, list):
        return "must be a list or null"
    for item in value:
        group = item if isinstance(item, list) else [item]
        for reference in group:
            problem = reference_audio(reference)
            if problem:
                return problem
    return None


def reference_id(value: object) -> str | None:
    """A voice id, or a list of voice ids (one per speaker)."""
    if isinstance(value, str):
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return None
    return "must be a str, a list of str or null"


FIELD_CHECKS: Final[dict[str, Checker]] = {
    "text": string,
    "max_new_tokens": integer(),
    "temperature": number(0.0, 1.0),
    "top_p": number(0.0, 1.0),
    "repetition_penalty": number(),
    "min_chunk_length": integer(0, 100),
    "references": nullable(references),
    "reference_id": nullable(reference_id),
    "prosody": nullable(prosody),
    "chunk_length": integer(100, 300),
    "condition_on_previous_chunks": boolean,
    "normalize": boolean,
    "early_stop_threshold": number(0.0, 1.0),
    "format": one_of("wav", "pcm", "mp3", "opus"),
    "sample_rate": nullable(integer()),
    "mp3_bitrate": one_of(64, 128, 192),
    "opus_bitrate": one_of(-1000, 24000, 32000, 48000, 64000),
    "latency": one_of("low", "normal", "balanced"),
}


# Field -> (values outside the spec that Fish's SDK sends, why they are accepted).
TOLERATED: Final[dict[str, tuple[frozenset[object], str]]] = {
    # fish-audio-sdk 1.3.0 sends opus_bitrate 32 in every start, whatever the format.
    "opus_bitrate": (
        frozenset({24, 32, 48, 64}),
        "(kbit/s, as Fish's SDK sends it; the spec lists bit/s: -1000, 24000, 32000, 48000, 64000)",
    ),
}


def voice_ids(request: dict[str, Any]) -> list[str]:
    """Voice ids a valid request refers to."""
    value = request.get("reference_id")
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def chunk_length(request: dict[str, Any]) -> int:
    """Segment size of a valid request."""
    value = request.get("chunk_length", DEFAULT_CHUNK_LENGTH)
    return int(value)
