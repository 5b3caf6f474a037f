"""What to ask Fish for, and what to call it, given what the caller prefers.

Home Assistant passes preferences (format, sample rate, channels, sample width)
from media players and voice satellites, and converts with ffmpeg when the
audio it gets differs from the format it wants. Since HA 2026.11 it no longer
converts the options an engine declares, so what we deliver must match them
ourselves. The rules, in short:

* mp3, ogg and opus are produced by Fish when Fish can honour the rest of the
  preferences (its mp3 comes at 32/44.1 kHz, its Opus at 48 kHz, always mono
  16-bit); otherwise HA's ffmpeg makes them from PCM.
* When HA's ffmpeg runs (a format only ffmpeg makes, such as FLAC; a shape Fish
  cannot encode; before 2026.11 any preferred rate, channel count or width),
  the source is the one that release's ffmpeg command starts on soonest:
  `FFMPEG_SOURCES` below, one row per release, from HA's `tts` code.
* Ogg Opus is called `ogg` (what ffmpeg reads it as) unless `opus` was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .resample import best_source_rate
from .settings import DEFAULT_SAMPLE_RATE, SAMPLE_RATES
from .wav import PcmShape

# What a caller's preferred format maps to on the wire; anything else is raw PCM.
_NATIVE = {"mp3": "mp3", "ogg": "opus", "opus": "opus", "wav": "wav"}
# Raw PCM as ffmpeg reads `-f s16le` with no rate or channels given.
RAW_EXTENSION = "s16le"
RAW_RATE = 44100
_WIDTHS = (1, 2, 3, 4)


# What HA's ffmpeg step is fed when it runs.
type Source = Literal["s16le", "wav", "float-wav"]
SOURCE_RAW: Final = "s16le"  # raw 16-bit PCM at 44.1 kHz mono, what `-f s16le` assumes
SOURCE_WAV: Final = "wav"  # a streaming WAV (0xFFFFFFFF sizes), 16-bit
SOURCE_FLOAT_WAV: Final = "float-wav"  # a streaming WAV of 32-bit float samples


# HA's ffmpeg command for audio we stream (tts `_async_convert_audio`) and the input audio
# ffmpeg holds before its first decodable output, measured with FLAC 48 kHz out
# (`bench/decodable.py`, speech-like PCM at 44.1 kHz; `tests/test_conversion.py` pins it):
#
# | from    | our s16le          | our 16-bit WAV                         | float WAV | source    |
# |---------|--------------------|----------------------------------------|-----------|-----------|
# | 2026.6  | `-f s16le`: 1.2 s  | `-f wav`: 2.4 s                        | 1.2 s     | raw       |
# | 2026.10 | `-f s16le`: 1.2 s  | `-f wav -probesize 32`: 0.76 s         | 0.12 s    | float WAV |
# | 2026.11 | `-f s16le`: 1.2 s  | unwrapped, `-f s16le -ar R -ac C -probesize 32`: 0.12 s | - | WAV |
#
# Raw PCM gets no `-probesize 32` on any release, so ffmpeg probes it. From 2026.10 a WAV
# does, but ffmpeg's WAV reader still reads 64 KiB ahead (an S/PDIF check) for integer PCM
# (format tag 1), 0.74 s of 44.1 kHz mono; float samples (tag 3) skip that check. 2026.11
# unwraps a streaming 16-bit WAV itself, which float would defeat (it unwraps tag 1 only).
FFMPEG_SOURCES: tuple[tuple[tuple[int, int], Source], ...] = (
    ((2026, 6), SOURCE_RAW),
    ((2026, 10), SOURCE_FLOAT_WAV),
    ((2026, 11), SOURCE_WAV),
)


def ffmpeg_source(ha_version: str) -> Source:
    """The source for HA's ffmpeg step on Home Assistant `ha_version` (e.g. "2026.11.0b1")."""
    year, month = (int(part) for part in ha_version.split(".")[:2])
    chosen = FFMPEG_SOURCES[0][1]
    for since, source in FFMPEG_SOURCES:
        if (year, month) >= since:
            chosen = source
    return chosen


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """The session's wire format and rate, what HA is told, and the PCM delivered."""

    format: str
    sample_rate: int
    extension: str
    pcm: PcmShape | None = None


def plan_output(
    voice_format: str,
    voice_rate: int | None,
    *,
    preferred_format: str | None = None,
    preferred_rate: int | None = None,
    preferred_channels: int | None = None,
    preferred_width: int | None = None,
    converted_anyway: bool = False,
    source: Source = SOURCE_RAW,
) -> OutputPlan:
    """Choose the output for a voice stored as `voice_format`@`voice_rate`.

    `converted_anyway`: the caller's ffmpeg step runs whatever we deliver.
    `source`: what to feed that ffmpeg step (`ffmpeg_source` of the running release).
    """
    if converted_anyway or (preferred_format is not None and preferred_format not in _NATIVE):
        return _for_ffmpeg(source, preferred_rate)
    fmt = voice_format if preferred_format is None else _NATIVE[preferred_format]
    channels = preferred_channels or 1
    width = preferred_width if preferred_width in _WIDTHS else 2
    if fmt != "wav" and (
        channels != 1
        or width != 2
        or (preferred_rate is not None and preferred_rate not in SAMPLE_RATES[fmt])
    ):
        fmt = "wav"  # Fish cannot encode that shape: deliver PCM, ffmpeg encodes it
    if preferred_format not in (None, "wav") and fmt == "wav" and source != SOURCE_RAW:
        return _for_ffmpeg(source, preferred_rate)  # ffmpeg makes the preferred format
    if fmt == "wav":
        wanted = preferred_rate or _nearest(voice_rate, "wav")
        shape = PcmShape(wanted, channels, width)
        return OutputPlan("wav", best_source_rate(wanted, SAMPLE_RATES["wav"]), "wav", shape)
    rate = preferred_rate or _nearest(voice_rate, fmt)
    extension = "mp3" if fmt == "mp3" else ("opus" if preferred_format == "opus" else "ogg")
    return OutputPlan(fmt, rate, extension)


def _for_ffmpeg(source: Source, preferred_rate: int | None) -> OutputPlan:
    """Audio for HA's ffmpeg step, which applies the preferred rate and channels itself."""
    if source == SOURCE_RAW:
        return OutputPlan("pcm", RAW_RATE, RAW_EXTENSION)
    rate = best_source_rate(preferred_rate or RAW_RATE, SAMPLE_RATES["wav"])
    shape = PcmShape(rate, 1, 4, floating=True) if source == SOURCE_FLOAT_WAV else PcmShape(rate)
    return OutputPlan("wav", rate, "wav", shape)


def _nearest(rate: int | None, fmt: str) -> int:
    """The rate `fmt` offers closest to `rate` (the higher on a tie); its default if None."""
    if rate is None:
        return DEFAULT_SAMPLE_RATE[fmt]
    return min(SAMPLE_RATES[fmt], key=lambda candidate: (abs(candidate - rate), -candidate))
