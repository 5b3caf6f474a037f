"""The output plan: what Fish is asked for and what Home Assistant is told."""

from __future__ import annotations

import pytest

from custom_components.fish_audio_live.fishaudio.output import OutputPlan, plan_output
from custom_components.fish_audio_live.fishaudio.wav import PcmShape


@pytest.mark.parametrize(
    ("voice", "rate", "preferred", "expected"),
    [
        # HA's default path (mp3 via ffmpeg): the voice's own format; Ogg Opus is `ogg`.
        ("mp3", None, None, OutputPlan("mp3", 44100, "mp3")),
        ("opus", None, None, OutputPlan("opus", 48000, "ogg")),
        ("wav", 16000, None, OutputPlan("wav", 16000, "wav", PcmShape(16000))),
        # A preferred format Fish makes switches to it; a stored rate gives way.
        ("wav", 16000, "mp3", OutputPlan("mp3", 32000, "mp3")),
        ("opus", 48000, "wav", OutputPlan("wav", 44100, "wav", PcmShape(44100))),
        ("mp3", 44100, "ogg", OutputPlan("opus", 48000, "ogg")),
        ("mp3", 44100, "opus", OutputPlan("opus", 48000, "opus")),
        # Formats only ffmpeg makes: raw PCM at the rate ffmpeg assumes.
        ("mp3", None, "flac", OutputPlan("pcm", 44100, "s16le")),
    ],
)
def test_formats(voice: str, rate: int | None, preferred: str | None, expected: OutputPlan) -> None:
    assert plan_output(voice, rate, preferred_format=preferred) == expected


def test_a_preferred_shape_fish_cannot_encode_is_delivered_as_wav() -> None:
    assert plan_output("mp3", None, preferred_format="mp3", preferred_rate=22050) == OutputPlan(
        "wav", 24000, "wav", PcmShape(22050)
    )
    assert plan_output("opus", None, preferred_format="wav", preferred_rate=22050) == OutputPlan(
        "wav", 24000, "wav", PcmShape(22050)
    )
    stereo = plan_output("mp3", None, preferred_format="wav", preferred_channels=2)
    assert stereo.pcm == PcmShape(44100, 2, 2)
    assert plan_output("mp3", None, preferred_width=1).pcm == PcmShape(44100, 1, 1)
    assert plan_output("mp3", None, preferred_rate=32000) == OutputPlan("mp3", 32000, "mp3")


def test_raw_pcm_when_ffmpeg_runs_anyway() -> None:
    """Before HA 2026.11 a preferred rate makes HA convert whatever it gets."""
    plan = plan_output(
        "mp3", None, preferred_format="wav", preferred_rate=16000, converted_anyway=True
    )
    assert plan == OutputPlan("pcm", 44100, "s16le")
