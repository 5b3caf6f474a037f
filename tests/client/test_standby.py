"""Standby sockets (pre-connect and keep-ready) and session ownership, on the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.fishaudio.errors import CannotConnectError
from custom_components.fish_audio_live.fishaudio.live import Timeouts
from custom_components.fish_audio_live.fishaudio.settings import DEFAULT_MODEL, SynthesisSettings
from custom_components.fish_audio_live.fishaudio.slots import SessionSlots
from tests.client.common import BOUND, ClientFactory, collect, pieces
from tests.conftest import API_KEY
from tests.emulator import Fault, FishEmulator, LatencyModel

MESSAGE = "Hello there, this is the first sentence. And here is the rest of it."
OTHER_MODEL = "s1"


async def ready(client: FishAudioClient, model: str = DEFAULT_MODEL) -> bool:
    async with asyncio.timeout(BOUND):
        return await client.standby.ready(model)


async def settled(client: FishAudioClient, emulator: FishEmulator) -> None:
    """Every socket closed and every slot back."""
    async with asyncio.timeout(BOUND):
        await emulator.wait_all_closed()
        await client.wait_idle()
    assert client.slots.free == client.slots.size
    assert emulator.open_sessions == 0


async def test_preconnected_socket_is_adopted(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client()
    assert client.preconnect(DEFAULT_MODEL)
    assert not client.preconnect(DEFAULT_MODEL)  # one per model
    assert await ready(client)
    record = emulator.sessions[0]
    assert record.request is None  # opened without start
    assert record.headers["Authorization"] == f"Bearer {API_KEY}"

    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)))
    assert emulator.handshakes == 1  # adopted: no second handshake
    assert audio == record.audio_sent
    assert record.text == MESSAGE
    assert client.standby.stats.used == 1
    assert client.recent[-1].error is None
    await settled(client, emulator)
    assert emulator.violations == []


async def test_a_request_waits_for_a_handshake_under_way(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    emulator.latency = LatencyModel(handshake_s=0.05)
    client = make_client()
    client.preconnect(DEFAULT_MODEL)
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)))
    assert emulator.handshakes == 1
    assert audio == emulator.sessions[0].audio_sent
    await settled(client, emulator)


async def test_unused_socket_closes_after_its_bound(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(standby_ttl=0.05)
    client.preconnect(DEFAULT_MODEL)
    assert await ready(client)
    assert client.slots.free == client.slots.size - 1  # it holds a slot while it waits
    await settled(client, emulator)
    assert client.standby.stats.expired == 1
    assert client.standby.models == []
    assert emulator.sessions[0].request is None


async def test_never_opened_when_no_slot_is_free(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(max_sessions=1)
    never = asyncio.Event()

    async def held() -> AsyncIterator[str]:
        yield "Holding the only slot. "
        await never.wait()

    holder = client.stream(SynthesisSettings(format="pcm"), held())
    async with asyncio.timeout(BOUND):
        await anext(holder)
        assert not client.preconnect(DEFAULT_MODEL)
        await holder.aclose()
    await settled(client, emulator)
    assert emulator.handshakes == 1


async def test_a_real_request_takes_the_slot_of_an_idle_standby(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(max_sessions=1)
    client.preconnect(OTHER_MODEL)
    assert await ready(client, OTHER_MODEL)
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)))
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.sessions[-1].model == DEFAULT_MODEL
    assert emulator.sessions[0].request is None  # the standby was closed unused
    await settled(client, emulator)


@pytest.mark.parametrize("status", [401, 402, 429, 503])
async def test_a_failed_preconnect_is_silent(
    emulator: FishEmulator, make_client: ClientFactory, status: int
) -> None:
    client = make_client()
    emulator.add_fault(Fault("handshake_status", status=status))
    client.preconnect(DEFAULT_MODEL)
    assert not await ready(client)
    assert client.standby.stats.failed == 1
    assert client.slots.free == client.slots.size
    # The real request connects afresh, as if nothing had been tried.
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)))
    assert audio == emulator.sessions[-1].audio_sent
    await settled(client, emulator)


async def test_a_request_adopting_a_failing_handshake_connects_itself(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    emulator.latency = LatencyModel(handshake_s=0.05)
    emulator.add_fault(Fault("handshake_status", status=503))
    client = make_client()
    client.preconnect(DEFAULT_MODEL)
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)))
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.handshakes == 2
    await settled(client, emulator)


async def test_a_refused_key_stops_preconnecting(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(api_key="sk-wrong")
    client.preconnect(DEFAULT_MODEL)
    assert not await ready(client)
    assert not client.preconnect(DEFAULT_MODEL)
    assert emulator.handshakes == 1


async def test_cancelled_during_the_hand_over_loses_no_slot(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    emulator.latency = LatencyModel(handshake_s=0.2)
    client = make_client(max_sessions=1)
    client.preconnect(DEFAULT_MODEL)
    stream = client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE))
    reader = asyncio.create_task(collect(stream))
    async with asyncio.timeout(BOUND):
        # The reader's session has taken the standby and waits for its handshake.
        await emulator.wait_for(lambda: emulator.handshakes >= 1)
        assert client.standby.models == []
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
    await settled(client, emulator)
    # The one slot is free: the next request is served at once.
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces("Again.")))
    assert audio == emulator.sessions[-1].audio_sent


async def test_keep_warm_refills_after_use(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(keep_warm=True)
    client.start_warm()
    assert await ready(client)
    await collect(client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)))
    assert await ready(client)  # a fresh one for the next request
    assert emulator.handshakes == 2
    assert emulator.sessions[1].request is None
    await client.aclose()
    await emulator.wait_all_closed()
    assert not client.preconnect(DEFAULT_MODEL)  # closed clients open nothing


async def test_a_reader_that_stops_reading_frees_the_slot(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    """Home Assistant may keep a failed stream's generator, unread, for minutes."""
    client = make_client(max_sessions=1, timeouts=Timeouts(consumer_idle=0.05))
    never = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        yield MESSAGE
        await never.wait()

    stream = client.stream(SynthesisSettings(format="pcm"), endless())
    async with asyncio.timeout(BOUND):
        assert await anext(stream)  # then never read again, never closed
        await emulator.wait_all_closed()
        await client.wait_idle()
    assert client.active_sessions == 0
    assert client.recent[-1].error == "cannot_connect"
    # The next request gets the slot at once.
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces("Next.")))
    assert audio == emulator.sessions[-1].audio_sent
    with pytest.raises(CannotConnectError, match="nobody read"):
        await collect(stream)


async def test_slots_hand_over_to_waiters_in_order() -> None:
    slots = SessionSlots(1)
    assert slots.try_acquire()
    assert not slots.try_acquire()
    first = asyncio.create_task(slots.acquire())
    second = asyncio.create_task(slots.acquire())
    await slots.wait_until(lambda gate: gate.waiting == 2)
    slots.release()
    await first
    assert not second.done()
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    slots.release()
    assert slots.free == 1
    assert not slots.waiting
