"""LLM replies with Markdown: what reaches Fish through Home Assistant's tts component."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import re

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.emulator import FishEmulator

ENTITY = "tts.test_voice"
REPLY = (
    "## Weather today\n\n"
    "It is **14 degrees** and *cloudy* 🌥️ in Amsterdam. [whispers] Take an umbrella. "
    "(excited) Tomorrow is sunny!\n\n"
    "- Rain from `16:00`\n"
    "- See [the forecast](https://example.com/weather?city=ams) for details 👍\n\n"
    "| Day | High |\n|---|---|\n| Sat | 18 |\n"
)
MARKUP = re.compile(r"\*\*|##|`|\]\(|https?://|\|")
EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")


def deltas(text: str, size: int) -> list[str]:
    """Token-sized pieces that cut through markup, as an LLM's deltas do."""
    return [text[index : index + size] for index in range(0, len(text), size)]


async def _speak(hass: HomeAssistant, pieces: list[str] | None) -> None:
    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "mp3"})
    if pieces is None:
        stream.async_set_message(REPLY)
    else:

        async def text() -> AsyncGenerator[str]:
            for piece in pieces:
                yield piece

        stream.async_set_message_stream(text())
    async with asyncio.timeout(10):
        assert b"".join([chunk async for chunk in stream.async_stream_result()])


@pytest.mark.parametrize("size", [None, 1, 3, 7])
async def test_markdown_and_emoji_never_reach_fish(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    size: int | None,
) -> None:
    await _speak(hass, None if size is None else deltas(REPLY, size))
    sent = emulator.sessions[-1].text
    assert not MARKUP.search(sent), sent
    assert not EMOJI.search(sent), sent
    for words in ("Weather today", "14 degrees", "cloudy", "Take an umbrella", "the forecast"):
        assert words in sent
    assert "[whispers]" in sent
    assert "(excited)" in sent
    assert "16:00" in sent


async def test_the_option_turns_cleaning_off(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    hass.config_entries.async_update_entry(
        setup_integration, options={**setup_integration.options, "clean_text": False}
    )
    assert await hass.config_entries.async_reload(setup_integration.entry_id)
    await _speak(hass, deltas(REPLY, 5))
    assert emulator.sessions[-1].text == REPLY
