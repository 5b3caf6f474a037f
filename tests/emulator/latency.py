"""Timing model of the emulated service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """How long the emulated service takes; the defaults keep tests instant.

    Attributes:
        handshake_s: delay before a live handshake is answered (any answer).
        first_audio_s: delay between a segment being cut and its first audio event.
        rtf: real-time factor of the pacing: an audio event carrying ``d`` ms of
            audio is followed by the next one ``d * rtf / 1000`` s later; 0 = no pacing.
        ms_per_char: audio duration per text character (Python code points, spaces included).
        chunk_ms: audio duration carried by one audio event (the last of a segment is shorter).
        rest_s: delay of every REST answer.

    """

    handshake_s: float = 0.0
    first_audio_s: float = 0.0
    rtf: float = 0.0
    ms_per_char: float = 20.0
    chunk_ms: int = 100
    rest_s: float = 0.0

    def __post_init__(self) -> None:
        """Reject values that would make the emulator hang or divide by zero."""
        for name in ("handshake_s", "first_audio_s", "rtf", "ms_per_char", "rest_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"LatencyModel.{name} must be >= 0")
        if self.chunk_ms <= 0:
            raise ValueError("LatencyModel.chunk_ms must be > 0")
