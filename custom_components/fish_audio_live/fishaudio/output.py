"""What to ask Fish for, and what to call it, given what the caller prefers.

Home Assistant passes preferences (format, sample rate, channels, sample width)
from media players and voice satellites, and converts with ffmpeg when the
audio it gets differs from the format it wants. Since HA 2026.11 it no longer
converts the options an engine declares, so what we deliver must match them
ourselves. The rules, in short:

* mp3, ogg and opus are produced by Fish when Fish can honour the rest of the
  preferences (its mp3 comes at 32/44.1 kHz, its Opus at 48 kHz, always mono
  16-bit); otherwise the audio is WAV, converted here to the preferred shape,
  and HA's ffmpeg turns it into the container.
* Any other format (flac, ...) is raw PCM, called `s16le`: signed 16-bit mono
  at 44.1 kHz, which is what ffmpeg assumes for `-f s16le` when told nothing
  else. ffmpeg then starts at once; a compressed input has to be probed, and
  even a streaming WAV costs about 200 ms in ffmpeg's WAV reader (HA 2026.10
  passes WAV input as `-f wav`). HA's ffmpeg step applies the preferred rate
  and channels.
* When HA will run ffmpeg whatever we deliver (before 2026.11 it converts as
  soon as a preferred rate, channel count or width is given), raw PCM too: it
  is the input ffmpeg starts on fastest.
* Ogg Opus is called `ogg` (what ffmpeg reads it as) unless `opus` was asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from .resample import best_source_rate
from .settings import DEFAULT_SAMPLE_RATE, SAMPLE_RATES
from .wav import PcmShape

# What a caller's preferred format maps to on the wire; anything else is raw PCM.
_NATIVE = {"mp3": "mp3", "ogg": "opus", "opus": "opus", "wav": "wav"}
# Raw PCM as ffmpeg reads `-f s16le` with no rate or channels given.
RAW_EXTENSION = "s16le"
RAW_RATE = 44100
_WIDTHS = (1, 2, 3, 4)


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
) -> OutputPlan:
    """Choose the output for a voice stored as `voice_format`@`voice_rate`.

    `converted_anyway`: the caller's ffmpeg step runs whatever we deliver.
    """
    if converted_anyway or (preferred_format is not None and preferred_format not in _NATIVE):
        return OutputPlan("pcm", RAW_RATE, RAW_EXTENSION)  # HA's ffmpeg encodes it
    fmt = voice_format if preferred_format is None else _NATIVE[preferred_format]
    channels = preferred_channels or 1
    width = preferred_width if preferred_width in _WIDTHS else 2
    if fmt != "wav" and (
        channels != 1
        or width != 2
        or (preferred_rate is not None and preferred_rate not in SAMPLE_RATES[fmt])
    ):
        fmt = "wav"  # Fish cannot encode that shape: deliver PCM, ffmpeg encodes it
    if fmt == "wav":
        wanted = preferred_rate or _nearest(voice_rate, "wav")
        shape = PcmShape(wanted, channels, width)
        return OutputPlan("wav", best_source_rate(wanted, SAMPLE_RATES["wav"]), "wav", shape)
    rate = preferred_rate or _nearest(voice_rate, fmt)
    extension = "mp3" if fmt == "mp3" else ("opus" if preferred_format == "opus" else "ogg")
    return OutputPlan(fmt, rate, extension)


def _nearest(rate: int | None, fmt: str) -> int:
    """The rate `fmt` offers closest to `rate` (the higher on a tie); its default if None."""
    if rate is None:
        return DEFAULT_SAMPLE_RATE[fmt]
    return min(SAMPLE_RATES[fmt], key=lambda candidate: (abs(candidate - rate), -candidate))
