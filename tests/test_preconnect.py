"""Pre-connect, with the shipped defaults: a conversation's socket opens before its text.

Home Assistant tells the entity that speech is coming when an Assist pipeline
prepares (`tts.async_create_stream` asks `async_supports_streaming_input()`),
before wake word, speech-to-text and the agent. These tests run the real
pipeline and the real tts component against the emulator with a handshake delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any
from unittest.mock import patch

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from tests.emulator import Fault, FishEmulator, LatencyModel
from tests.test_pipeline import (  # noqa: F401 - agent is a fixture
    StreamingAgent,
    agent,
    create_pipeline,
    start_text_run,
)

ENTITY = "tts.test_voice"
REPLY = "Sure thing. The kitchen lights are on now, and the oven is warming up."


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """The shipped defaults: pre-connect on."""
    return {}


@pytest.fixture
def short_standby() -> Iterator[None]:
    """An unused socket closes after 50 ms instead of 25 s."""
    with patch("custom_components.fish_audio_live.fishaudio.client.DEFAULT_TTL", 0.05):
        yield


@pytest.fixture(autouse=True)
def handshake_delay(emulator: FishEmulator) -> None:
    """A handshake that takes time, as TLS to Fish's cloud does."""
    emulator.latency = LatencyModel(handshake_s=0.05)


async def _run_pipeline(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> tuple[Any, dict[str, Any]]:
    """Create a pipeline that ends in our voice and start a text run; return run-start."""
    client, pipeline_id = await create_pipeline(hass, hass_ws_client, ENTITY)
    await start_text_run(client, pipeline_id, "Turn on the kitchen lights")
    run_start = await client.receive_json()
    assert run_start["event"]["type"] == "run-start"
    return client, run_start["event"]


async def test_a_pipeline_run_opens_the_socket_before_its_text(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    agent: StreamingAgent,  # noqa: F811 - the fixture imported above
    emulator: FishEmulator,
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    agent.start.clear()  # the agent thinks before it writes anything
    ws, run_start = await _run_pipeline(hass, hass_ws_client)
    await emulator.wait_for(lambda: emulator.sessions)
    first = emulator.sessions[0]
    await emulator.wait_for(lambda: first.connected_at is not None)
    assert first.request is None  # open before the first word of the reply exists
    assert first.texts == []
    agent.start.set()

    http = await hass_client()
    response = await http.get(run_start["data"]["tts_output"]["url"])
    audio = bytearray()
    async with asyncio.timeout(10):
        async for chunk in response.content.iter_any():
            audio.extend(chunk)
            agent.go_on.set()
        while (await ws.receive_json())["event"]["type"] != "run-end":
            pass
    assert emulator.handshakes == 1  # the stream adopted the pre-opened socket
    assert first.text.startswith("Once upon a time")
    assert bytes(audio) == first.audio_sent
    client = setup_integration.runtime_data.client
    assert client.standby.stats.used == 1
    assert emulator.violations == []


async def test_an_unused_socket_closes_after_its_bound(
    hass: HomeAssistant,
    short_standby: None,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
) -> None:
    """A pipeline that never speaks (no wake word, an error) leaves nothing open."""
    tts.async_create_stream(hass, ENTITY, "en", {})
    await emulator.wait_for(lambda: emulator.sessions)
    await emulator.wait_all_closed()
    client = setup_integration.runtime_data.client
    async with asyncio.timeout(5):
        await client.wait_idle()
    assert client.slots.free == client.slots.size
    assert emulator.sessions[0].request is None  # nothing was ever sent on it
    assert client.standby.stats.expired == 1


async def test_twenty_conversations_at_once_respect_the_cap(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    streams = [tts.async_create_stream(hass, ENTITY, "en", {}) for _ in range(20)]
    client = setup_integration.runtime_data.client
    assert len(client.standby.models) == 1  # one pending socket per model
    for index, stream in enumerate(streams):
        stream.async_set_message(f"Reply number {index}. It is short.")
    results = await asyncio.gather(*(_collect(stream.async_stream_result()) for stream in streams))
    assert all(results)
    spans = sorted(
        (record.connected_at, record.closed_at)
        for record in emulator.sessions
        if record.connected_at is not None and record.closed_at is not None
    )
    assert len(spans) == 20
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most <= client.slots.size
    assert emulator.violations == []


async def test_a_failing_preconnect_changes_nothing(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    emulator.add_fault(Fault("handshake_status", status=503))
    stream = tts.async_create_stream(hass, ENTITY, "en", {})
    stream.async_set_message(REPLY)
    audio = await _collect(stream.async_stream_result())
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.sessions[-1].text == REPLY
    assert emulator.handshakes == 2


async def test_unload_closes_the_pending_socket(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    tts.async_create_stream(hass, ENTITY, "en", {})
    await emulator.wait_for(lambda: emulator.sessions)
    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    await emulator.wait_all_closed()
    assert emulator.sessions[0].request is None


async def test_the_option_turns_it_off(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    hass.config_entries.async_update_entry(setup_integration, options={"preconnect": False})
    assert await hass.config_entries.async_reload(setup_integration.entry_id)
    tts.async_create_stream(hass, ENTITY, "en", {})
    assert setup_integration.runtime_data.client.standby.models == []
    assert emulator.handshakes == 0


async def _collect(audio: AsyncGenerator[bytes]) -> bytes:
    async with asyncio.timeout(10):
        return b"".join([chunk async for chunk in audio])
