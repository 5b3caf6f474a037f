"""Setting up and unloading an account entry through Home Assistant's loader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import time
from types import MappingProxyType
from typing import Any
from unittest.mock import patch

from homeassistant.components import tts
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState, ConfigSubentry
from homeassistant.const import CONF_API_KEY, EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.fish_audio_live import runtime as runtime_module
from custom_components.fish_audio_live.const import (
    CONF_CLONE_FILE,
    CONF_CLONE_TEXT,
    CONF_KEEP_WARM,
    CONF_TITLE,
    CONF_URL,
    DOMAIN,
    SUBENTRY_TTS,
)
from custom_components.fish_audio_live.references import clip_path
from custom_components.fish_audio_live.runtime import VOICE_RETRY_AFTER
from tests.conftest import USER_ID
from tests.emulator import FishEmulator, SessionRecord, Voice

ENTITY = "tts.test_voice"
OWN_VOICE_ID = "0123456789abcdef0123456789abcdef"


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> bool:
    assert await async_setup_component(hass, "tts", {})
    entry.add_to_hass(hass)
    result = await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return result


def _replace(entry: MockConfigEntry, **data: Any) -> MockConfigEntry:
    """The same entry (voice included) with some data changed."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data={**entry.data, **data},
        options=dict(entry.options),
        subentries_data=[
            {
                "data": dict(sub.data),
                "subentry_type": sub.subentry_type,
                "title": sub.title,
                "unique_id": sub.unique_id,
            }
            for sub in entry.subentries.values()
        ],
    )


async def test_setup_and_unload(
    hass: HomeAssistant, config_entry: MockConfigEntry, emulator: FishEmulator
) -> None:
    assert await _setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    state = hass.states.get(ENTITY)
    assert state is not None
    assert state.state != STATE_UNAVAILABLE
    runtime = config_entry.runtime_data
    assert runtime.account.user_id == "user-0001"
    assert emulator.handshakes == 0  # nothing live is opened without keep_warm

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.NOT_LOADED  # type: ignore[comparison-overlap]
    state = hass.states.get(ENTITY)  # type: ignore[unreachable]
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_bad_key_starts_reauth(
    hass: HomeAssistant, config_entry: MockConfigEntry, emulator: FishEmulator
) -> None:
    entry = _replace(config_entry, **{CONF_API_KEY: "sk-wrong"})
    assert not await _setup(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == entry.entry_id


async def test_server_unreachable_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry, socket_enabled: None
) -> None:
    async with FishEmulator() as gone:
        url = gone.url  # nothing listens there once it has stopped
    entry = _replace(config_entry, **{CONF_URL: url})
    assert not await _setup(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "cannot_connect" in entry.reason


async def test_server_error_at_setup_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry, emulator: FishEmulator
) -> None:
    emulator.add_rest_fault("/wallet/self/api-credit", 503)
    assert not await _setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.reason is not None
    assert "server_error" in config_entry.reason
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []


async def test_voice_listing_failure_is_not_fatal(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    emulator: FishEmulator,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Setup goes on without the account's voices, and asks again a minute later."""
    emulator.add_rest_fault("/model", 500)
    emulator.add_voice(Voice(OWN_VOICE_ID, "Mine"), owner=USER_ID)
    assert await _setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.runtime_data.voices == []
    client = await hass_ws_client(hass)

    async def listed() -> list[str]:
        await client.send_json_auto_id(
            {"type": "tts/engine/voices", "engine_id": ENTITY, "language": "en"}
        )
        message = await client.receive_json()
        await hass.async_block_till_done(wait_background_tasks=True)
        return [voice["voice_id"] for voice in message["result"]["voices"]]

    def listings() -> int:
        return sum(call.startswith("GET /model?") for call in emulator.rest_calls)

    assert OWN_VOICE_ID not in await listed()
    assert listings() == 1  # not asked again right away
    with patch.object(runtime_module, "time") as clock:
        clock.monotonic.return_value = time.monotonic() + VOICE_RETRY_AFTER + 1
        await listed()  # a minute later: this request starts a new listing
    assert listings() == 2
    assert OWN_VOICE_ID in await listed()


async def _start_held_stream(
    hass: HomeAssistant, release: asyncio.Event
) -> tuple[tts.ResultStream, list[bytes], asyncio.Task[None]]:
    """A stream whose first sentence is spoken while the rest is held back.

    Returns once its first audio arrived; the task keeps reading the rest.
    """

    async def text() -> AsyncGenerator[str]:
        yield "This first sentence is spoken right away. "
        await release.wait()
        yield "This one never comes."

    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "mp3"})
    stream.async_set_message_stream(text())
    chunks: list[bytes] = []
    first = asyncio.Event()

    async def read() -> None:
        async for chunk in stream.async_stream_result():
            chunks.append(chunk)
            first.set()

    reader = asyncio.create_task(read())
    async with asyncio.timeout(5):
        await first.wait()
    return stream, chunks, reader


async def _cut_off(reader: asyncio.Task[None]) -> None:
    """The listener learns that its clip was cut (so HA does not cache it as whole)."""
    with pytest.raises(HomeAssistantError) as info:
        async with asyncio.timeout(5):
            await reader
    assert info.value.translation_key == "cannot_connect"


async def test_unload_ends_running_streams(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """Unloading mid-stream: the listener keeps what was spoken, the socket closes."""
    release = asyncio.Event()
    _, chunks, reader = await _start_held_stream(hass, release)
    assert emulator.open_sessions == 1

    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    await _cut_off(reader)
    await emulator.wait_all_closed()
    session = emulator.sessions[-1]
    assert session.closed
    assert not session.stopped  # the rest of the text was never sent
    assert b"".join(chunks) == session.audio_sent
    assert emulator.violations == []
    assert setup_integration.state is ConfigEntryState.NOT_LOADED
    release.set()


async def test_home_assistant_stop_closes_streams(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    release = asyncio.Event()
    _, chunks, reader = await _start_held_stream(hass, release)

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await _cut_off(reader)
    await emulator.wait_all_closed()
    assert b"".join(chunks) == emulator.sessions[-1].audio_sent
    release.set()


async def test_keep_warm(
    hass: HomeAssistant, config_entry: MockConfigEntry, emulator: FishEmulator
) -> None:
    """keep_warm opens a socket at setup (no start sent), uses it, closes it at unload."""
    opened: asyncio.Queue[SessionRecord] = asyncio.Queue()
    track = emulator.session_opened

    def session_opened(record: SessionRecord) -> None:
        track(record)
        opened.put_nowait(record)

    emulator.session_opened = session_opened  # type: ignore[method-assign]

    entry = MockConfigEntry(
        domain=DOMAIN,
        title=config_entry.title,
        unique_id=config_entry.unique_id,
        data=dict(config_entry.data),
        options={CONF_KEEP_WARM: True},
        subentries_data=[
            {
                "data": dict(sub.data),
                "subentry_type": sub.subentry_type,
                "title": sub.title,
                "unique_id": sub.unique_id,
            }
            for sub in config_entry.subentries.values()
        ],
    )
    assert await _setup(hass, entry)
    warm = entry.runtime_data.client.standby
    assert warm.keep
    async with asyncio.timeout(5):
        first = await opened.get()
        assert await warm.ready("s2.1-pro")
    assert first.request is None  # opened ahead of need: nothing sent yet
    assert emulator.handshakes == 1

    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "mp3"})
    stream.async_set_message("Spoken over the warm socket. Right away.")
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])
    assert warm.stats.used == 1
    assert audio == first.audio_sent
    assert first.text == "Spoken over the warm socket. Right away."

    async with asyncio.timeout(5):
        second = await opened.get()  # refilled for the next request
    assert second is not first

    assert await hass.config_entries.async_unload(entry.entry_id)
    await emulator.wait_all_closed()
    assert second.closed
    assert second.request is None
    assert emulator.violations == []


async def test_removing_the_account_removes_its_clips(
    hass: HomeAssistant, config_entry: MockConfigEntry, emulator: FishEmulator
) -> None:
    """A clone's stored clip goes with the account; unused clips are pruned at setup."""
    entry = _replace(config_entry)
    entry.add_to_hass(hass)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(
                {CONF_TITLE: "Clone", CONF_CLONE_FILE: "mine.wav", CONF_CLONE_TEXT: "Hi."}
            ),
            subentry_type=SUBENTRY_TTS,
            title="Clone",
            unique_id=None,
        ),
    )
    mine, stale = clip_path(hass, "mine.wav"), clip_path(hass, "stale.wav")
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_bytes(b"clip")
    stale.write_bytes(b"left over")

    assert await async_setup_component(hass, "tts", {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert mine.exists()
    assert not stale.exists()

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not mine.exists()
