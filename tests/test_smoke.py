"""Smoke: the entity speaks through HA's tts component against the emulator."""

from __future__ import annotations

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.emulator import FishEmulator


async def test_one_shot(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    stream = tts.async_create_stream(hass, "tts.test_voice", "en", {"preferred_format": "mp3"})
    stream.async_set_message("Hello from Home Assistant. This is a test.")
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])
    assert audio
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.violations == []
