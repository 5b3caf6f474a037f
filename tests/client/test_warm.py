"""The warm socket: a live connection opened ahead of need, against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import functools

import aiohttp
import pytest

from custom_components.fish_audio_live.fishaudio import warm as warm_module
from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.fishaudio.errors import CannotConnectError
from custom_components.fish_audio_live.fishaudio.live import Timeouts
from custom_components.fish_audio_live.fishaudio.settings import DEFAULT_MODEL, SynthesisSettings
from custom_components.fish_audio_live.fishaudio.warm import WarmSocket
from tests.client.common import BOUND, ClientFactory, collect, pieces
from tests.conftest import API_KEY, USER_ID
from tests.emulator import Fault, FishEmulator

MESSAGE = "Hello there, this is the first sentence. And here is the rest of it."


async def ready(warm: WarmSocket | None, count: int = 1) -> bool:
    """Wait, bounded, for the `count`-th warm socket."""
    assert warm is not None
    async with asyncio.timeout(BOUND):
        return await warm.wait_ready(count=count)


async def started(make_client: ClientFactory) -> FishAudioClient:
    """A keep-warm client whose first warm socket is open."""
    client = make_client()
    assert client.warm is not None
    client.start_warm()
    assert await ready(client.warm)
    return client


@pytest.fixture
def make_client(make_client: ClientFactory) -> ClientFactory:
    """Clients that keep a socket warm."""
    return functools.partial(make_client, keep_warm=True, retry_delays=None)


async def test_stream_reuses_the_warm_socket_then_refills(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = await started(make_client)
    assert emulator.handshakes == 1
    warm_record = emulator.sessions[0]
    assert warm_record.request is None  # opened without start

    chunks = []
    async with asyncio.timeout(BOUND):
        async for chunk in client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)):
            assert emulator.handshakes == 1  # no handshake during the stream
            chunks.append(chunk)
    assert emulator.handshakes == 1
    assert client.warm.used == 1
    assert b"".join(chunks) == warm_record.audio_sent
    request = emulator.sessions[0].request  # set by the start sent over the warm socket
    assert request is not None
    assert request["format"] == "pcm"
    assert warm_record.headers["model"] == DEFAULT_MODEL
    assert warm_record.headers["Authorization"] == f"Bearer {API_KEY}"
    assert warm_record.text == MESSAGE
    assert warm_record.finish_reason == "stop"
    assert client.recent[-1].error is None

    # Refilled after the session.
    assert await ready(client.warm, count=2)
    assert emulator.handshakes == 2
    assert client.warm.opened == 2
    await client.aclose()
    await emulator.wait_all_closed()
    assert warm_record.closed
    assert emulator.violations == []


async def test_a_different_model_moves_the_warm_socket_to_it(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    """A request for another model does not use the socket; warming follows it."""
    client = await started(make_client)
    audio = await collect(client.stream(SynthesisSettings(model="s1"), pieces(MESSAGE)))
    assert client.warm.used == 0
    own = next(record for record in emulator.sessions if record.request is not None)
    assert own.headers["model"] == "s1"
    assert audio == own.audio_sent
    assert await ready(client.warm, count=2)
    assert client.warm.model == "s1"  # warm now for the model in use
    assert emulator.sessions[0].request is None
    assert emulator.sessions[0].headers["model"] == DEFAULT_MODEL
    await client.aclose()
    await emulator.wait_all_closed()
    assert emulator.violations == []


async def test_aclose_closes_the_idle_socket(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = await started(make_client)
    assert emulator.open_sessions == 1
    await client.aclose()
    await emulator.wait_all_closed()
    assert emulator.sessions[0].closed
    assert not client.warm.ready
    assert await ready(client.warm) is False
    client.start_warm()  # stopped: nothing happens
    client.warm.refill()
    assert emulator.handshakes == 1
    assert emulator.violations == []


async def test_without_keep_warm_there_is_no_warm_socket(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(keep_warm=False)
    client.start_warm()
    assert client.warm is None
    audio = await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.handshakes == 1


async def test_max_age_replaces_the_socket(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(keep_warm=False)
    slots = asyncio.Semaphore(1)
    warm = WarmSocket(client._connect, slots, DEFAULT_MODEL, max_age=0.05)
    warm.refill()
    assert await ready(warm)
    assert slots.locked()  # an idle warm socket holds a slot
    assert await ready(warm, count=3)
    assert emulator.handshakes == 3
    assert warm.opened == 3
    await warm.aclose()
    await emulator.wait_all_closed()
    assert all(record.closed for record in emulator.sessions)
    assert not slots.locked()
    assert emulator.violations == []


async def test_server_closed_socket_is_replaced(
    emulator: FishEmulator, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm_module, "MIN_LIFETIME", 0.0)  # no back-off: it lived long enough
    client = await started(make_client)
    for session in list(emulator.live):
        await session.shutdown()  # the server drops the idle socket (1001)
    assert await ready(client.warm, count=2)
    assert emulator.handshakes == 2
    assert emulator.sessions[0].closed
    assert not emulator.sessions[1].closed
    # The replacement serves a stream.
    audio = await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    assert audio == emulator.sessions[1].audio_sent
    assert client.warm.used == 1


@pytest.mark.parametrize("problem", ["bad_key", "no_credit"])
async def test_refused_key_stops_keeping_warm(
    emulator: FishEmulator, make_client: ClientFactory, problem: str
) -> None:
    if problem == "bad_key":
        client = make_client(api_key="sk-wrong", max_sessions=1)
    else:
        emulator.credit = {USER_ID: "0"}
        client = make_client(max_sessions=1)
    assert client.warm is not None
    client.start_warm()
    assert await ready(client.warm) is False
    task = client.warm._task
    assert task is not None
    async with asyncio.timeout(BOUND):
        await task  # ends on its own, without waiting to retry
    assert not client._slots.locked()  # its slot is free again
    client.warm.refill()
    assert client.warm._task is task  # no new attempt
    assert emulator.handshakes == 1
    assert client.warm.opened == 0


async def test_failed_open_is_retried(
    emulator: FishEmulator, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm_module, "RETRY_AFTER_FAILURE", 0)
    emulator.add_fault(Fault("handshake_status", status=503))
    client = await started(make_client)
    assert emulator.handshakes == 2
    assert client.warm is not None
    assert client.warm.opened == 1


async def test_silent_server_times_out_and_is_retried(
    http: aiohttp.ClientSession, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm_module, "RETRY_AFTER_FAILURE", 0)
    held: list[asyncio.StreamWriter] = []
    second = asyncio.Event()

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # answer nothing
        if len(held) == 2:
            second.set()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = FishAudioClient(
        http, API_KEY, f"http://127.0.0.1:{port}", timeouts=Timeouts(connect=0.05), keep_warm=True
    )
    try:
        client.start_warm()
        async with asyncio.timeout(BOUND):
            await second.wait()  # the first attempt timed out and the task lived on
        assert client.warm is not None
        assert not client.warm.ready
    finally:
        await client.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_waiting_request_takes_the_warm_slot(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(max_sessions=1)
    assert client.warm is not None
    client.start_warm()
    assert await ready(client.warm)
    # Another model cannot use the warm socket, and would wait for its slot.
    audio = await collect(client.stream(SynthesisSettings(model="s1"), pieces(MESSAGE)))
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.sessions[-1].headers["model"] == "s1"
    assert emulator.sessions[0].closed  # the warm socket gave its slot up
    assert client.warm.used == 0
    # Refilled for the model just used.
    assert await ready(client.warm, count=2)
    assert client.warm.model == "s1"
    assert emulator.sessions[-1].headers["model"] == "s1"
    audio = await collect(client.stream(SynthesisSettings(model="s1"), pieces(MESSAGE)))
    assert client.warm.used == 1
    assert audio == emulator.sessions[2].audio_sent
    await client.aclose()
    await emulator.wait_all_closed()
    assert emulator.violations == []


async def test_same_model_with_one_slot_uses_the_warm_socket(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(max_sessions=1)
    assert client.warm is not None
    client.start_warm()
    assert await ready(client.warm)
    audio = await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    assert audio == emulator.sessions[0].audio_sent
    assert client.warm.used == 1
    assert emulator.handshakes == 1


async def test_no_warm_socket_while_every_slot_is_busy(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(max_sessions=1)
    assert client.warm is not None
    never = asyncio.Event()

    async def held_text() -> AsyncIterator[str]:
        yield MESSAGE
        await never.wait()

    stream = client.stream(SynthesisSettings(), held_text())
    async with asyncio.timeout(BOUND):
        await anext(stream)  # the only slot is in use
        client.start_warm()
        assert client.warm._task is None  # nothing opened: it would hold a needed slot
        await stream.aclose()
    # The session's end refills it.
    assert await ready(client.warm)
    assert emulator.handshakes == 2


async def test_warm_session_ends_with_a_clean_close_handshake(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    """The idle watcher's receive is handed over, so the socket closes normally (1000)."""
    client = await started(make_client)
    audio = await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    warm_record = emulator.sessions[0]
    assert audio == warm_record.audio_sent
    assert client.warm is not None
    assert client.warm.used == 1
    await client.aclose()
    await emulator.wait_all_closed()
    assert warm_record.close_code == 1000
    assert emulator.violations == []


async def test_a_socket_the_server_drops_at_once_backs_off(
    emulator: FishEmulator, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that closes idle sockets straight away is not hammered with handshakes."""
    pause = asyncio.Event()

    async def sleep(_: float) -> None:
        pause.set()  # the keeper reached its back-off instead of reconnecting
        await asyncio.Event().wait()

    client = make_client()
    assert client.warm is not None
    monkeypatch.setattr(client.warm, "_pause", sleep)
    client.start_warm()
    assert await ready(client.warm)
    for session in list(emulator.live):
        await session.shutdown()
    async with asyncio.timeout(BOUND):
        await pause.wait()
    assert emulator.handshakes == 1
    await client.aclose()
    await emulator.wait_all_closed()


async def test_a_closed_client_closes_a_taken_warm_socket_unused(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    """Closing won the race against the request: the warm socket closes with no `start`."""
    client = await started(make_client)
    client._closed = True  # as if aclose() ran while the request took the warm socket
    with pytest.raises(CannotConnectError):
        await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    await emulator.wait_all_closed()
    assert emulator.sessions[0].request is None
    assert client.active_sessions == 0
    client._closed = False
    await client.aclose()
