"""Text that is slow to start: the live socket opens while the first words come."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.emulator import FishEmulator


async def _wait_for_handshake(emulator: FishEmulator) -> None:
    """Wait until the emulator has seen a session's `start`."""
    await emulator.wait_for(lambda: emulator.sessions and emulator.sessions[-1].request)


async def test_socket_opens_before_slow_first_words(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    release = asyncio.Event()

    async def text() -> AsyncGenerator[str]:
        await release.wait()
        yield "Slow to start, then spoken in full."

    stream = tts.async_create_stream(hass, "tts.test_voice", "en", {"preferred_format": "mp3"})
    stream.async_set_message_stream(text())
    await _wait_for_handshake(emulator)
    assert emulator.sessions[-1].texts == []  # open and started, no text yet

    release.set()
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.sessions[-1].text == "Slow to start, then spoken in full."


async def test_slow_blank_text_is_refused_and_the_socket_closed(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    release = asyncio.Event()

    async def text() -> AsyncGenerator[str]:
        await release.wait()
        yield "   "

    stream = tts.async_create_stream(hass, "tts.test_voice", "en", {"preferred_format": "mp3"})
    stream.async_set_message_stream(text())
    await _wait_for_handshake(emulator)
    release.set()
    with pytest.raises(ServiceValidationError) as caught:
        async for _ in stream.async_stream_result():
            pass
    assert caught.value.translation_key == "empty_message"
    await emulator.wait_all_closed()
