"""The account options: keep a live connection ready."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live.const import (
    CONF_CLEAN_TEXT,
    CONF_FILL_SILENCE,
    CONF_KEEP_WARM,
    CONF_MAX_SESSIONS,
    CONF_PRECONNECT,
)
from tests.emulator import FishEmulator


async def test_keep_warm_option_reloads_with_a_warm_socket(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    entry = setup_integration
    assert not entry.runtime_data.client.keep_warm

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_PRECONNECT: True,
            CONF_KEEP_WARM: True,
            CONF_CLEAN_TEXT: True,
            CONF_FILL_SILENCE: True,
            CONF_MAX_SESSIONS: 15.0,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_PRECONNECT: True,
        CONF_KEEP_WARM: True,
        CONF_CLEAN_TEXT: True,
        CONF_FILL_SILENCE: True,
        CONF_MAX_SESSIONS: 15,
    }
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.client.keep_warm
    assert entry.runtime_data.client.slots.size == 15

    assert await hass.config_entries.async_unload(entry.entry_id)
    await emulator.wait_all_closed()


async def test_unused_clips_are_pruned(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    from custom_components.fish_audio_live.references import async_store_clip, clip_path

    # ffmpeg is a dependency: set up before the entry, as Home Assistant does.
    assert await async_setup_component(hass, "ffmpeg", {})
    await async_store_clip(hass, "orphan.bin", b"RIFF")
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert not clip_path(hass, "orphan.bin").exists()

    await async_store_clip(hass, "again.bin", b"RIFF")
    assert await hass.config_entries.async_remove(config_entry.entry_id)
    assert not clip_path(hass, "again.bin").exists()


async def test_parallel_sessions_follow_the_option(
    hass: HomeAssistant, config_entry: MockConfigEntry, emulator: FishEmulator
) -> None:
    """Ten requests at once on a 2-session plan: never more than 2 sockets open."""
    import asyncio

    from homeassistant.components import tts

    assert await async_setup_component(hass, "tts", {})
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(config_entry, options={CONF_MAX_SESSIONS: 2})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    most = 0

    def count() -> bool:
        nonlocal most
        most = max(most, emulator.open_sessions)
        return False

    watcher = asyncio.ensure_future(emulator.wait_for(count, timeout=30))
    streams = []
    for index in range(10):
        stream = tts.async_create_stream(hass, "tts.test_voice", "en", {"preferred_format": "mp3"})
        stream.async_set_message(f"Request number {index} is spoken in full.")
        streams.append(stream)
    for stream in streams:
        assert b"".join([chunk async for chunk in stream.async_stream_result()])
    watcher.cancel()
    await emulator.wait_all_closed()
    assert most == 2
