"""MessagePack framing of the live socket's events."""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import SynthesisError

# The largest frame we accept from the server (aiohttp refuses bigger ones before they
# are read whole). Real audio events carry a few hundred milliseconds to a few seconds of
# audio; 2 MiB is 23 s of 44.1 kHz PCM, and small enough that converting one frame never
# holds the event loop for long.
MAX_FRAME_BYTES = 2 * 1024 * 1024
# Structural limits of one event: a server event is a small flat map (event, audio,
# reason, message, time). Without them a frame of nested empty arrays costs gigabytes.
_LIMITS = {
    "max_str_len": MAX_FRAME_BYTES,
    "max_bin_len": MAX_FRAME_BYTES,
    "max_array_len": 16,
    "max_map_len": 16,
    "max_ext_len": 0,
}
# The keys a server event may carry; anything else is dropped unread.
_KNOWN_KEYS = frozenset({"event", "audio", "reason", "message", "time"})


def encode(event: dict[str, Any]) -> bytes:
    """Pack one client event; binary fields stay binary."""
    data: bytes = msgpack.packb(event, use_bin_type=True)
    return data


def decode(frame: bytes) -> dict[str, Any]:
    """Unpack one server event, refusing anything that is not a map with an event name."""
    if len(frame) > MAX_FRAME_BYTES:
        raise SynthesisError("the server sent a frame over the size limit")
    try:
        event = msgpack.unpackb(frame, raw=False, **_LIMITS)
    except (ValueError, msgpack.UnpackException, RecursionError):
        # Raised without its cause: msgpack's message may quote the frame.
        raise SynthesisError("malformed frame from server") from None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise SynthesisError("malformed event from server")
    return {key: value for key, value in event.items() if key in _KNOWN_KEYS}


def start_event(request: dict[str, Any], *, debug: bool) -> bytes:
    """The first event of a session; `debug` asks the server for log events."""
    event: dict[str, Any] = {"event": "start", "request": request}
    if debug:
        event["debug"] = True
    return encode(event)


def text_event(text: str) -> bytes:
    """A piece of text; the server concatenates them as they are."""
    return encode({"event": "text", "text": text})


FLUSH_EVENT = encode({"event": "flush"})
STOP_EVENT = encode({"event": "stop"})
