"""MessagePack framing of the live socket's events."""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import SynthesisError


def encode(event: dict[str, Any]) -> bytes:
    """Pack one client event; binary fields stay binary."""
    data: bytes = msgpack.packb(event, use_bin_type=True)
    return data


def decode(frame: bytes) -> dict[str, Any]:
    """Unpack one server event, refusing anything that is not a map with an event name."""
    try:
        event = msgpack.unpackb(frame, raw=False)
    except (ValueError, msgpack.UnpackException) as err:
        raise SynthesisError("malformed frame from server") from err
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise SynthesisError("malformed event from server")
    return event


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
