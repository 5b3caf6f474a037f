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
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.decodable import input_needed
from custom_components.fish_audio_live.compat import (
    HA_CONVERTS_DECLARED_PREFERENCES,
    HA_FFMPEG_SOURCE,
)
from custom_components.fish_audio_live.fishaudio.live import Timeouts
from custom_components.fish_audio_live.fishaudio.output import (
    SOURCE_FLOAT_WAV,
    SOURCE_RAW,
    SOURCE_WAV,
    OutputPlan,
    ffmpeg_source,
    plan_output,
)
from custom_components.fish_audio_live.fishaudio.resample import PcmConverter
from custom_components.fish_audio_live.fishaudio.wav import PcmShape, shape_header
from tests.emulator import FishEmulator, SessionRecord
from tests.emulator.audio import PcmStream

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
VOICE_PE = {
    "preferred_format": "flac",
    "preferred_sample_rate": 48000,
    "preferred_sample_channels": 1,
    "preferred_sample_bytes": 2,
}
WYOMING_ENTITY = {"preferred_format": "wav", "preferred_sample_rate": 22050}
ODD_MP3 = {"preferred_format": "mp3", "preferred_sample_rate": 22050}
SATELLITES = {"flac": VOICE_PE, "wav16": WYOMING, "wav22": WYOMING_ENTITY, "mp3_22": ODD_MP3}

RAW = OutputPlan("pcm", 44100, "s16le")
FLOAT = {
    rate: OutputPlan("wav", rate, "wav", PcmShape(rate, 1, 4, floating=True))
    for rate in (16000, 24000, 44100)
}
INT = {rate: OutputPlan("wav", rate, "wav", PcmShape(rate)) for rate in (16000, 24000, 44100)}
# What each release is fed, per satellite request (the table in fishaudio/output.py):
# 2026.6-2026.9 raw PCM (probed either way, raw the sooner); 2026.10 float WAV (no S/PDIF
# look-ahead); 2026.11 the WAV HA unwraps, or passes untouched when it matches.
PINNED = {
    "2026.6.0": {"flac": RAW, "wav16": RAW, "wav22": RAW, "mp3_22": RAW},
    "2026.9.3": {"flac": RAW, "wav16": RAW, "wav22": RAW, "mp3_22": RAW},
    "2026.10.4": {
        "flac": FLOAT[44100],
        "wav16": FLOAT[16000],
        "wav22": FLOAT[24000],
        "mp3_22": FLOAT[24000],
    },
    "2026.11.0": {
        "flac": INT[44100],
        "wav16": INT[16000],
        "wav22": OutputPlan("wav", 24000, "wav", PcmShape(22050)),
        "mp3_22": INT[24000],
    },
}


@pytest.mark.parametrize("request_name", list(SATELLITES))
@pytest.mark.parametrize("release", list(PINNED))
def test_source_per_release(release: str, request_name: str) -> None:
    """The source chosen for each satellite request, on each release's ffmpeg command."""
    options = SATELLITES[request_name]
    plan = plan_output(
        "mp3",
        None,
        preferred_format=options["preferred_format"],
        preferred_rate=options.get("preferred_sample_rate"),
        preferred_channels=options.get("preferred_sample_channels"),
        preferred_width=options.get("preferred_sample_bytes"),
        converted_anyway=month(release) < (2026, 11),
        source=ffmpeg_source(release),
    )
    assert plan == PINNED[release][request_name]


def test_release_table_reads_betas_and_later_releases() -> None:
    assert ffmpeg_source("2026.11.0b2") == SOURCE_WAV
    assert ffmpeg_source("2027.1.0.dev202612010") == SOURCE_WAV
    assert ffmpeg_source("2026.10.0") == SOURCE_FLOAT_WAV
    assert ffmpeg_source("2026.7.1") == SOURCE_RAW


@pytest.mark.parametrize("request_name", list(SATELLITES))
async def test_satellites_get_the_release_source(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    request_name: str,
) -> None:
    """Through this release's HA: Fish is asked for the pinned source; the audio plays."""
    options = SATELLITES[request_name]
    data = await speak(hass, options)
    session = emulator.sessions[-1]
    assert session.request is not None
    plan = pinned_for(ha_version)[request_name]
    assert session.request["format"] == "pcm"
    assert session.request["sample_rate"] == plan.sample_rate
    got = await probe(data)
    assert got.codec == CODECS[options["preferred_format"]]
    assert got.rate == options["preferred_sample_rate"]


def month(version: str) -> tuple[int, int]:
    """A release's year and month."""
    year, number = version.split(".")[:2]
    return int(year), int(number)


def pinned_for(version: str) -> dict[str, OutputPlan]:
    """The pinned row of the newest release in PINNED at or below `version`."""
    return PINNED[max((r for r in PINNED if month(r) <= month(version)), key=month)]


# Fish streams about four times faster than real time; the plain path (Fish's own mp3,
# no ffmpeg) plays as soon as Fish's first frame lands. What HA's ffmpeg holds back before
# its first FLAC frame costs (input held / 4) on top: the bound is 1.1x the plain path
# + 100 ms, so 100 ms of that wall time (400 ms of input audio) is taken as the limit.
FISH_PACE = 4.0
FLAC_EXTRA_LIMIT_S = 0.100


@pytest.mark.skipif(
    HA_FFMPEG_SOURCE == SOURCE_RAW, reason="releases before 2026.10 probe any stream input"
)
async def test_voice_pe_flac_starts_within_the_plain_path_bound(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """HA's own ffmpeg step, fed what we deliver for Voice PE: little input before audio."""
    plan = plan_output(
        "mp3",
        None,
        preferred_format="flac",
        preferred_rate=48000,
        preferred_channels=1,
        preferred_width=2,
        converted_anyway=HA_CONVERTS_DECLARED_PREFERENCES,
        source=HA_FFMPEG_SOURCE,
    )
    text = S4_TEXT
    fish = PcmStream(plan.sample_rate).encode(text, 20.0, 0.0, 0.0, len(text) * 20.0)
    shape = plan.pcm or PcmShape(plan.sample_rate)
    pcm = PcmConverter(PcmShape(plan.sample_rate), shape).feed(fish)
    header = shape_header(shape) if plan.extension == "wav" else b""
    byte_rate = shape.rate * shape.channels * shape.width

    def convert(audio: AsyncGenerator[bytes]) -> AsyncGenerator[bytes]:
        return tts._async_convert_audio(  # HA's ffmpeg step itself
            hass, plan.extension, audio, "flac", 48000, 1, 2
        )

    held = await input_needed(convert, header, pcm, byte_rate)
    assert held.input_ms / 1000 / FISH_PACE <= FLAC_EXTRA_LIMIT_S, held


S4_TEXT = "Let me check the thermostat for you. It is set to twenty degrees right now."
