"""Clone clips are stored compact: every session's `start` carries the clip."""

from __future__ import annotations

import math
import shutil
import struct
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live.fishaudio import protocol
from custom_components.fish_audio_live.fishaudio.settings import ReferenceClip, SynthesisSettings
from custom_components.fish_audio_live.fishaudio.wav import PcmShape, wav_file
from custom_components.fish_audio_live.references import async_store_clip, clip_path
from tests.test_conversion import ffmpeg

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is provisioned by scripts/setup"
)

TRANSCRIPT = "A long sample of my own voice, read slowly and clearly."


def tone_wav(seconds: int, rate: int = 44100) -> bytes:
    """A 225 Hz tone: one period of 196 samples, repeated."""
    period = rate // 225
    one = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * index / period)))
        for index in range(period)
    )
    return wav_file(one * (seconds * rate // period), PcmShape(rate))


def start_size(audio: bytes) -> int:
    settings = SynthesisSettings(references=(ReferenceClip(audio, TRANSCRIPT),))
    return len(protocol.start_event(settings.start_request(), debug=False))


async def duration(data: bytes) -> float:
    pcm, _ = await ffmpeg(data, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "8000", "pipe:1")
    return len(pcm) / 16000


async def test_a_90_second_clip_is_stored_small_and_whole(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    upload = tone_wav(90)
    await async_store_clip(hass, "long.wav", upload)
    stored = clip_path(hass, "long.wav").read_bytes()
    before, after = start_size(upload), start_size(stored)
    print(f"start with a 90 s clip: {before} bytes as uploaded, {after} bytes stored")
    assert after < before / 8
    assert await duration(stored) == pytest.approx(90, abs=0.5)  # not trimmed: the transcript fits


async def test_without_ffmpeg_the_clip_is_kept_as_uploaded(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    upload = tone_wav(4)
    with patch("custom_components.fish_audio_live.references.get_ffmpeg_manager") as manager:
        manager.return_value.binary = "/nonexistent/ffmpeg"
        await async_store_clip(hass, "short.wav", upload)
    assert clip_path(hass, "short.wav").read_bytes() == upload


async def test_a_clip_ffmpeg_cannot_read_is_kept(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    await async_store_clip(hass, "odd.wav", b"RIFF not really audio")
    assert clip_path(hass, "odd.wav").read_bytes() == b"RIFF not really audio"
