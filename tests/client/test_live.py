"""The live client against the emulator, over real sockets on 127.0.0.1.

Nothing of our client or of aiohttp is mocked: every test opens a real
`aiohttp.ClientSession`, talks to the emulator (or, for frames the emulator
never sends, to a tiny rogue server) and checks what both sides saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import io
import logging
import socket
import struct
from typing import Any
import wave

import aiohttp
from aiohttp import web
import msgpack
import pytest

from custom_components.fish_audio_live.fishaudio import protocol
from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.fishaudio.errors import (
    AudioGapTimeoutError,
    AuthenticationError,
    CannotConnectError,
    ConnectTimeoutError,
    FirstAudioTimeoutError,
    FishAudioError,
    InsufficientCreditError,
    InvalidResponseError,
    InvalidSettingError,
    RateLimitError,
    ServerError,
    SynthesisError,
    TextTimeoutError,
)
from custom_components.fish_audio_live.fishaudio.live import (
    LiveSession,
    SessionStats,
    Timeouts,
    connect as live_connect,
)
from custom_components.fish_audio_live.fishaudio.settings import (
    FREE_MODEL,
    ReferenceClip,
    SynthesisSettings,
)
from custom_components.fish_audio_live.fishaudio.text_policy import FLUSH, FlushPolicy, TextPlanner
from custom_components.fish_audio_live.fishaudio.urls import live_url
from tests.client.common import BOUND, FAST, GOOD, ClientFactory, collect, pieces
from tests.conftest import API_KEY, USER_ID
from tests.emulator import Fault, FishEmulator, LatencyModel

LOGGER_NAME = "custom_components.fish_audio_live"
SHORT = Timeouts(connect=1, first_audio=0.15, audio_gap=0.15, close=0.5)

FIRST = "Hello there, this is the first sentence. "
REST = "And here comes the rest of the message, which is a little longer than the first."
MESSAGE = FIRST + REST


# ----- helpers ---------------------------------------------------------------


def free_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def expected_events(policy: FlushPolicy, *parts: str) -> list[dict[str, Any]]:
    """The events the text policy plans for `parts`, then one stop."""
    planner = TextPlanner(policy)
    events: list[dict[str, Any]] = []
    for part in parts:
        events.extend(
            {"event": "flush"} if step is FLUSH else {"event": "text", "text": step}
            for step in planner.feed(part)
        )
    events.append({"event": "stop"})
    return events


async def assert_clean(emulator: FishEmulator) -> None:
    """Every socket is closed and the client broke no rule of the protocol."""
    await emulator.wait_all_closed()
    assert emulator.violations == []
    for record in emulator.sessions:
        assert record.violations == []


def parse_streaming_wav_header(header: bytes) -> tuple[int, ...]:
    """RIFF size, format tag, channels, rate, byte rate, block align, bits, data size."""
    riff, riff_size, wave_id = struct.unpack("<4sI4s", header[:12])
    fmt_id, fmt_size, tag, channels, rate, byte_rate, align, bits = struct.unpack(
        "<4sIHHIIHH", header[12:36]
    )
    data_id, data_size = struct.unpack("<4sI", header[36:44])
    assert (riff, wave_id, fmt_id, fmt_size, data_id) == (b"RIFF", b"WAVE", b"fmt ", 16, b"data")
    return riff_size, tag, channels, rate, byte_rate, align, bits, data_size


@pytest.fixture
def client(make_client: ClientFactory) -> FishAudioClient:
    """A client with generous bounds for sessions that should succeed."""
    return make_client()


@pytest.fixture
def fast_client(make_client: ClientFactory) -> FishAudioClient:
    """A client with short bounds for faults."""
    return make_client(timeouts=FAST)


@contextlib.asynccontextmanager
async def rogue_server(
    handler: Callable[[web.WebSocketResponse], Awaitable[None]],
) -> AsyncIterator[str]:
    """A live endpoint that reads `start`, then lets `handler` misbehave; yields its URL."""

    async def live(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        message = await ws.receive()
        assert protocol.decode(message.data)["event"] == "start"
        await handler(ws)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/v1/tts/live", live)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def pack(event: dict[str, Any]) -> bytes:
    """A server frame."""
    data: bytes = msgpack.packb(event, use_bin_type=True)
    return data


# ----- audio equals what the server sent ----------------------------------------

RATES = {"pcm": 24000, "wav": 16000, "mp3": 32000, "opus": 48000}


def full_settings(fmt: str, voice: str) -> SynthesisSettings:
    """Settings with every value away from the server's defaults."""
    return SynthesisSettings(
        model="s2-pro",
        reference_id=voice,
        format=fmt,
        sample_rate=RATES[fmt],
        mp3_bitrate=192,
        opus_bitrate=32000,
        latency="normal",
        chunk_length=150,
        speed=1.25,
        volume=-3.5,
        temperature=0.5,
        top_p=0.9,
        normalize=False,
    )


def expected_request(fmt: str, voice: str) -> dict[str, Any]:
    """The start request the emulator must have recorded for `full_settings`."""
    return {
        "text": "",
        "format": "pcm" if fmt == "wav" else fmt,
        "sample_rate": RATES[fmt],
        "mp3_bitrate": 192,
        "opus_bitrate": 32000,
        "chunk_length": 150,
        "latency": "normal",
        "reference_id": voice,
        "references": [],
        "prosody": {"speed": 1.25, "volume": -3.5},
        "temperature": 0.5,
        "top_p": 0.9,
        "normalize": False,
    }


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3", "opus"])
async def test_stream_yields_exactly_the_server_audio(
    emulator: FishEmulator, client: FishAudioClient, voice_id: str, fmt: str
) -> None:
    settings = full_settings(fmt, voice_id)
    audio = await collect(client.stream(settings, pieces(FIRST, REST)))

    record = emulator.sessions[-1]
    assert record.request == expected_request(fmt, voice_id)
    assert record.headers["Authorization"] == f"Bearer {API_KEY}"
    assert record.headers["model"] == "s2-pro"
    assert record.model == "s2-pro"
    assert record.finish_reason == "stop"
    assert len(record.audio_sent) > 1000
    if fmt == "wav":
        rate = RATES["wav"]
        assert parse_streaming_wav_header(audio[:44]) == (
            0xFFFFFFFF, 1, 1, rate, rate * 2, 2, 16, 0xFFFFFFFF
        )  # fmt: skip
        assert audio[44:] == record.audio_sent
    else:
        assert audio == record.audio_sent
    if fmt == "opus":
        assert audio.startswith(b"OggS")
    if fmt == "mp3":
        assert audio[0] == 0xFF
        assert audio[1] & 0xE0 == 0xE0
    await emulator.wait_all_closed()
    await assert_clean(emulator)
    stats = client.recent[-1]
    assert stats.error is None
    assert stats.audio_bytes == len(record.audio_sent)
    assert stats.audio_frames == sum(1 for f in record.frames_sent if f["event"] == "audio")
    assert stats.chars == len(MESSAGE)
    assert client.active_sessions == 0


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3", "opus"])
async def test_synthesize_returns_a_complete_file(
    emulator: FishEmulator, client: FishAudioClient, voice_id: str, fmt: str
) -> None:
    settings = full_settings(fmt, voice_id)
    async with asyncio.timeout(BOUND):
        data = await client.synthesize(settings, MESSAGE)

    record = emulator.sessions[-1]
    assert record.request == expected_request(fmt, voice_id)
    assert record.text == MESSAGE
    if fmt == "wav":
        with wave.open(io.BytesIO(data)) as wav:
            assert wav.getnchannels() == 1
            assert wav.getsampwidth() == 2
            assert wav.getframerate() == RATES["wav"]
            frames = wav.readframes(wav.getnframes())
            assert wav.getnframes() * 2 == len(frames) == len(record.audio_sent)
        assert frames == record.audio_sent
        riff_size, *_, data_size = parse_streaming_wav_header(data[:44])
        assert riff_size == len(data) - 8
        assert data_size == len(data) - 44
    else:
        assert data == record.audio_sent
    await emulator.wait_all_closed()
    await assert_clean(emulator)


# ----- text, flushes and stop ------------------------------------------------------


async def test_text_arrives_exactly_with_flushes_per_policy(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    parts = ("Hello there, ", "this is the first sentence.", " And", "  the  rest, ", "spaced. ")
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(*parts, "")))

    record = emulator.sessions[-1]
    assert record.text == "".join(parts)
    events = record.events
    assert events[0]["event"] == "start"
    assert events[1:] == expected_events(client.policy, *parts)
    # The first flush comes right after the first sentence; stop is sent once, last.
    assert events[1:4] == [
        {"event": "text", "text": "Hello there, "},
        {"event": "text", "text": "this is the first sentence."},
        {"event": "flush"},
    ]
    assert [e["event"] for e in events].count("stop") == 1
    assert events[-1] == {"event": "stop"}
    assert record.segments[0] == "Hello there, this is the first sentence."
    assert audio == record.audio_sent
    assert client.recent[-1].flushes == record.flushes == 1
    await assert_clean(emulator)


async def test_later_flushes_follow_the_policy(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    policy = FlushPolicy(first_min_chars=5, first_max_chars=30, later_min_chars=20)
    client = make_client(policy=policy)
    parts = (
        "An opening clause without any full stop that runs on ",
        "and on. Second sentence here is long enough. Third! ",
        "Tail",
    )
    await collect(client.stream(SynthesisSettings(format="mp3"), pieces(*parts)))
    record = emulator.sessions[-1]
    assert record.text == "".join(parts)
    assert record.events[1:] == expected_events(policy, *parts)
    assert record.flushes >= 2
    await assert_clean(emulator)


async def test_early_audio_reaches_the_caller_before_the_last_text(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    first_audio = asyncio.Event()
    rest_sent = False

    async def text() -> AsyncIterator[str]:
        nonlocal rest_sent
        yield FIRST
        await first_audio.wait()
        rest_sent = True
        yield REST

    chunks: list[bytes] = []
    async with asyncio.timeout(BOUND):
        async for chunk in client.stream(SynthesisSettings(format="pcm"), text()):
            if not first_audio.is_set():
                # The caller holds audio while its text source is still waiting.
                assert not rest_sent
                record = emulator.sessions[-1]
                assert record.text == FIRST
                assert not record.stopped
                first_audio.set()
            chunks.append(chunk)

    record = emulator.sessions[-1]
    assert rest_sent
    assert record.text == MESSAGE
    assert b"".join(chunks) == record.audio_sent
    await assert_clean(emulator)


# ----- debug, server time, stats ---------------------------------------------------


async def test_debug_logging_asks_for_server_logs(
    emulator: FishEmulator, client: FishAudioClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    record = emulator.sessions[-1]
    assert record.events[0]["debug"] is True
    assert record.debug
    logs = [f["message"] for f in record.frames_sent if f["event"] == "log"]
    assert logs
    for message in logs:
        assert f"Fish Audio server log: {message}" in caplog.messages
    await assert_clean(emulator)


async def test_no_debug_key_without_debug_logging(
    emulator: FishEmulator, client: FishAudioClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    record = emulator.sessions[-1]
    assert "debug" not in record.events[0]
    assert not record.debug
    assert not [f for f in record.frames_sent if f["event"] == "log"]
    await assert_clean(emulator)


async def test_server_time_is_kept_and_stats_hold_no_text_or_key(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    emulator.latency = LatencyModel(first_audio_s=0.002)
    await collect(client.stream(SynthesisSettings(format="opus"), pieces(FIRST, REST)))
    record = emulator.sessions[-1]
    stats = client.recent[-1]
    sent_time = sum(f["time"] for f in record.frames_sent if f["event"] == "audio")
    assert sent_time > 0
    assert stats.server_time_ms == pytest.approx(sent_time)
    assert stats.time_to_first_audio is not None
    assert stats.time_to_first_audio > 0
    summary = stats.as_dict()
    assert set(summary) == {
        "model", "format", "connect_s", "first_text_s", "first_audio_s", "total_s", "chars",
        "audio_bytes", "audio_frames", "flushes", "server_time_ms", "error",
    }  # fmt: skip
    assert summary["server_time_ms"] > 0
    assert summary["chars"] == len(MESSAGE)
    assert 0 <= summary["connect_s"] <= summary["first_text_s"] <= summary["first_audio_s"]
    assert summary["first_audio_s"] <= summary["total_s"]
    flat = repr(summary)
    assert API_KEY not in flat
    assert "sentence" not in flat
    assert "Hello" not in flat
    assert SessionStats(model="m", format="mp3").time_to_first_audio is None


async def test_inline_voice_cloning_sends_the_reference_audio(
    emulator: FishEmulator, client: FishAudioClient, voice_id: str
) -> None:
    clip = ReferenceClip(audio=b"RIFF\x00\x01\x02fake-sample", text="This is what I say.")
    settings = SynthesisSettings(reference_id=voice_id, references=(clip,))
    audio = await collect(client.stream(settings, pieces(MESSAGE)))
    request = emulator.sessions[-1].request
    assert request is not None
    assert request["references"] == [{"audio": clip.audio, "text": clip.text}]
    assert isinstance(request["references"][0]["audio"], bytes)
    assert request["reference_id"] is None
    assert audio == emulator.sessions[-1].audio_sent
    await assert_clean(emulator)


async def test_invalid_settings_are_refused_before_connecting(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    with pytest.raises(InvalidSettingError):
        await collect(client.stream(SynthesisSettings(speed=9), pieces(MESSAGE)))
    assert emulator.handshakes == 0


async def test_empty_pieces_are_skipped(emulator: FishEmulator, client: FishAudioClient) -> None:
    audio = await collect(client.stream(SynthesisSettings(), pieces("", MESSAGE, "")))
    record = emulator.sessions[-1]
    assert all(e.get("text") != "" for e in record.events)
    assert audio == record.audio_sent
    await assert_clean(emulator)


# ----- handshake faults -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (402, InsufficientCreditError),
        (500, ServerError),
        (503, ServerError),
        (404, InvalidResponseError),  # no live endpoint: not a missing voice
    ],
)
async def test_handshake_status_becomes_a_typed_error(
    emulator: FishEmulator, fast_client: FishAudioClient, status: int, error: type[Exception]
) -> None:
    # Sticky: a 5xx is retried once before it is reported.
    emulator.add_fault(Fault("handshake_status", status=status, sticky=True))
    with pytest.raises(error) as info:
        await collect(fast_client.stream(SynthesisSettings(), pieces(MESSAGE)))
    assert isinstance(info.value, FishAudioError)
    assert info.value.status == status
    # aiohttp's handshake error holds the request headers (the key): not chained.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert emulator.handshakes == (2 if status >= 500 else 1)
    await emulator.wait_all_closed()
    assert fast_client.recent[-1].error == info.value.kind
    assert fast_client.active_sessions == 0


async def test_wrong_key_and_missing_credit(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    with pytest.raises(AuthenticationError):
        await collect(make_client(api_key="sk-wrong").stream(SynthesisSettings(), pieces("Hi.")))
    emulator.credit = {USER_ID: "0"}
    client = make_client()
    with pytest.raises(InsufficientCreditError):
        await collect(client.stream(SynthesisSettings(), pieces("Hi there.")))
    # The free model still works without credit.
    audio = await collect(client.stream(SynthesisSettings(model=FREE_MODEL), pieces("Hi there.")))
    assert audio == emulator.sessions[-1].audio_sent
    await emulator.wait_all_closed()


async def test_rate_limit_retries_then_gives_up(
    emulator: FishEmulator, fast_client: FishAudioClient
) -> None:
    emulator.add_fault(Fault("handshake_status", status=429, retry_after=0.01, sticky=True))
    async with asyncio.timeout(BOUND):
        with pytest.raises(RateLimitError) as info:
            await collect(fast_client.stream(SynthesisSettings(), pieces(MESSAGE)))
    assert info.value.retry_after == pytest.approx(0.01)
    assert emulator.handshakes == 3
    await emulator.wait_all_closed()


async def test_rate_limit_once_then_success(
    emulator: FishEmulator, fast_client: FishAudioClient
) -> None:
    emulator.add_fault(Fault("handshake_status", status=429))
    audio = await collect(fast_client.stream(SynthesisSettings(), pieces(MESSAGE)))
    assert emulator.handshakes == 2
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.sessions[-1].finish_reason == "stop"
    await emulator.wait_all_closed()
    await assert_clean(emulator)


async def test_connection_refused(emulator: FishEmulator, make_client: ClientFactory) -> None:
    client = make_client(base_url=f"http://127.0.0.1:{free_port()}", timeouts=FAST)
    async with asyncio.timeout(BOUND):
        with pytest.raises(CannotConnectError):
            await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    assert client.recent[-1].error == "cannot_connect"


async def test_silent_server_times_out_the_handshake(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # answer nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = FishAudioClient(
        http, API_KEY, f"http://127.0.0.1:{port}", timeouts=Timeouts(connect=0.2)
    )
    try:
        async with asyncio.timeout(BOUND):
            with pytest.raises(ConnectTimeoutError):
                await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    finally:
        await client.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# ----- faults during the session -------------------------------------------------------


async def slow_pieces(*parts: str) -> AsyncIterator[str]:
    """A text source that lets the loop run between pieces, as a real LLM does."""
    for part in parts:
        await asyncio.sleep(0)
        yield part


WORDS = [f"word{i} " for i in range(30)]


@pytest.mark.parametrize("phase", ["after_start", "mid_audio", "after_stop"])
@pytest.mark.parametrize("code", [None, 1011])
async def test_close_without_finish_is_cannot_connect(
    emulator: FishEmulator, fast_client: FishAudioClient, phase: str, code: int | None
) -> None:
    emulator.add_fault(Fault("close", phase=phase, status=code))
    async with asyncio.timeout(BOUND):
        with pytest.raises(CannotConnectError):
            await collect(fast_client.stream(SynthesisSettings(), slow_pieces(FIRST, *WORDS)))
    await emulator.wait_all_closed()
    assert fast_client.active_sessions == 0


@pytest.mark.parametrize("phase", ["after_start", "mid_audio", "after_stop"])
@pytest.mark.parametrize("message", [None, "voice model failed to load"])
async def test_finish_error_is_synthesis_error(
    emulator: FishEmulator, fast_client: FishAudioClient, phase: str, message: str | None
) -> None:
    emulator.add_fault(Fault("finish_error", phase=phase, message=message))
    async with asyncio.timeout(BOUND):
        with pytest.raises(SynthesisError) as info:
            await collect(fast_client.stream(SynthesisSettings(), slow_pieces(FIRST, REST)))
    if message:
        assert info.value.message == str(info.value) == message
    else:
        assert info.value.message  # a sentence for the user even without a server message
    await emulator.wait_all_closed()
    await assert_clean(emulator)
    assert fast_client.recent[-1].error == "synthesis_failed"


@pytest.mark.parametrize("kind", ["malformed", "text_frame"])
@pytest.mark.parametrize("phase", ["after_start", "mid_audio", "after_stop"])
async def test_bad_frames_are_synthesis_errors(
    emulator: FishEmulator, fast_client: FishAudioClient, kind: str, phase: str
) -> None:
    emulator.add_fault(Fault(kind, phase=phase))
    async with asyncio.timeout(BOUND):
        with pytest.raises(SynthesisError):
            await collect(fast_client.stream(SynthesisSettings(), pieces(MESSAGE)))
    await emulator.wait_all_closed()
    await assert_clean(emulator)


@pytest.mark.parametrize(
    ("kind", "phase", "error"),
    [
        ("stall", "after_start", FirstAudioTimeoutError),
        ("stall", "mid_audio", AudioGapTimeoutError),
        ("stall", "after_stop", AudioGapTimeoutError),
        ("no_finish", "after_start", AudioGapTimeoutError),
    ],
)
async def test_silent_server_ends_in_a_timeout(
    emulator: FishEmulator,
    make_client: ClientFactory,
    kind: str,
    phase: str,
    error: type[FishAudioError],
) -> None:
    client = make_client(timeouts=SHORT)
    emulator.add_fault(Fault(kind, phase=phase))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(BOUND):
        with pytest.raises(error):
            await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    elapsed = loop.time() - started
    # Not before the configured bound, and not much after it (plus the close).
    assert elapsed >= SHORT.first_audio * 0.9
    assert elapsed < SHORT.first_audio + SHORT.audio_gap + SHORT.close + 1
    assert client.recent[-1].error == error.kind
    await emulator.wait_all_closed()
    await assert_clean(emulator)


async def test_first_audio_deadline_waits_for_a_flush(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    """Waiting for the caller's text is not the server's fault: no timeout meanwhile."""
    text_ready = asyncio.Event()
    waited = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield "no sentence end yet"
        waited.set()
        await text_ready.wait()
        yield " and now one. "

    async def release_later() -> None:
        await waited.wait()
        # Longer than first_audio, awaited on the loop's clock, not slept in the test body.
        await asyncio.sleep(SHORT.first_audio * 1.5)
        text_ready.set()

    client = make_client(timeouts=SHORT)
    releaser = asyncio.create_task(release_later())
    audio = await collect(client.stream(SynthesisSettings(), text()))
    await releaser
    assert audio == emulator.sessions[-1].audio_sent
    await assert_clean(emulator)


@pytest.mark.parametrize("kind", ["unknown_events", "log_events"])
async def test_extra_events_lose_nothing(
    emulator: FishEmulator, client: FishAudioClient, kind: str
) -> None:
    emulator.add_fault(Fault(kind))
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(FIRST, REST)))
    record = emulator.sessions[-1]
    assert any(f["event"] in ("mystery", "log") for f in record.frames_sent)
    assert audio == record.audio_sent
    assert record.finish_reason == "stop"
    await assert_clean(emulator)


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
async def test_big_frame_arrives_whole(
    emulator: FishEmulator, client: FishAudioClient, fmt: str
) -> None:
    # Just under the frame cap once MessagePack's framing is added.
    size = protocol.MAX_FRAME_BYTES - 1024
    emulator.add_fault(Fault("big_frame", size=size))
    audio = await collect(client.stream(SynthesisSettings(format=fmt), pieces(MESSAGE)))
    record = emulator.sessions[-1]
    if fmt == "pcm":
        assert len(record.audio_sent) == size
    assert audio == record.audio_sent
    assert client.recent[-1].audio_frames == 1
    await assert_clean(emulator)


async def test_frame_over_the_cap_is_a_typed_error_not_a_lost_connection(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    """A frame over the cap is refused by aiohttp unread; the user is told what it was."""
    emulator.add_fault(Fault("big_frame", size=protocol.MAX_FRAME_BYTES + 2))
    with pytest.raises(InvalidResponseError, match="over the 2 MiB limit"):
        await collect(client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE)))
    await emulator.wait_all_closed()
    await assert_clean(emulator)


@pytest.mark.parametrize("phase", ["after_start", "mid_audio"])
async def test_slow_pacing_still_delivers_everything(
    emulator: FishEmulator, make_client: ClientFactory, phase: str
) -> None:
    emulator.latency = LatencyModel(ms_per_char=1.0, chunk_ms=20, first_audio_s=0.005)
    client = make_client(timeouts=FAST)
    emulator.add_fault(Fault("slow", phase=phase))
    audio = await collect(client.stream(SynthesisSettings(format="pcm"), pieces(FIRST, REST)))
    record = emulator.sessions[-1]
    assert audio == record.audio_sent
    assert client.recent[-1].audio_frames > 3
    await assert_clean(emulator)


async def test_unknown_voice_is_a_synthesis_error(
    emulator: FishEmulator, fast_client: FishAudioClient
) -> None:
    settings = SynthesisSettings(reference_id="0" * 32)
    async with asyncio.timeout(BOUND):
        with pytest.raises(SynthesisError, match="not found"):
            await collect(fast_client.stream(settings, pieces(MESSAGE)))
    await emulator.wait_all_closed()
    await assert_clean(emulator)


# ----- frames the emulator never sends -------------------------------------------------


async def wait_for_stop(ws: web.WebSocketResponse) -> None:
    """Read client frames until `stop`."""
    async for message in ws:
        if protocol.decode(message.data)["event"] == "stop":
            return


@pytest.mark.parametrize(
    ("frames", "error", "match"),
    [
        ([{"event": "audio", "audio": "not bytes"}], SynthesisError, "without audio bytes"),
        ([{"event": "audio"}], SynthesisError, "without audio bytes"),
        ([{"no": "event"}], SynthesisError, "malformed event"),
        ([{"event": "finish", "reason": "stop"}], SynthesisError, "before the text was complete"),
        ([{"event": "finish", "reason": "error", "message": 42}], SynthesisError, "no reason"),
    ],
)
async def test_rogue_frames_before_stop(
    http: aiohttp.ClientSession,
    socket_enabled: None,
    frames: list[dict[str, Any]],
    error: type[Exception],
    match: str,
) -> None:
    never = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield FIRST
        await never.wait()
        yield REST

    async def misbehave(ws: web.WebSocketResponse) -> None:
        for frame in frames:
            await ws.send_bytes(pack(frame))

    async with rogue_server(misbehave) as url:
        client = FishAudioClient(http, API_KEY, url, timeouts=FAST)
        async with asyncio.timeout(BOUND):
            with pytest.raises(error, match=match):
                await collect(client.stream(SynthesisSettings(), text()))
        await client.aclose()


async def test_rogue_empty_audio_and_odd_time_are_harmless(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    async def misbehave(ws: web.WebSocketResponse) -> None:
        await wait_for_stop(ws)
        await ws.send_bytes(pack({"event": "audio", "audio": b"", "time": "soon"}))
        await ws.send_bytes(pack({"event": "audio", "audio": b"abcd", "time": 3}))
        await ws.send_bytes(pack({"event": "finish", "reason": "stop"}))

    async with rogue_server(misbehave) as url:
        client = FishAudioClient(http, API_KEY, url, timeouts=FAST)
        audio = await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
        await client.aclose()
    assert audio == b"abcd"
    assert client.recent[-1].server_time_ms == 3
    assert client.recent[-1].audio_frames == 2


def test_protocol_decode_refuses_non_maps() -> None:
    with pytest.raises(SynthesisError, match="malformed frame"):
        protocol.decode(b"\xc1")
    with pytest.raises(SynthesisError, match="malformed event"):
        protocol.decode(msgpack.packb([1, 2]))
    with pytest.raises(SynthesisError, match="malformed event"):
        protocol.decode(msgpack.packb({"event": 5}))
    assert protocol.decode(pack({"event": "x"})) == {"event": "x"}


# ----- the caller stops, fails or is cancelled ----------------------------------------


async def test_caller_stops_reading_after_first_chunk(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    never = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield FIRST
        await never.wait()

    stream = client.stream(SynthesisSettings(format="pcm"), text())
    async with asyncio.timeout(BOUND):
        first = await anext(stream)
        assert first
        await stream.aclose()
        # Closed right away, not later by the garbage collector's finalizer.
        assert client.recent[-1].error == "aborted"
        assert client.recent[-1].ended is not None
        await emulator.wait_all_closed()
    assert emulator.sessions[-1].closed
    assert not emulator.sessions[-1].stopped
    assert client.active_sessions == 0
    assert client.recent[-1].error == "aborted"
    await assert_clean(emulator)


async def test_caller_stops_reading_wav_after_the_header(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    stream = client.stream(SynthesisSettings(format="wav"), pieces(MESSAGE))
    async with asyncio.timeout(BOUND):
        header = await anext(stream)
        assert len(header) == 44
        await stream.aclose()
        await emulator.wait_all_closed()
    assert client.active_sessions == 0


async def test_text_source_error_reaches_the_caller(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    error = ValueError("the text source broke")
    text_sent = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield FIRST
        await text_sent.wait()
        raise error

    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in client.stream(SynthesisSettings(format="pcm"), text()):
            got.append(chunk)
            text_sent.set()

    async with asyncio.timeout(BOUND):
        with pytest.raises(ValueError, match="text source broke") as info:
            await consume()
        await emulator.wait_all_closed()
    assert info.value is error
    assert got
    assert not emulator.sessions[-1].stopped
    assert client.recent[-1].error == "aborted"
    assert client.active_sessions == 0
    await assert_clean(emulator)


async def test_text_source_error_before_any_audio(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    async def text() -> AsyncIterator[str]:
        yield "no sentence end"
        raise ValueError("nothing more")

    async with asyncio.timeout(BOUND):
        with pytest.raises(ValueError, match="nothing more"):
            await collect(client.stream(SynthesisSettings(), text()))
        await emulator.wait_all_closed()
    await assert_clean(emulator)


async def test_cancelled_while_waiting_for_audio(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    emulator.add_fault(Fault("stall"))
    all_sent = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield MESSAGE
        all_sent.set()

    async def consume() -> bytes:
        return b"".join([c async for c in client.stream(SynthesisSettings(), text())])

    task = asyncio.create_task(consume())
    async with asyncio.timeout(BOUND):
        await all_sent.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await emulator.wait_all_closed()
    assert client.active_sessions == 0
    assert client.recent[-1].error == "aborted"
    await assert_clean(emulator)


async def test_cancelled_while_waiting_for_a_slot(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    client = make_client(max_sessions=1)
    never = asyncio.Event()

    async def held_text() -> AsyncIterator[str]:
        yield FIRST
        await never.wait()

    holder = client.stream(SynthesisSettings(), held_text())
    async with asyncio.timeout(BOUND):
        await anext(holder)
        waiter = asyncio.create_task(collect(client.stream(SynthesisSettings(), pieces("Hi."))))
        await client.slots.wait_until(lambda slots: slots.waiting == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert client.waiting == 0
        await holder.aclose()
        await emulator.wait_all_closed()
    assert emulator.handshakes == 1
    # The slot is free again.
    audio = await collect(client.stream(SynthesisSettings(), pieces("Hi there.")))
    assert audio == emulator.sessions[-1].audio_sent


# ----- many sessions, cancel_all ------------------------------------------------------


async def test_max_sessions_caps_parallel_sockets(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    emulator.latency = LatencyModel(first_audio_s=0.005, rtf=0.02)
    client = make_client(max_sessions=2)
    seen_open: list[int] = []
    seen_active: list[int] = []

    async def one(index: int) -> bytes:
        chunks = []
        async for chunk in client.stream(
            SynthesisSettings(format="pcm"), pieces(f"{index} {MESSAGE}")
        ):
            seen_open.append(emulator.open_sessions)
            seen_active.append(client.active_sessions)
            chunks.append(chunk)
        return b"".join(chunks)

    async with asyncio.timeout(BOUND):
        results = await asyncio.gather(*(one(i) for i in range(6)))
    assert len(emulator.sessions) == 6
    by_text = {record.text: record.audio_sent for record in emulator.sessions}
    for index, audio in enumerate(results):
        assert audio == by_text[f"{index} {MESSAGE}"]
    assert max(seen_open) == 2
    assert max(seen_active) == 2
    starts = sorted(
        (r.connected_at, r.closed_at) for r in emulator.sessions if r.connected_at and r.closed_at
    )
    for index, (start, _end) in enumerate(starts):
        assert sum(1 for s, e in starts[:index] if e > start) <= 2
    assert client.waiting == 0
    await assert_clean(emulator)


async def test_cancel_all_ends_streams_promptly(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    """Unloading ends every stream at once, as an error: a cut clip must not look whole."""
    never = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield FIRST
        await never.wait()

    chunks: list[bytes] = []

    async def consume() -> None:
        async for chunk in client.stream(SynthesisSettings(format="pcm"), text()):
            chunks.append(chunk)
            if len(chunks) == 1:
                client.cancel_all()

    async with asyncio.timeout(BOUND):
        with pytest.raises(CannotConnectError, match="unloading"):
            await consume()
        await emulator.wait_all_closed()
    assert chunks  # frames already buffered may still come before the close
    assert client.active_sessions == 0
    assert client.recent[-1].error == "cannot_connect"
    assert not emulator.sessions[-1].stopped
    await assert_clean(emulator)


async def test_cancel_all_while_the_caller_is_busy(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    emulator.latency = LatencyModel(rtf=0.01)
    stream = client.stream(SynthesisSettings(format="pcm"), pieces(MESSAGE))
    async with asyncio.timeout(BOUND):
        await anext(stream)
        client.cancel_all()  # the caller is not reading right now
        with pytest.raises(CannotConnectError, match="unloading"):
            await collect(stream)
        await emulator.wait_all_closed()
    assert client.active_sessions == 0
    assert client.recent[-1].error == "cannot_connect"


async def test_cancel_all_during_the_handshake(
    emulator: FishEmulator, socket_enabled: None
) -> None:
    emulator.latency = LatencyModel(handshake_s=0.05)
    connecting = asyncio.Event()

    async def on_start(*_args: Any) -> None:
        connecting.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        client = FishAudioClient(http, API_KEY, emulator.url, timeouts=GOOD)
        task = asyncio.create_task(collect(client.stream(SynthesisSettings(), pieces(MESSAGE))))
        async with asyncio.timeout(BOUND):
            await connecting.wait()
            assert client.active_sessions == 1
            client.cancel_all()
            with pytest.raises(CannotConnectError, match="unloading"):
                await task
            await emulator.wait_all_closed()
        await client.aclose()
    assert client.active_sessions == 0
    # The handshake itself was cut: the server may not even have seen the session.
    assert all(not record.stopped for record in emulator.sessions)


async def test_live_session_used_directly(
    emulator: FishEmulator, http: aiohttp.ClientSession
) -> None:
    session = LiveSession(http, live_url(emulator.url), API_KEY, SynthesisSettings(), timeouts=GOOD)
    audio = await collect(session.stream(pieces(MESSAGE)))
    assert audio == emulator.sessions[-1].audio_sent
    await session.aclose()  # twice is fine
    await emulator.wait_all_closed()
    await assert_clean(emulator)


async def test_connection_lost_while_sending_is_cannot_connect(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """The writer, not the reader, notices the dropped connection: still a typed error."""
    server_gone = asyncio.Event()
    more_text = asyncio.Event()

    async def live(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # start
        await ws.receive()  # the first text
        await ws.send_bytes(pack({"event": "audio", "audio": b"\x00\x01"}))
        assert request.transport is not None
        request.transport.abort()
        server_gone.set()
        return ws

    async def text() -> AsyncIterator[str]:
        yield FIRST
        await more_text.wait()
        for word in WORDS * 10:
            await asyncio.sleep(0)
            yield word

    app = web.Application()
    app.router.add_get("/v1/tts/live", live)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = live_url(f"http://127.0.0.1:{runner.addresses[0][1]}")
    session = LiveSession(http, url, API_KEY, SynthesisSettings(), timeouts=FAST)
    stream = session.stream(text())
    try:
        async with asyncio.timeout(BOUND):
            assert await anext(stream) == b"\x00\x01"
            await server_gone.wait()
            more_text.set()  # the caller is busy elsewhere; only the writer is running
            assert session._writer is not None
            await asyncio.wait([session._writer])
            with pytest.raises(CannotConnectError):
                await anext(stream)
    finally:
        await stream.aclose()
        await runner.cleanup()


async def test_rate_limit_with_a_date_retry_after_uses_own_delays(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """A Retry-After that is an HTTP date is not a number: the client's own delays apply."""
    attempts = 0

    async def live(_request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        return web.json_response(
            {"status": 429, "message": "Too many sessions"},
            status=429,
            headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
        )

    app = web.Application()
    app.router.add_get("/v1/tts/live", live)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = FishAudioClient(
        http,
        API_KEY,
        f"http://127.0.0.1:{runner.addresses[0][1]}",
        timeouts=FAST,
        retry_delays=(0.01,),
    )
    try:
        async with asyncio.timeout(BOUND):
            with pytest.raises(RateLimitError) as info:
                await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
        assert info.value.retry_after is None
        assert attempts == 2
    finally:
        await client.aclose()
        await runner.cleanup()


async def test_adopting_a_closed_socket_is_cannot_connect(
    emulator: FishEmulator, http: aiohttp.ClientSession
) -> None:
    url = live_url(emulator.url)
    ws = await live_connect(http, url, API_KEY, "s2.1-pro")
    await ws.close()
    session = LiveSession(http, url, API_KEY, SynthesisSettings(), timeouts=FAST)
    with pytest.raises(CannotConnectError):
        await session.open(ws)
    await session.aclose()
    await emulator.wait_all_closed()


async def test_stop_sent_while_the_caller_is_busy(
    emulator: FishEmulator, client: FishAudioClient
) -> None:
    go = asyncio.Event()
    done = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield FIRST
        await go.wait()
        yield REST
        done.set()

    chunks: list[bytes] = []
    async with asyncio.timeout(BOUND):
        async for chunk in client.stream(SynthesisSettings(format="pcm"), text()):
            if not chunks:
                go.set()
                await done.wait()  # not reading while the rest and stop go out
            chunks.append(chunk)
    assert b"".join(chunks) == emulator.sessions[-1].audio_sent
    await assert_clean(emulator)


async def test_text_that_goes_quiet_gives_the_session_back(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    """A caller that never ends its text stream does not hold a socket forever."""
    client = make_client(timeouts=Timeouts(connect=1, first_audio=1, audio_gap=1, text_idle=0.2))
    forever = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        yield "The first sentence arrives. "
        await forever.wait()  # never set: the caller died without ending the text
        yield "never"

    with pytest.raises(TextTimeoutError):
        await collect(client.stream(SynthesisSettings(), text()))
    await assert_clean(emulator)
    assert client.recent[-1].error == "text_timeout"


async def test_waiting_for_a_session_slot_is_bounded(
    emulator: FishEmulator, make_client: ClientFactory
) -> None:
    """A request that never gets one of the account's slots fails instead of hanging."""
    client = make_client(
        max_sessions=1, timeouts=Timeouts(connect=1, first_audio=1, audio_gap=1, slot_wait=0.1)
    )
    hold = asyncio.Event()

    async def held() -> AsyncIterator[str]:
        yield "The first request holds the only session. "
        await hold.wait()

    first = client.stream(SynthesisSettings(), held())
    async with asyncio.timeout(BOUND):
        assert await anext(first)  # the session is open and speaking
    with pytest.raises(RateLimitError):
        await collect(client.stream(SynthesisSettings(), pieces(MESSAGE)))
    hold.set()
    await collect(first)
    await assert_clean(emulator)
