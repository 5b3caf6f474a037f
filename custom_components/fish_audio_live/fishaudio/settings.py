"""Synthesis settings: the `request` of a live session's `start` event, validated."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import re
from typing import Any

from .errors import InvalidSettingError
from .models import CURRENT_MODELS
from .wav import PcmShape

MODELS = CURRENT_MODELS  # retired and re-routed models are not offered (models.py)
DEFAULT_MODEL = "s2.1-pro"
FREE_MODEL = "s2.1-pro-free"

FORMATS = ("mp3", "wav", "opus", "pcm")
LATENCIES = ("normal", "balanced", "low")
SAMPLE_RATES: dict[str, tuple[int, ...]] = {
    "mp3": (32000, 44100),
    "wav": (8000, 16000, 24000, 32000, 44100),
    "pcm": (8000, 16000, 24000, 32000, 44100),
    "opus": (48000,),
}
DEFAULT_SAMPLE_RATE = {"mp3": 44100, "wav": 44100, "pcm": 44100, "opus": 48000}
MP3_BITRATES = (64, 128, 192)
OPUS_BITRATES = (-1000, 24000, 32000, 48000, 64000)

# Fish voice ids are 32 hex characters; a pasted voice page URL ends with one.
_VOICE_ID = re.compile(r"^[0-9a-f]{32}$")
_VOICE_ID_IN_URL = re.compile(r"(?:^|/)([0-9a-f]{32})(?:[/?#]|$)")


def is_voice_id(value: str) -> bool:
    """Tell whether a string has the shape of a Fish voice id."""
    return bool(_VOICE_ID.match(value))


def voice_id_from_input(value: str) -> str:
    """Reduce a pasted fish.audio voice page URL (or an id) to the bare id."""
    text = value.strip()
    match = _VOICE_ID_IN_URL.search(text.lower())
    return match.group(1) if match else text


@dataclass(frozen=True, slots=True)
class ReferenceClip:
    """One inline voice-cloning sample: audio bytes and what is said in it."""

    audio: bytes
    text: str


@dataclass(frozen=True, slots=True)
class SynthesisSettings:
    """Every setting of one live session, sent explicitly (server defaults vary)."""

    model: str = DEFAULT_MODEL
    reference_id: str | None = None
    references: tuple[ReferenceClip, ...] = field(default=(), repr=False)
    format: str = "mp3"
    sample_rate: int | None = None
    mp3_bitrate: int = 128
    opus_bitrate: int = -1000
    latency: str = "balanced"
    chunk_length: int = 100
    speed: float = 1.0
    volume: float = 0.0
    temperature: float = 0.7
    top_p: float = 0.7
    normalize: bool = True
    # WAV only: the PCM delivered, when it differs from Fish's (resampled here).
    pcm: PcmShape | None = None

    @property
    def wire_format(self) -> str:
        """Format asked of the server: WAV is built here from PCM."""
        return "pcm" if self.format == "wav" else self.format

    @property
    def effective_sample_rate(self) -> int:
        """Sample rate Fish sends."""
        return self.sample_rate or DEFAULT_SAMPLE_RATE[self.format]

    @property
    def source_shape(self) -> PcmShape:
        """Shape of the PCM Fish sends for WAV: mono 16-bit."""
        return PcmShape(self.effective_sample_rate)

    @property
    def delivered_shape(self) -> PcmShape:
        """Shape of the PCM delivered for WAV."""
        return self.pcm or self.source_shape

    def with_changes(self, **changes: Any) -> SynthesisSettings:
        """Copy with some settings changed."""
        return replace(self, **changes)

    def validate(self) -> SynthesisSettings:
        """Raise InvalidSettingError for the first out-of-range setting."""
        _check(bool(self.model.strip()), "model", self.model, "a model name")
        _check(self.format in FORMATS, "format", self.format, "/".join(FORMATS))
        rates = SAMPLE_RATES.get(self.format, ())
        _check(
            self.sample_rate is None or self.sample_rate in rates,
            "sample_rate",
            self.sample_rate,
            "/".join(map(str, rates)) + f" for {self.format}",
        )
        _check(self.latency in LATENCIES, "latency", self.latency, "/".join(LATENCIES))
        _check(self.mp3_bitrate in MP3_BITRATES, "mp3_bitrate", self.mp3_bitrate, "64/128/192")
        _check(self.opus_bitrate in OPUS_BITRATES, "opus_bitrate", self.opus_bitrate, "opus rate")
        _check(100 <= self.chunk_length <= 300, "chunk_length", self.chunk_length, "100 to 300")
        _check(0.5 <= self.speed <= 2.0, "speed", self.speed, "0.5 to 2.0")
        _check(-20 <= self.volume <= 20, "volume", self.volume, "-20 to 20 dB")
        _check(0 <= self.temperature <= 1, "temperature", self.temperature, "0 to 1")
        _check(0 <= self.top_p <= 1, "top_p", self.top_p, "0 to 1")
        _check(
            self.reference_id is None or is_voice_id(self.reference_id),
            "voice",
            self.reference_id,
            "a 32-character voice id",
        )
        return self

    def start_request(self) -> dict[str, Any]:
        """Build the `request` map of the `start` event."""
        return {
            "text": "",
            "format": self.wire_format,
            "sample_rate": self.effective_sample_rate,
            "mp3_bitrate": self.mp3_bitrate,
            "opus_bitrate": self.opus_bitrate,
            "chunk_length": self.chunk_length,
            "latency": self.latency,
            "reference_id": None if self.references else self.reference_id,
            "references": [{"audio": ref.audio, "text": ref.text} for ref in self.references],
            "prosody": {"speed": float(self.speed), "volume": float(self.volume)},
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "normalize": self.normalize,
        }


def _check(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise InvalidSettingError(name, value, allowed)
