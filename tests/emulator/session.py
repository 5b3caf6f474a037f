"""What the emulator remembers about each live connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Headers(dict[str, str]):
    """Handshake headers; keys are stored lower-case and looked up case-insensitively."""

    def __init__(self, items: dict[str, str] | None = None) -> None:
        """Copy ``items`` with lower-cased names."""
        super().__init__({name.lower(): value for name, value in (items or {}).items()})

    def __getitem__(self, name: str) -> str:
        """Case-insensitive lookup, as HTTP header names are."""
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        """Case-insensitive membership."""
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        """Case-insensitive get."""
        return super().get(name.lower(), default)


@dataclass(eq=False)
class SessionRecord:
    """One live WebSocket connection attempt that got past the API key check.

    ``status`` is the HTTP status of the handshake answer: 101 when the socket
    was opened, 402 for missing credit, or a ``handshake_status`` fault's
    status (such records are closed from the start). ``deviations`` are
    departures from the spec that the real service accepts (see spec.TOLERATED). Times are ``loop.time()``
    values: ``connected_at`` when the handshake was answered, ``started_at``
    when the start event arrived.
    """

    headers: Headers = field(default_factory=Headers)
    model: str | None = None
    status: int = 101
    request: dict[str, Any] | None = None
    debug: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    flushes: int = 0
    stopped: bool = False
    frames_sent: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    closed: bool = False
    close_code: int | None = None
    segments: list[str] = field(default_factory=list)
    connected_at: float | None = None
    started_at: float | None = None
    first_audio_at: float | None = None
    closed_at: float | None = None
    _audio: bytearray = field(default_factory=bytearray, repr=False)

    @property
    def text(self) -> str:
        """All text events joined, as the service concatenates them."""
        return "".join(self.texts)

    @property
    def audio_sent(self) -> bytes:
        """Concatenation of every audio event's bytes, in order."""
        return bytes(self._audio)

    def add_audio(self, data: bytes) -> None:
        """Remember audio bytes that were sent."""
        self._audio += data
