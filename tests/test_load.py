"""Load and lifecycle, through Home Assistant's tts component against the emulator.

* many requests, one after the other and at once: every byte accounted for;
* the per-account session cap (5, Fish's smallest tier) holds under load, and a
  429 that still happens is retried;
* unloading, reloading and stopping Home Assistant while a stream runs;
* a caller that walks away half-way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import logging

from homeassistant.components import tts
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live.const import DOMAIN
from custom_components.fish_audio_live.fishaudio.client import DEFAULT_MAX_SESSIONS
from tests.bounds import TEST_RETRY_DELAYS, TEST_TIMEOUTS
from tests.emulator import Fault, FishEmulator, LatencyModel, SessionRecord
from tests.test_faults import (
    ENTITY_ID,
    ONE_SHOT,
    PATHS,
    STREAMED,
    read,
    speak,
    split_message,
    start,
)

INTEGRATION_LOGGER = "custom_components.fish_audio_live"


pytestmark = pytest.mark.usefixtures("fast_retries")


def session_for(emu: FishEmulator, text: str) -> SessionRecord:
    """The one opened session that synthesized ``text``."""
    matches = [record for record in emu.sessions if record.status == 101 and record.text == text]
    assert len(matches) == 1, f"{len(matches)} sessions for {text!r}"
    return matches[0]


def peak_open(emu: FishEmulator) -> list[int]:
    """Count open sessions each time one opens; returns the list it fills."""
    counts: list[int] = []
    opened = emu.session_opened

    def counting(record: SessionRecord) -> None:
        opened(record)
        counts.append(emu.open_sessions)

    emu.session_opened = counting  # type: ignore[method-assign]
    return counts


def account_limit(emu: FishEmulator, limit: int) -> list[int]:
    """Make the emulator refuse a session over ``limit`` with 429, as Fish does."""
    counts = peak_open(emu)
    opened = emu.session_opened

    def limited(record: SessionRecord) -> None:
        opened(record)
        if emu.open_sessions > limit:
            # handle_live takes the next fault right after session_opened().
            emu.add_fault(Fault("handshake_status", status=429))

    emu.session_opened = limited  # type: ignore[method-assign]
    return counts


# ----- volume -----------------------------------------------------------------


def path_of(index: int) -> str:
    """Alternate one-shot and streamed requests."""
    return PATHS[index % 2]


async def test_sequential_requests(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator
) -> None:
    """50 requests in a row, both paths: each gets exactly the audio its session sent."""
    received = 0
    for index in range(50):
        message = f"Sequential request number {index}. Every byte must arrive."
        audio = await speak(hass, path_of(index), message)
        assert audio == session_for(emulator, message).audio_sent
        received += len(audio)
    assert received == sum(len(record.audio_sent) for record in emulator.sessions)
    assert len(emulator.sessions) == 50
    assert emulator.violations == []
    await emulator.wait_all_closed()


async def test_concurrent_requests_respect_the_session_cap(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator
) -> None:
    """20 requests at once, both paths: at most 5 sockets at a time, no 429, no byte lost."""
    # Sessions last a while (first audio after 20 ms, then paced), so that requests
    # really overlap and the cap is what holds them back.
    emulator.latency = LatencyModel(first_audio_s=0.02, rtf=0.2, ms_per_char=5.0, chunk_ms=20)
    counts = account_limit(emulator, DEFAULT_MAX_SESSIONS)
    messages = [f"Concurrent request {index}, spoken at the same time." for index in range(20)]
    async with asyncio.timeout(10):
        results = await asyncio.gather(
            *(
                speak(hass, path_of(index), message, bound=9)
                for index, message in enumerate(messages)
            )
        )
    for message, audio in zip(messages, results, strict=True):
        assert audio == session_for(emulator, message).audio_sent
    assert sum(map(len, results)) == sum(len(record.audio_sent) for record in emulator.sessions)
    assert [record.status for record in emulator.sessions] == [101] * 20  # no 429
    assert max(counts) == DEFAULT_MAX_SESSIONS
    assert emulator.violations == []
    await emulator.wait_all_closed()


async def test_a_429_is_retried_with_backoff(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator
) -> None:
    """Two 429 answers in a row, then the third handshake works."""
    emulator.add_fault(Fault("handshake_status", status=429))
    emulator.add_fault(Fault("handshake_status", status=429))
    message = "Rate limited twice, then fine."
    audio = await speak(hass, ONE_SHOT, message)
    assert audio == session_for(emulator, message).audio_sent
    assert [record.status for record in emulator.sessions] == [429, 429, 101]
    assert emulator.handshakes == 3
    refused_at = [record.closed_at for record in emulator.sessions[:2]]
    opened_at = emulator.sessions[2].connected_at
    assert None not in (*refused_at, opened_at)
    assert refused_at[1] - refused_at[0] >= TEST_RETRY_DELAYS[0]
    assert opened_at - refused_at[1] >= TEST_RETRY_DELAYS[1]
    await emulator.wait_all_closed()


async def test_retry_after_is_honoured(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator
) -> None:
    """A 429 with Retry-After waits that long (capped) before the next handshake."""
    emulator.add_fault(Fault("handshake_status", status=429, retry_after=0.2))
    message = "Rate limited with a hint."
    audio = await speak(hass, ONE_SHOT, message)
    assert audio == session_for(emulator, message).audio_sent
    refused, opened = emulator.sessions
    assert refused.closed_at is not None
    assert opened.connected_at is not None
    assert opened.connected_at - refused.closed_at >= 0.2
    await emulator.wait_all_closed()


async def test_sticky_429_gives_up_after_bounded_retries(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator
) -> None:
    """An account that stays rate limited: translated error after 1 + 3 handshakes."""
    emulator.add_fault(Fault("handshake_status", status=429, sticky=True))
    async with asyncio.timeout(3):
        with pytest.raises(HomeAssistantError) as info:
            await speak(hass, STREAMED, ["Always ", "rate ", "limited."])
    assert info.value.translation_domain == DOMAIN
    assert info.value.translation_key == "rate_limited"
    assert emulator.handshakes == len(TEST_RETRY_DELAYS) + 1
    emulator.clear_faults()
    assert await speak(hass, ONE_SHOT, "Fine again.")
    await emulator.wait_all_closed()


# ----- lifecycle --------------------------------------------------------------


async def first_chunk_then(hass: HomeAssistant, path: str, message: str) -> asyncio.Task[bytes]:
    """Start a long request; return the task reading the rest once audio flows."""
    stream = start(hass, path, message if path == ONE_SHOT else split_message(message))
    chunks = stream.async_stream_result()
    first = await anext(chunks)

    async def rest() -> bytes:
        return first + b"".join([chunk async for chunk in chunks])

    return hass.async_create_task(rest())


def slow_speech(emu: FishEmulator) -> str:
    """Real-time pacing and a message of several seconds: a stream still running."""
    emu.latency = LatencyModel(rtf=1.0, ms_per_char=20.0, chunk_ms=100)
    return " ".join(["This announcement takes a while to speak."] * 8)


def integration_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """ERROR (or worse) lines our integration logged."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(INTEGRATION_LOGGER) and record.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("action", ["unload", "reload"])
async def test_unload_or_reload_while_speaking(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
    action: str,
    path: str,
) -> None:
    """The running stream ends at once, its socket closes, nothing is logged as an error."""
    message = slow_speech(emulator)
    reader = await first_chunk_then(hass, path, message)
    async with asyncio.timeout(2):
        if action == "unload":
            assert await hass.config_entries.async_unload(loaded.entry_id)
        else:
            assert await hass.config_entries.async_reload(loaded.entry_id)
        with pytest.raises(HomeAssistantError) as info:
            await reader
        await emulator.wait_all_closed()
    assert info.value.translation_domain == DOMAIN
    assert info.value.translation_key == "cannot_connect"
    assert emulator.sessions[0].finish_reason is None  # cut short, not finished
    assert integration_errors(caplog) == []
    if action == "reload":
        assert loaded.state is ConfigEntryState.LOADED
        loaded.runtime_data.client.timeouts = TEST_TIMEOUTS
        emulator.latency = LatencyModel()
        # The cut-short clip was not cached: the same message is synthesized again, in full.
        audio = await speak(hass, path, message if path == ONE_SHOT else split_message(message))
        assert len(emulator.sessions) == 2
        assert audio == emulator.sessions[-1].audio_sent
        assert emulator.sessions[-1].finish_reason == "stop"
        await emulator.wait_all_closed()


async def test_unload_with_requests_waiting_for_a_slot(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Requests queued behind the session cap fail too; none opens a socket after unload."""
    message = slow_speech(emulator)
    client = loaded.runtime_data.client
    streams = [start(hass, ONE_SHOT, f"{index}. {message}") for index in range(7)]
    readers = [stream.async_stream_result() for stream in streams]
    firsts = [asyncio.ensure_future(anext(reader)) for reader in readers]
    # The first five sessions speak; the other two wait for a slot.
    done, waiting = await asyncio.wait(firsts, return_when=asyncio.FIRST_COMPLETED)
    while len(done) < DEFAULT_MAX_SESSIONS:
        more, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        done |= more
    assert client.waiting == 2
    handshakes = emulator.handshakes
    async with asyncio.timeout(2):
        assert await hass.config_entries.async_unload(loaded.entry_id)
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        for reader, first in zip(readers, firsts, strict=True):
            if first not in done:
                continue  # failed at its first chunk: checked above
            with pytest.raises(HomeAssistantError):
                async for _chunk in reader:
                    pass
        await emulator.wait_all_closed()
    assert all(isinstance(outcome, HomeAssistantError) for outcome in outcomes)
    assert emulator.handshakes == handshakes == DEFAULT_MAX_SESSIONS
    assert integration_errors(caplog) == []


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("how", ["stop_event", "async_stop"])
async def test_home_assistant_stops_while_speaking(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
    how: str,
    path: str,
) -> None:
    """Stopping Home Assistant ends the stream and closes the socket promptly.

    ``stop_event``: only our EVENT_HOMEASSISTANT_STOP listener acts (the caller gets a
    translated error). ``async_stop``: the real shutdown, where core first cancels its
    background tasks, the tts cache loader among them.
    """
    message = slow_speech(emulator)
    reader = await first_chunk_then(hass, path, message)
    async with asyncio.timeout(3):
        if how == "stop_event":
            hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
            with pytest.raises(HomeAssistantError) as info:
                await reader
            assert info.value.translation_key == "cannot_connect"
        else:
            await hass.async_stop()
        await emulator.wait_all_closed()
    assert reader.done()
    assert emulator.sessions[0].finish_reason is None
    assert integration_errors(caplog) == []


async def test_stop_closes_a_stream_whose_text_never_ends(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pipeline that died mid-reply never ends its text; HA's stop still closes the socket."""
    more_text: asyncio.Queue[str | None] = asyncio.Queue()

    async def reply() -> AsyncGenerator[str]:
        while (piece := await more_text.get()) is not None:
            yield piece

    more_text.put_nowait("The reply starts, and then the agent fails. ")
    stream = tts.async_create_stream(hass, ENTITY_ID, "en", {"preferred_format": "mp3"})
    stream.async_set_message_stream(reply())
    chunks = stream.async_stream_result()
    assert await anext(chunks)
    assert emulator.open_sessions == 1
    async with asyncio.timeout(3):
        await hass.async_stop()
        await emulator.wait_all_closed()
    await chunks.aclose()
    assert integration_errors(caplog) == []


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("how", ["disconnect", "cancel"])
async def test_caller_walks_away(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator, how: str, path: str
) -> None:
    """A media player that goes away after the first chunk (tts_proxy stops reading).

    ``disconnect``: writing to the player fails, as in TextToSpeechView.get;
    ``cancel``: the reading task is cancelled. Home Assistant keeps loading the clip
    into its cache in the background either way, so the live session runs to its
    end and closes; a second player then gets the whole clip from the cache
    without a new session.
    """
    emulator.latency = LatencyModel(rtf=0.2, ms_per_char=20.0, chunk_ms=100)
    message = "A player that goes away after the first chunk. " * 3
    stream = start(hass, path, message if path == ONE_SHOT else split_message(message))
    first_chunk = asyncio.Event()

    async def player() -> None:
        async for _chunk in stream.async_stream_result():
            if how == "disconnect":
                raise ConnectionResetError("player disconnected")
            first_chunk.set()
            await asyncio.Event().wait()  # a player that stops reading

    if how == "disconnect":
        with pytest.raises(ConnectionResetError):
            await player()
    else:
        task = hass.async_create_task(player())
        await first_chunk.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with asyncio.timeout(5):
        await emulator.wait_all_closed()
        audio = await read(stream)
    assert len(emulator.sessions) == 1
    assert emulator.sessions[0].finish_reason == "stop"
    assert audio == emulator.sessions[0].audio_sent
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.state != "unavailable"
