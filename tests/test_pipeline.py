"""An Assist pipeline streams an LLM reply into our entity while the reply is written.

The conversation agent is a test entity that streams its reply in small
deltas; the pipeline runs over the websocket API (`assist_pipeline/run`,
intent -> tts) and its audio is fetched the way a satellite or the browser
does, from `/api/tts_proxy/<token>`. The agent holds the end of its reply
until that URL has produced audio, which proves that speech starts before
the agent has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, Literal

import pytest

# HA's conversation component (needed by assist_pipeline) imports these; they are
# its requirements (hassil, home-assistant-intents; from 2026.10 gazetteer-matcher too,
# which scripts/setup installs where that release needs it).
pytest.importorskip("hassil", reason="conversation's requirements are not installed")
pytest.importorskip("home_assistant_intents")

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import MATCH_ALL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from tests.emulator import FishEmulator

AGENT_DOMAIN = "test_streaming_agent"
AGENT_ENTITY = "conversation.streaming_agent"
# More than the pipeline's STREAM_RESPONSE_CHARS (60) before the hold, so that the
# pipeline switches to streaming; the first sentence ends inside it.
BEFORE_AUDIO = ["Once upon a time, ", "there was a small ", "robot who loved ", "to sing. "]
AFTER_AUDIO = ["It sang ", "every ", "single ", "morning, ", "and then ", "it rested."]


class StreamingAgent(conversation.ConversationEntity):
    """A conversation agent that streams its reply like an LLM does."""

    _attr_name = "Streaming agent"
    _attr_unique_id = "streaming_agent"
    _attr_supports_streaming = True

    def __init__(self) -> None:
        """Hold the reply until `start` (set by default), its second part until `go_on`."""
        self.start = asyncio.Event()
        self.start.set()
        self.go_on = asyncio.Event()
        self.finished = False

    @property
    def supported_languages(self) -> list[str] | Literal["*"]:
        """Any language."""
        return MATCH_ALL

    async def _async_handle_message(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> conversation.ConversationResult:
        async def deltas() -> AsyncGenerator[conversation.AssistantContentDeltaDict]:
            await self.start.wait()  # the agent is still thinking
            yield {"role": "assistant"}
            for delta in BEFORE_AUDIO:
                yield {"content": delta}
            await self.go_on.wait()
            for delta in AFTER_AUDIO:
                yield {"content": delta}
            self.finished = True

        async for _ in chat_log.async_add_delta_content_stream(self.entity_id, deltas()):
            pass
        return conversation.async_get_result_from_chat_log(user_input, chat_log)


class AgentFlow(ConfigFlow):
    """The test agent's (unused) config flow: HA wants one for an entry's domain."""

    VERSION = 1


@pytest.fixture
async def agent(hass: HomeAssistant) -> AsyncGenerator[StreamingAgent]:
    """Set up conversation with the streaming agent, through a config entry."""
    agent = StreamingAgent()

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.CONVERSATION])
        return True

    async def unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        return await hass.config_entries.async_unload_platforms(entry, [Platform.CONVERSATION])

    async def setup_platform(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([agent])

    mock_integration(
        hass,
        MockModule(AGENT_DOMAIN, async_setup_entry=setup_entry, async_unload_entry=unload_entry),
    )
    mock_platform(
        hass, f"{AGENT_DOMAIN}.conversation", MockPlatform(async_setup_entry=setup_platform)
    )
    mock_platform(hass, f"{AGENT_DOMAIN}.config_flow")
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    with mock_config_flow(AGENT_DOMAIN, AgentFlow):
        entry = MockConfigEntry(domain=AGENT_DOMAIN)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get(AGENT_ENTITY) is not None
        yield agent


async def create_pipeline(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, tts_engine: str
) -> tuple[Any, str]:
    """An Assist pipeline from the streaming agent to `tts_engine`: a ws client, its id."""
    assert await async_setup_component(hass, "assist_pipeline", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "assist_pipeline/pipeline/create",
            "conversation_engine": AGENT_ENTITY,
            "conversation_language": MATCH_ALL,
            "language": "en",
            "name": "Streaming",
            "stt_engine": None,
            "stt_language": None,
            "tts_engine": tts_engine,
            "tts_language": "en",
            "tts_voice": None,
            "wake_word_entity": None,
            "wake_word_id": None,
        }
    )
    created = await client.receive_json()
    assert created["success"], created
    return client, str(created["result"]["id"])


async def start_text_run(client: Any, pipeline_id: str, text: str) -> None:
    """Run the pipeline from intent to tts on `text` (events follow on `client`)."""
    await client.send_json_auto_id(
        {
            "type": "assist_pipeline/run",
            "start_stage": "intent",
            "end_stage": "tts",
            "input": {"text": text},
            "pipeline": pipeline_id,
        }
    )
    subscribed = await client.receive_json()
    assert subscribed["success"], subscribed


async def test_llm_reply_streams_into_speech(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    agent: StreamingAgent,
    emulator: FishEmulator,
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    client, pipeline_id = await create_pipeline(hass, hass_ws_client, "tts.test_voice")
    await start_text_run(client, pipeline_id, "Tell me a story")

    http = await hass_client()
    audio = bytearray()
    agent_done_at_first_audio: bool | None = None

    async def listen(url: str) -> None:
        """What a satellite does: fetch the reply's audio as it is produced."""
        nonlocal agent_done_at_first_audio
        response = await http.get(url)
        assert response.status == 200
        async for chunk in response.content.iter_any():
            if not audio:
                agent_done_at_first_audio = agent.finished
                agent.go_on.set()
            audio.extend(chunk)

    events: list[dict[str, Any]] = []
    listener: asyncio.Task[None] | None = None
    async with asyncio.timeout(10):
        while True:
            message = await client.receive_json()
            event = message["event"]
            events.append(event)
            if event["type"] == "run-start":
                tts_output = event["data"]["tts_output"]
                assert tts_output["stream_response"] is True
                listener = asyncio.create_task(listen(tts_output["url"]))
            if event["type"] in ("run-end", "error"):
                break
        assert listener is not None
        await listener

    types = [event["type"] for event in events]
    assert "error" not in types, events
    assert any(
        event["type"] == "intent-progress" and event["data"].get("tts_start_streaming")
        for event in events
    )
    assert agent_done_at_first_audio is False  # speech started before the reply ended
    assert agent.finished

    session = emulator.sessions[-1]
    reply = "".join(BEFORE_AUDIO + AFTER_AUDIO)
    assert session.text == reply  # every delta, spaces intact
    # What had gathered (> 60 chars) came first; then each later delta as it came
    # (a space after a word travels with the next word: it may still meet markup).
    later = [piece.strip() for piece in session.texts[-len(AFTER_AUDIO) :]]
    assert later == [delta.strip() for delta in AFTER_AUDIO]
    assert session.flushes >= 1
    assert bytes(audio) == session.audio_sent
    assert emulator.violations == []
    tts_end = next(event for event in events if event["type"] == "tts-end")
    assert tts_end["data"]["tts_output"]["url"].startswith("/api/tts_proxy/")
