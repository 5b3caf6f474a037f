"""Shared fixtures: a real Home Assistant, and the Fish Audio emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live.const import (
    CONF_FORMAT,
    CONF_LATENCY,
    CONF_MODEL,
    CONF_PRECONNECT,
    CONF_REFERENCE_ID,
    CONF_TITLE,
    CONF_URL,
    DOMAIN,
    SUBENTRY_TTS,
)
from tests.bounds import TEST_RETRY_DELAYS, TEST_TIMEOUTS
from tests.emulator import FishEmulator

API_KEY = "sk-test-0123456789abcdef0123456789abcdef"
USER_ID = "user-0001"
VOICE_TITLE = "Test Voice"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ from this checkout."""


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Give every test its own config folder (clone clips are written under it)."""
    return hass_tmp_config_dir


@pytest.fixture(autouse=True)
def tts_cache_dir(tmp_path: Path) -> Iterator[Path]:
    """Keep HA's TTS file cache in a temporary folder."""
    cache = tmp_path / "tts"
    with patch("homeassistant.components.tts.DEFAULT_CACHE_DIR", str(cache)):
        yield cache


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[FishEmulator]:
    """The Fish Audio emulator, knowing one key and one account."""
    async with FishEmulator(api_keys={API_KEY: USER_ID}) as emu:
        yield emu


@pytest.fixture
def voice_id(emulator: FishEmulator) -> str:
    """A voice the emulator knows."""
    return emulator.voices[0].id


@pytest.fixture
def voice_data(voice_id: str) -> dict[str, Any]:
    """Subentry data of the configured voice."""
    return {
        CONF_REFERENCE_ID: voice_id,
        CONF_TITLE: VOICE_TITLE,
        CONF_MODEL: "s2.1-pro",
        CONF_LATENCY: "balanced",
        CONF_FORMAT: "mp3",
    }


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Account options. Pre-connect is off here: a one-shot fault injected for a
    request would otherwise be met by the pre-connect (which hides it, as it
    should); tests/test_preconnect.py runs with the shipped defaults."""
    return {CONF_PRECONNECT: False}


@pytest.fixture
def config_entry(
    emulator: FishEmulator, voice_data: dict[str, Any], entry_options: dict[str, Any]
) -> MockConfigEntry:
    """An account entry pointing at the emulator, with one voice."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Fish Audio",
        unique_id=USER_ID,
        options=entry_options,
        data={CONF_API_KEY: API_KEY, CONF_URL: emulator.url},
        subentries_data=[
            ConfigSubentryData(
                data=voice_data, subentry_type=SUBENTRY_TTS, title=VOICE_TITLE, unique_id=None
            )
        ],
    )


@pytest.fixture
async def setup_integration(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """Set up tts and the integration; return the loaded entry."""
    assert await async_setup_component(hass, "tts", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Short 429 backoff; the client reads RETRY_DELAYS when the entry sets it up."""
    with patch(
        "custom_components.fish_audio_live.fishaudio.client.RETRY_DELAYS", TEST_RETRY_DELAYS
    ):
        yield


@pytest.fixture
def loaded(setup_integration: MockConfigEntry) -> MockConfigEntry:
    """The loaded entry, with short client timeouts."""
    setup_integration.runtime_data.client.timeouts = TEST_TIMEOUTS
    return setup_integration
