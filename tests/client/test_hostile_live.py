"""A hostile live server: what it sends must end in a typed, bounded, sanitised error.

Each case is a server that Fish would never be, run over a real loopback socket
(`rogue_server` of test_live): frames built to cost memory, finishes that lie about
the audio being complete, words meant to forge log lines, audio that never ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import logging
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.fish_audio_live.fishaudio import protocol
from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.fishaudio.errors import (
    SERVER_TEXT_MAX,
    AudioGapTimeoutError,
    CannotConnectError,
    RateLimitError,
    SessionLimitError,
    SynthesisError,
    server_text,
)
from custom_components.fish_audio_live.fishaudio.live import (
    AUDIO_BYTES_BASE,
    AUDIO_BYTES_PER_CHAR,
    Timeouts,
)
from custom_components.fish_audio_live.fishaudio.settings import SynthesisSettings
from tests.client.common import BOUND, FAST, collect, pieces
from tests.client.test_live import FIRST, REST, pack, rogue_server, wait_for_stop
from tests.conftest import API_KEY

# A second sentence long enough for a later flush of its own.
SECOND = "This second sentence is long enough that the policy flushes it at its full stop. "


async def until(ws: web.WebSocketResponse, event: str, count: int = 1) -> None:
    """Read client frames until the `count`-th event named `event`."""
    seen = 0
    async for message in ws:
        if protocol.decode(message.data)["event"] == event:
            seen += 1
            if seen == count:
                return


async def client_on(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> FishAudioClient:
    kwargs.setdefault("timeouts", FAST)
    return FishAudioClient(http, API_KEY, url, **kwargs)


@pytest.mark.parametrize("reason", [None, "timeout", 1, "STOP"])
async def test_only_a_stop_finish_is_success(
    http: aiohttp.ClientSession, socket_enabled: None, reason: object
) -> None:
    """Half the audio then a finish that is not "stop": a cut clip, never cached as whole."""

    async def misbehave(ws: web.WebSocketResponse) -> None:
        await wait_for_stop(ws)
        await ws.send_bytes(pack({"event": "audio", "audio": b"half"}))
        finish: dict[str, Any] = {"event": "finish"}
        if reason is not None:
            finish["reason"] = reason
        await ws.send_bytes(pack(finish))

    async with rogue_server(misbehave) as url:
        client = await client_on(http, url)
        with pytest.raises(SynthesisError, match="finished with reason"):
            await collect(client.stream(SynthesisSettings(), pieces(FIRST, REST)))
        await client.aclose()


async def test_server_words_are_one_short_line(
    http: aiohttp.ClientSession, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A megabyte of error text with a forged log line inside reaches no message whole."""
    forged = "bad\n2026-12-02 ERROR (MainThread) [homeassistant] forged\r\n" + "x" * 1_000_000

    async def misbehave(ws: web.WebSocketResponse) -> None:
        await wait_for_stop(ws)
        await ws.send_bytes(pack({"event": "log", "message": forged}))
        await ws.send_bytes(pack({"event": "finish", "reason": "error", "message": forged}))

    caplog.set_level(logging.DEBUG)
    async with rogue_server(misbehave) as url:
        client = await client_on(http, url)
        with pytest.raises(SynthesisError) as info:
            await collect(client.stream(SynthesisSettings(), pieces(FIRST, REST)))
        await client.aclose()
    message = str(info.value)
    assert len(message) <= SERVER_TEXT_MAX
    assert "\n" not in message
    assert "\r" not in message
    assert message.startswith("bad 2026-12-02 ERROR")
    for record in caplog.records:
        assert "\n" not in record.getMessage()
        assert len(record.getMessage()) < 400


@pytest.mark.parametrize(
    "value",
    [None, 42, "", "\x00\x1b[31m", "a\u2028b", "é" * 500],
)
def test_server_text_is_always_a_short_line(value: object) -> None:
    text = server_text(value)
    assert len(text) <= SERVER_TEXT_MAX
    assert text.isprintable() or text == ""


@pytest.mark.parametrize(
    "frame",
    [
        # 1 MiB of nested one-element arrays: unbounded, it costs memory per level.
        b"\x91" * (1024 * 1024) + b"\xc0",
        # A valid audio event with a bomb beside the audio.
        protocol.encode({"event": "audio", "audio": b"ab", "x": [[]] * 100_000}),
        protocol.encode({"event": "audio", "audio": b"ab", "x": {str(i): i for i in range(1000)}}),
    ],
    ids=["nested", "wide-array", "wide-map"],
)
async def test_structural_bombs_are_refused_unbuilt(
    http: aiohttp.ClientSession, socket_enabled: None, frame: bytes
) -> None:
    async def misbehave(ws: web.WebSocketResponse) -> None:
        await wait_for_stop(ws)
        await ws.send_bytes(frame)

    async with rogue_server(misbehave) as url:
        client = await client_on(http, url)
        with pytest.raises(SynthesisError, match="malformed"):
            await collect(client.stream(SynthesisSettings(), pieces(FIRST, REST)))
        await client.aclose()


def test_decode_keeps_only_known_keys() -> None:
    frame = protocol.encode({"event": "audio", "audio": b"ab", "junk": 1, "time": 2})
    assert protocol.decode(frame) == {"event": "audio", "audio": b"ab", "time": 2}


async def test_a_later_flush_that_gets_no_audio_times_out(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Audio for the first flush, then silence for the second while the text goes on."""
    never = asyncio.Event()
    answered = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield FIRST
        await answered.wait()
        yield SECOND
        await never.wait()  # the text source is still "thinking": not the server's fault
        yield REST

    async def misbehave(ws: web.WebSocketResponse) -> None:
        await until(ws, "flush")
        await ws.send_bytes(pack({"event": "audio", "audio": b"first"}))
        await until(ws, "flush")
        async for _ in ws:  # and nothing more: the client must give up by itself
            pass

    async with rogue_server(misbehave) as url:
        client = await client_on(http, url)

        async def read() -> None:
            async for _ in client.stream(SynthesisSettings(), text()):
                answered.set()  # the first flush is answered: now the second one

        async with asyncio.timeout(BOUND):
            with pytest.raises(AudioGapTimeoutError):
                await read()
        await client.aclose()


async def test_a_trickle_without_finish_ends_within_the_session_bound(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Two bytes every few milliseconds never trip the gap bound; the session bound ends it."""

    async def misbehave(ws: web.WebSocketResponse) -> None:
        await wait_for_stop(ws)
        while not ws.closed:
            await ws.send_bytes(pack({"event": "audio", "audio": b"ab"}))
            await asyncio.sleep(0.01)

    bounds = Timeouts(
        connect=1, first_audio=0.3, audio_gap=0.3, close=0.5, after_stop=0.4, per_char=0
    )
    async with rogue_server(misbehave) as url:
        client = await client_on(http, url, timeouts=bounds)
        async with asyncio.timeout(BOUND):
            with pytest.raises(SessionLimitError):
                await collect(client.stream(SynthesisSettings(), pieces(FIRST, REST)))
        assert client.recent[-1].error == "session_limit"
        await client.aclose()


async def test_endless_audio_is_bounded_by_the_text_sent(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Large frames without finish: the client stops at a bound relative to the text."""
    chunk = b"\x00" * (512 * 1024)

    async def misbehave(ws: web.WebSocketResponse) -> None:
        await wait_for_stop(ws)
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            while not ws.closed:
                await ws.send_bytes(pack({"event": "audio", "audio": chunk}))

    async with rogue_server(misbehave) as url:
        client = await client_on(http, url)
        received = [0]  # kept as it streams: the error ends the loop

        async def read() -> None:
            async with asyncio.timeout(BOUND):
                async for piece in client.stream(SynthesisSettings(format="pcm"), pieces(FIRST)):
                    received[0] += len(piece)

        with pytest.raises(SessionLimitError, match="more audio"):
            await read()
        await client.aclose()
    assert received[0] <= AUDIO_BYTES_BASE + AUDIO_BYTES_PER_CHAR * len(FIRST)


async def test_a_close_reason_is_sanitised(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    async def misbehave(ws: web.WebSocketResponse) -> None:
        await wait_for_stop(ws)
        await ws.close(code=4000, message=b"line one\nline two")

    async with rogue_server(misbehave) as url:
        client = await client_on(http, url)
        with pytest.raises(CannotConnectError) as info:
            await collect(client.stream(SynthesisSettings(), pieces(FIRST, REST)))
        await client.aclose()
    assert "line one line two" in str(info.value)


@pytest.mark.parametrize("value", ["nan", "inf", "-3"])
async def test_an_odd_retry_after_at_the_handshake_uses_our_own_delay(
    http: aiohttp.ClientSession, socket_enabled: None, value: str
) -> None:
    """A 429 with a Retry-After we cannot wait ends as rate_limited, not a raw ValueError."""
    handshakes = [0]

    async def live(request: web.Request) -> web.Response:
        handshakes[0] += 1
        return web.Response(status=429, headers={"Retry-After": value})

    app = web.Application()
    app.router.add_get("/v1/tts/live", live)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        client = await client_on(http, url, retry_delays=(0.01, 0.01))
        async with asyncio.timeout(BOUND):
            with pytest.raises(RateLimitError):
                await collect(client.stream(SynthesisSettings(), pieces(FIRST)))
        await client.aclose()
    finally:
        await runner.cleanup()
    assert handshakes[0] == 3  # the first try and both retries, at our own delays
