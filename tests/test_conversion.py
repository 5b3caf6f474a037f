"""What players and satellites get: audio through Home Assistant's real ffmpeg conversion.

Each voice format is asked for by every preferred format HA may pass (none,
wav, mp3, ogg, opus, flac). The result is decoded by ffmpeg and compared with
what the emulator sent: playable, the right codec, rate and channels, and
complete. Needs `ffmpeg` on PATH (scripts/setup provides one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
import re
import shutil
from typing import Any

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live.compat import HA_CONVERTS_DECLARED_PREFERENCES
from custom_components.fish_audio_live.fishaudio.live import Timeouts
from custom_components.fish_audio_live.fishaudio.wav import wav_header
from tests.emulator import FishEmulator, SessionRecord

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is provisioned by scripts/setup"
)

ENTITY = "tts.test_voice"
MESSAGE = "Audio that plays on every player. It has two sentences."
PROBE = re.compile(r"Audio: (\w+)[^,]*, (\d+) Hz, (mono|stereo|\d+ channels)")


@dataclass(frozen=True, slots=True)
class Probe:
    """What ffmpeg reads in a file."""

    codec: str
    rate: int
    channels: str
    seconds: float


async def ffmpeg(data: bytes, *args: str) -> tuple[bytes, str]:
    process = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(data)
    return out, err.decode(errors="replace")


async def probe(data: bytes, input_format: str | None = None) -> Probe:
    """Decode `data` fully; its codec, rate, channels and length in seconds."""
    given = ["-f", input_format] if input_format else []
    pcm, log = await ffmpeg(
        data, *given, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1"
    )
    match = PROBE.search(log)
    assert match, log
    return Probe(match[1], int(match[2]), match[3], len(pcm) / 32000)


async def sent(record: SessionRecord) -> Probe:
    """What the emulator sent for a session, decoded."""
    request = record.request
    assert request is not None
    if request["format"] == "pcm":
        rate = int(request["sample_rate"])
        return Probe("pcm_s16le", rate, "mono", len(record.audio_sent) / 2 / rate)
    return await probe(record.audio_sent, "mp3" if request["format"] == "mp3" else "ogg")


async def speak(hass: HomeAssistant, options: dict[str, Any], message: str = MESSAGE) -> bytes:
    stream = tts.async_create_stream(hass, ENTITY, "en", options)
    stream.async_set_message(message)
    async with asyncio.timeout(20):
        return b"".join([chunk async for chunk in stream.async_stream_result()])


CODECS = {"mp3": "mp3", "wav": "pcm_s16le", "ogg": "opus", "opus": "opus", "flac": "flac"}


@pytest.mark.parametrize("voice_format", ["mp3", "wav", "opus"])
@pytest.mark.parametrize("preferred", [None, "wav", "mp3", "ogg", "opus", "flac"])
async def test_every_voice_format_plays_in_every_preferred_format(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    voice_format: str,
    preferred: str | None,
) -> None:
    options: dict[str, Any] = {"format": voice_format}
    if preferred:
        options["preferred_format"] = preferred
    data = await speak(hass, options)
    got = await probe(data)
    source = await sent(emulator.sessions[-1])
    assert got.codec == CODECS[preferred or "mp3"]
    assert got.seconds == pytest.approx(source.seconds, abs=0.1 + 0.05 * source.seconds)


@pytest.mark.parametrize(
    ("options", "codec", "rate"),
    [
        ({"format": "wav", "sample_rate": 16000, "preferred_format": "mp3"}, "mp3", None),
        ({"format": "opus", "preferred_format": "wav"}, "pcm_s16le", 44100),
        ({"format": "mp3", "sample_rate": 32000, "preferred_format": "ogg"}, "opus", 48000),
        # What satellites ask: Wyoming / older ESPHome, Voice PE.
        (
            {
                "preferred_format": "wav",
                "preferred_sample_rate": 16000,
                "preferred_sample_channels": 1,
                "preferred_sample_bytes": 2,
            },
            "pcm_s16le",
            16000,
        ),
        (
            {
                "preferred_format": "flac",
                "preferred_sample_rate": 48000,
                "preferred_sample_channels": 1,
                "preferred_sample_bytes": 2,
            },
            "flac",
            48000,
        ),
        ({"preferred_format": "wav", "preferred_sample_rate": 22050}, "pcm_s16le", 22050),
        ({"preferred_format": "mp3", "preferred_sample_rate": 22050}, "mp3", 22050),
        (
            {
                "preferred_format": "wav",
                "preferred_sample_rate": 48000,
                "preferred_sample_channels": 2,
            },
            "pcm_s16le",
            48000,
        ),
    ],
)
async def test_preferences_are_honoured(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    options: dict[str, Any],
    codec: str,
    rate: int | None,
) -> None:
    """A stored rate the preferred format lacks gives way; a preferred shape is delivered."""
    data = await speak(hass, options)
    got = await probe(data)
    source = await sent(emulator.sessions[-1])
    assert got.codec == codec
    if rate is not None:
        assert got.rate == rate
    channels = options.get("preferred_sample_channels", 1)
    assert got.channels == ("stereo" if channels == 2 else "mono")
    assert got.seconds == pytest.approx(source.seconds, abs=0.1 + 0.05 * source.seconds)


async def test_failed_conversions_do_not_lock_sessions(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """Six streams die in HA's ffmpeg step; the seventh, ordinary request is served at once."""
    client = setup_integration.runtime_data.client
    client.timeouts = Timeouts(consumer_idle=0.1, slot_wait=1.0)
    never = asyncio.Event()

    async def endless() -> AsyncGenerator[str]:
        yield "A reply that keeps going. "
        await never.wait()

    for _ in range(6):
        stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "no-such-format"})
        stream.async_set_message_stream(endless())
        # HA's own error: ffmpeg refuses the format and the pipe to it breaks.
        with pytest.raises((HomeAssistantError, ConnectionResetError)):
            await asyncio.wait_for(_drain(stream.async_stream_result()), 10)
    async with asyncio.timeout(10):
        await emulator.wait_for(lambda: len(emulator.sessions) == 6)
        await emulator.wait_all_closed()
    assert client.active_sessions == 0
    data = await speak(hass, {"preferred_format": "mp3"})
    assert data == emulator.sessions[-1].audio_sent
    assert client.waiting == 0
    never.set()


async def _drain(audio: AsyncGenerator[bytes]) -> None:
    async for _chunk in audio:
        pass


WYOMING = {
    "preferred_format": "wav",
    "preferred_sample_rate": 16000,
    "preferred_sample_channels": 1,
    "preferred_sample_bytes": 2,
}


async def test_a_wyoming_request_skips_ffmpeg_where_ha_allows(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """HA 2026.11+: the matching WAV passes untouched. Older HA converts anyway: raw PCM."""
    data = await speak(hass, WYOMING)
    session = emulator.sessions[-1]
    assert session.request is not None
    assert session.request["format"] == "pcm"
    if HA_CONVERTS_DECLARED_PREFERENCES:
        assert session.request["sample_rate"] == 44100  # what ffmpeg assumes for raw s16le
        got = await probe(data)
        assert (got.codec, got.rate, got.channels) == ("pcm_s16le", 16000, "mono")
    else:
        assert session.request["sample_rate"] == 16000
        assert data == wav_header(16000, None) + session.audio_sent
