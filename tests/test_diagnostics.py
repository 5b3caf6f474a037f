"""Diagnostics and logs: useful figures, and never the API key or what was said."""

from __future__ import annotations

import json
import logging

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from tests.conftest import API_KEY, USER_ID, VOICE_TITLE
from tests.emulator import Fault, FishEmulator

ENTITY = "tts.test_voice"
SECRET_SENTENCE = "The vault code is 4711 and the spare key lies under the third flower pot."
REDACTED = "**REDACTED**"


async def _say(hass: HomeAssistant, message: str) -> bytes:
    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "mp3"})
    stream.async_set_message(message)
    return b"".join([chunk async for chunk in stream.async_stream_result()])


async def test_diagnostics(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    hass_client: ClientSessionGenerator,
) -> None:
    audio = await _say(hass, SECRET_SENTENCE)
    emulator.add_fault(Fault(kind="handshake_status", status=500, sticky=True))
    with pytest.raises(HomeAssistantError):
        await _say(hass, "This one fails.")
    emulator.clear_faults()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, setup_integration)
    text = json.dumps(diagnostics)
    assert API_KEY not in text
    assert API_KEY[-12:] not in text
    assert SECRET_SENTENCE not in text
    assert "vault" not in text
    assert USER_ID not in text
    assert VOICE_TITLE not in text

    entry = diagnostics["entry"]
    assert isinstance(entry, dict)
    assert entry["data"]["api_key"] == REDACTED
    assert entry["data"]["url"] == emulator.url
    assert entry["unique_id"] == REDACTED
    assert entry["title"] == REDACTED
    assert diagnostics["account"] == {"credit": "10.0", "own_voices": 0}

    voices = diagnostics["voices"]
    assert isinstance(voices, list)
    assert len(voices) == 1
    assert voices[0]["type"] == "tts"
    assert voices[0]["data"]["title"] == REDACTED
    assert voices[0]["data"]["reference_id"] == emulator.voices[0].id

    sessions = diagnostics["sessions"]
    assert isinstance(sessions, dict)
    assert sessions["active"] == 0
    assert sessions["waiting"] == 0
    ok, failed = sessions["recent"]
    assert ok["error"] is None
    assert ok["audio_bytes"] == len(audio)
    assert ok["chars"] == len(SECRET_SENTENCE)
    assert 0 <= ok["connect_s"] <= ok["first_text_s"] <= ok["first_audio_s"] <= ok["total_s"]
    assert ok["model"] == "s2.1-pro"
    assert ok["format"] == "mp3"
    assert failed["error"] == "server_error"
    assert failed["first_audio_s"] is None


async def test_logs_keep_secrets(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Everything logged at DEBUG over a whole session: no key, no full message."""
    caplog.set_level(logging.DEBUG)
    assert await async_setup_component(hass, "tts", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    emulator.add_fault(Fault(kind="log_events"))
    assert await _say(hass, SECRET_SENTENCE)
    assert emulator.sessions[-1].debug  # the client asked for server logs at DEBUG
    emulator.add_fault(Fault(kind="finish_error", message="server trouble"))
    with pytest.raises(HomeAssistantError):
        await _say(hass, SECRET_SENTENCE + " Again.")
    emulator.credit[USER_ID] = "0"
    with pytest.raises(HomeAssistantError):
        await _say(hass, SECRET_SENTENCE + " Once more.")
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()

    ours = [record for record in caplog.records if record.name.startswith("custom_components")]
    assert any("server log" in record.getMessage() for record in ours)
    assert any("Synthesis failed" in record.getMessage() for record in ours)
    assert API_KEY not in caplog.text
    assert SECRET_SENTENCE not in caplog.text
    for record in caplog.records:
        rendered = record.getMessage()
        assert API_KEY not in rendered
        assert SECRET_SENTENCE not in rendered
        assert API_KEY not in repr(record.args)
        assert SECRET_SENTENCE not in repr(record.args)
        if record.name.startswith("custom_components"):
            assert "vault code" not in rendered, rendered
