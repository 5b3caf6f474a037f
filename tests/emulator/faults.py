"""Faults the emulator injects on demand.

Live faults (``Fault``) are queued FIFO; every live connection that passes the
auth and credit checks takes the next one (one fault per session). A sticky
fault stays at the head of the queue: it applies to every later session until
``clear_faults()``, and faults queued behind it never apply.

Kinds and the phases they honour (``phase`` is validated for every kind, and
ignored where the table says so):

==================  ============================================================
kind                behaviour
==================  ============================================================
handshake_status    answer HTTP ``status`` (default 503) at the handshake, JSON
                    body ``{"status", "message"}``, ``Retry-After`` header when
                    ``retry_after`` is set. Phase ignored.
close               close the socket without a finish event. Close code
                    ``status`` (default 1000, the hardest case for a client:
                    a "normal" close that still lost the finish).
                    after_start / mid_audio / after_stop.
finish_error        send ``finish`` with reason ``error`` (``message`` key only
                    when ``message`` is set), then close.
                    after_start / mid_audio / after_stop (instead of finish).
malformed           send one binary frame that is not MessagePack, then go on
                    normally. after_start / mid_audio / after_stop (before finish).
text_frame          send one text WebSocket frame, then go on normally.
                    after_start / mid_audio / after_stop (before finish).
unknown_events      send ``{"event": "mystery", "data": 1}`` before every audio
                    event. Phase ignored.
log_events          send log events whatever ``debug`` says. Phase ignored.
stall               stop sending anything (even error finishes), keep reading
                    until the client closes. after_start / mid_audio /
                    after_stop (after all audio, instead of finish).
slow                pacing ``rtf`` and ``first_audio_s`` multiplied by 10 from
                    the phase on (an ``rtf`` of 0 counts as 0.1, so slow is at
                    least real time). after_start / mid_audio / after_stop.
big_frame           hold all audio until stop, then send it as ONE audio event.
                    pcm and wav are padded with zero samples so that the event
                    carries exactly ``size`` bytes (default 8 MiB, must be
                    even); mp3 and opus are sent unpadded. Phase ignored.
no_finish           send all audio after stop but never finish; keep reading
                    until the client closes. Phase ignored.
==================  ============================================================

``mid_audio`` fires after the first audio event of the session; a session
that never sends audio never reaches it and ends normally.

REST faults (``RestFault``) answer the next ``times`` requests to one exact
path with a fixed status and body, before any auth check.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import http
import json
from typing import Final

AFTER_START: Final = "after_start"
MID_AUDIO: Final = "mid_audio"
AFTER_STOP: Final = "after_stop"
PHASES: Final = frozenset({AFTER_START, MID_AUDIO, AFTER_STOP})

# Kinds whose effect happens at their phase; the others act at a fixed point.
PHASED_KINDS: Final = frozenset(
    {"close", "finish_error", "malformed", "text_frame", "stall", "slow"}
)
UNPHASED_KINDS: Final = frozenset(
    {"handshake_status", "unknown_events", "log_events", "big_frame", "no_finish"}
)
KINDS: Final = PHASED_KINDS | UNPHASED_KINDS

DEFAULT_BIG_FRAME: Final = 8 * 1024 * 1024
DEFAULT_HANDSHAKE_STATUS: Final = 503
LIVE_PATH: Final = "/v1/tts/live"


@dataclass(frozen=True, slots=True)
class Fault:
    """One live-socket fault; see the module docstring for kinds and phases."""

    kind: str
    phase: str = AFTER_START
    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    size: int | None = None
    sticky: bool = False

    def __post_init__(self) -> None:
        """Catch typos in test code early rather than silently doing nothing."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(KINDS)}")
        if self.phase not in PHASES:
            raise ValueError(f"unknown fault phase {self.phase!r}; known: {sorted(PHASES)}")
        if self.size is not None and (self.size <= 0 or self.size % 2):
            raise ValueError("Fault.size must be a positive even number of bytes")
        if self.kind == "handshake_status" and self.status is not None:
            _check_http_error(self.status)

    @property
    def http_status(self) -> int:
        """Status answered by a ``handshake_status`` fault."""
        return self.status if self.status is not None else DEFAULT_HANDSHAKE_STATUS

    @property
    def close_code(self) -> int:
        """WebSocket close code used by a ``close`` fault."""
        return self.status if self.status is not None else 1000

    @property
    def frame_size(self) -> int:
        """Target size of the single audio event of a ``big_frame`` fault."""
        return self.size if self.size is not None else DEFAULT_BIG_FRAME

    def fires_at(self, phase: str) -> bool:
        """Whether this fault acts at ``phase`` (only phased kinds do)."""
        return self.kind in PHASED_KINDS and self.phase == phase


def _check_http_error(status: int) -> None:
    """Only error statuses make sense for a refused handshake."""
    if not 400 <= status <= 599:
        raise ValueError("handshake_status needs an HTTP error status (400..599)")


class FaultQueue:
    """FIFO of live faults with sticky heads."""

    def __init__(self) -> None:
        """Start empty."""
        self._queue: deque[Fault] = deque()

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` for a later session."""
        self._queue.append(fault)

    def clear(self) -> None:
        """Drop every queued fault, sticky ones included."""
        self._queue.clear()

    def take(self) -> Fault | None:
        """Fault for the next session; a sticky head is kept for the following ones."""
        if not self._queue:
            return None
        head = self._queue[0]
        if not head.sticky:
            self._queue.popleft()
        return head

    def __len__(self) -> int:
        """Number of queued faults."""
        return len(self._queue)


@dataclass(slots=True)
class RestFault:
    """A canned answer for the next ``times`` requests to ``path``."""

    path: str
    status: int
    body: str
    content_type: str
    times: int


def default_rest_body(status: int) -> str:
    """JSON error body shaped like the service's own errors."""
    return json.dumps({"status": status, "message": reason(status)})


def reason(status: int) -> str:
    """HTTP reason phrase of ``status`` (generic for unknown codes)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class RestFaults:
    """Pending REST faults, matched by exact path in the order they were added."""

    def __init__(self) -> None:
        """Start empty."""
        self._pending: list[RestFault] = []

    def add(self, fault: RestFault) -> None:
        """Register ``fault``; the live socket has its own fault kinds."""
        if fault.path == LIVE_PATH:
            raise ValueError("use add_fault(Fault('handshake_status', ...)) for the live socket")
        if fault.times < 1:
            raise ValueError("times must be >= 1")
        self._pending.append(fault)

    def clear(self) -> None:
        """Drop every pending REST fault."""
        self._pending.clear()

    def take(self, path: str) -> RestFault | None:
        """Consume one use of the first fault registered for ``path``."""
        for fault in self._pending:
            if fault.path == path:
                fault.times -= 1
                if fault.times == 0:
                    self._pending.remove(fault)
                return fault
        return None
