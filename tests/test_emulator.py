"""Tests of the Fish Audio emulator itself: strict, deterministic, faithful to the spec."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
import io
import math
import os
from pathlib import Path
import signal
import struct
import sys
from typing import Any

import aiohttp
from aiohttp import WSMsgType
import msgpack
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
import pytest

from tests.emulator import Fault, FishEmulator, LatencyModel, SessionRecord, Voice, __main__ as cli
from tests.emulator.audio import (
    OPUS_PRE_SKIP,
    AudioStream,
    Mp3Stream,
    OpusStream,
    PcmStream,
    chunk_bounds,
    new_stream,
    ogg_crc,
)
from tests.emulator.catalog import Accounts, Catalog, ModelQuery
from tests.emulator.faults import FaultQueue, RestFault, RestFaults, reason
from tests.emulator.live import LiveSession
from tests.emulator.server import base_url
from tests.emulator.session import Headers
from tests.emulator.spec import request_deviations, request_problem

pytestmark = pytest.mark.usefixtures("socket_enabled")

LIVE = "/v1/tts/live"
KEY = "test-key"
HEADERS = {"Authorization": f"Bearer {KEY}", "model": "s2.1-pro"}
ROOT = Path(__file__).resolve().parent.parent
PUBLIC_VOICE = "f51eeab3f59fb13a6ae9f0a61ba5e87e"
OWN_VOICE = "0123456789abcdef0123456789abcdef"


# ----- tiny MessagePack and WebSocket helpers --------------------------------


def pack(value: Any) -> bytes:
    """MessagePack with bin for bytes, as Fish's SDK sends."""
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Decode one server frame."""
    return msgpack.unpackb(data, raw=False)


def start(debug: bool | None = None, **request: Any) -> dict[str, Any]:
    """A start event; pcm unless the test says otherwise."""
    event: dict[str, Any] = {"event": "start", "request": {"text": "", "format": "pcm", **request}}
    if debug is not None:
        event["debug"] = debug
    return event


def text(value: str) -> dict[str, Any]:
    """A text event."""
    return {"event": "text", "text": value}


FLUSH = {"event": "flush"}
STOP = {"event": "stop"}


@dataclass
class Received:
    """Everything the client got on one socket, in order."""

    frames: list[tuple[WSMsgType, Any]] = field(default_factory=list)
    close_code: int | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        """Decoded MessagePack events."""
        return [value for kind, value in self.frames if kind is WSMsgType.BINARY]

    @property
    def names(self) -> list[str]:
        """Event names, with markers for frames that are not events."""
        names = []
        for kind, value in self.frames:
            if kind is WSMsgType.BINARY:
                names.append(value["event"])
            else:
                names.append("<text>" if kind is WSMsgType.TEXT else "<garbage>")
        return names

    @property
    def audio(self) -> bytes:
        """All audio bytes, concatenated."""
        return b"".join(event["audio"] for event in self.events if event["event"] == "audio")

    @property
    def finish(self) -> dict[str, Any] | None:
        """The finish event, if any."""
        finishes = [event for event in self.events if event["event"] == "finish"]
        return finishes[0] if finishes else None


def _decoded(message: aiohttp.WSMessage) -> tuple[WSMsgType, Any]:
    """(BINARY, event) for MessagePack, (BINARY_GARBAGE, bytes) or (TEXT, str) otherwise."""
    if message.type is WSMsgType.BINARY:
        try:
            return WSMsgType.BINARY, unpack(message.data)
        except ValueError:
            return WSMsgType.CONTINUATION, message.data  # marker for undecodable bytes
    return message.type, message.data


async def receive_all(ws: aiohttp.ClientWebSocketResponse) -> Received:
    """Read until the server closes."""
    received = Received()
    async for message in ws:
        if message.type is WSMsgType.ERROR:
            break
        received.frames.append(_decoded(message))
    received.close_code = ws.close_code
    return received


async def send(ws: aiohttp.ClientWebSocketResponse, frames: list[Any]) -> None:
    """str frames go as text frames, bytes as raw binary, anything else as MessagePack."""
    for frame in frames:
        if isinstance(frame, str):
            await ws.send_str(frame)
        else:
            await ws.send_bytes(frame if isinstance(frame, bytes) else pack(frame))


async def converse(
    http: aiohttp.ClientSession,
    emu: FishEmulator,
    frames: list[Any],
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Received:
    """Open a live socket, send ``frames``, read until the server closes."""
    async with http.ws_connect(emu.url + LIVE, headers=headers or HEADERS, **kwargs) as ws:
        await send(ws, frames)
        return await receive_all(ws)


async def ping_barrier(ws: aiohttp.ClientWebSocketResponse) -> list[aiohttp.WSMessage]:
    """Ping and read up to the pong: the server has handled every earlier frame.

    Needs a socket opened with ``autoping=False`` so that the pong is visible.
    """
    await ws.ping(b"barrier")
    before = []
    while (message := await ws.receive()).type is not WSMsgType.PONG:
        before.append(message)
    return before


def pcm_bytes(chars: int, rate: int = 44100, ms_per_char: float = 20.0) -> int:
    """Expected pcm length for ``chars`` characters."""
    return round(chars * ms_per_char * rate / 1000) * 2


# ----- fixtures ------------------------------------------------------------------


@pytest.fixture
async def emu() -> AsyncIterator[FishEmulator]:
    """A started emulator; every test must leave no socket open."""
    async with FishEmulator(api_keys={KEY: "user-1", "other-key": "user-2"}) as emulator:
        yield emulator
        await emulator.wait_all_closed()
        assert emulator.open_sessions == 0


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session


# ----- good sessions per format --------------------------------------------------


async def test_pcm_session_is_recorded_and_audio_exact(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    received = await converse(
        http, emu, [start(chunk_length=100), text("Hello "), text("world."), STOP]
    )
    assert received.names == ["audio", "audio", "audio", "finish"]
    assert received.finish == {"event": "finish", "reason": "stop"}
    assert received.close_code == 1000
    assert len(received.audio) == pcm_bytes(12)
    samples = struct.unpack(f"<{len(received.audio) // 2}h", received.audio)
    assert max(samples) > 1000
    assert min(samples) < -1000
    assert all(isinstance(event["time"], float) for event in received.events[:3])

    record = emu.sessions[0]
    assert isinstance(record, SessionRecord)
    assert record.headers["Authorization"] == f"Bearer {KEY}"
    assert record.headers["MODEL"] == "s2.1-pro"
    assert "model" in record.headers
    assert 5 not in record.headers
    assert record.headers.get("missing", "x") == "x"
    assert record.model == "s2.1-pro"
    assert record.status == 101
    assert record.request == {"text": "", "format": "pcm", "chunk_length": 100}
    assert record.debug is False
    assert record.texts == ["Hello ", "world."]
    assert record.text == "Hello world."
    assert record.segments == ["Hello world."]
    assert record.stopped
    assert record.flushes == 0
    assert record.audio_sent == received.audio
    assert record.frames_sent == received.events
    assert [event["event"] for event in record.events] == ["start", "text", "text", "stop"]
    assert record.violations == []
    assert record.errors == []
    assert record.finish_reason == "stop"
    await emu.wait_all_closed()
    assert record.closed
    assert record.close_code == 1000
    assert record.connected_at is not None
    assert record.started_at is not None
    assert record.first_audio_at is not None
    assert record.closed_at is not None
    assert record.connected_at <= record.started_at <= record.first_audio_at <= record.closed_at
    assert emu.handshakes == 1
    assert emu.violations == []


async def test_audio_is_deterministic_and_continuous_across_segments(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    sentence = "One. Two, three! Four?"
    whole = await converse(http, emu, [start(), text(sentence), STOP])
    pieces = await converse(
        http,
        emu,
        [start(), text("One. "), FLUSH, text("Two, three! "), FLUSH, text("Four?"), STOP],
    )
    assert emu.sessions[1].segments == ["One. ", "Two, three! ", "Four?"]
    assert emu.sessions[1].flushes == 2
    assert pieces.audio == whole.audio
    other = await converse(http, emu, [start(), text("Four? One. Two, three!"), STOP])
    assert len(other.audio) == len(whole.audio)
    assert other.audio != whole.audio


async def test_wav_session_has_one_streaming_header(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    received = await converse(
        http,
        emu,
        [start(format="wav", sample_rate=16000), text("Hi there."), FLUSH, text("Bye."), STOP],
    )
    audio = received.audio
    riff, riff_size, wave, fmt, fmt_size = struct.unpack("<4sI4s4sI", audio[:20])
    assert (riff, riff_size, wave, fmt, fmt_size) == (b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16)
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", audio[20:36])
    assert (tag, channels, rate, byte_rate, align, bits) == (1, 1, 16000, 32000, 2, 16)
    assert struct.unpack("<4sI", audio[36:44]) == (b"data", 0xFFFFFFFF)
    assert len(audio) - 44 == pcm_bytes(13, 16000)
    assert audio.count(b"RIFF") == 1
    assert received.events[0]["audio"].startswith(b"RIFF")


@pytest.mark.parametrize(
    ("rate", "bitrate"), [(None, None), (44100, 64), (32000, 128), (44100, 192)]
)
async def test_mp3_session_duration(
    emu: FishEmulator, http: aiohttp.ClientSession, rate: int | None, bitrate: int | None
) -> None:
    request: dict[str, Any] = {"format": "mp3", "sample_rate": rate}
    if bitrate is not None:
        request["mp3_bitrate"] = bitrate
    sentence = "The quick brown fox jumps over the lazy dog."
    received = await converse(
        http, emu, [start(**request), text(sentence), FLUSH, text(" Yes."), STOP]
    )
    info = MP3(io.BytesIO(received.audio)).info
    expected = len(sentence + " Yes.") * 0.02
    assert info.sample_rate == (rate or 44100)
    assert info.bitrate == (bitrate or 128) * 1000
    assert info.channels == 1
    assert expected <= info.length <= expected + 1152 / info.sample_rate + 0.001
    frames = _mp3_frames(received.audio)
    assert len(frames) == math.ceil(round(expected * info.sample_rate) / 1152)


def _mp3_frames(data: bytes) -> list[bytes]:
    """Walk the stream frame by frame using each header's length."""
    bitrates = {5: 64, 9: 128, 11: 192}
    rates = {0: 44100, 2: 32000}
    frames, offset = [], 0
    while offset < len(data):
        header = data[offset : offset + 4]
        assert header[:2] == b"\xff\xfb"
        bitrate, rate = bitrates[header[2] >> 4], rates[(header[2] >> 2) & 3]
        length = 144 * bitrate * 1000 // rate + ((header[2] >> 1) & 1)
        frames.append(data[offset : offset + length])
        assert not any(data[offset + 4 : offset + length])  # silent: side info all zero
        offset += length
    assert offset == len(data)
    return frames


def _ogg_pages(data: bytes) -> list[tuple[int, int, int, list[bytes]]]:
    """(flags, granule, sequence, packets) per page; checks every CRC."""
    pages, offset = [], 0
    while offset < len(data):
        assert data[offset : offset + 4] == b"OggS"
        flags, granule, _serial, sequence, crc, count = struct.unpack(
            "<BqIIIB", data[offset + 5 : offset + 27]
        )
        lacing = data[offset + 27 : offset + 27 + count]
        size = 27 + count + sum(lacing)
        page = data[offset : offset + size]
        assert ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == crc
        packets, body = [], offset + 27 + count
        for length in lacing:
            packets.append(data[body : body + length])
            body += length
        pages.append((flags, granule, sequence, packets))
        offset += size
    return pages


async def test_opus_session_is_one_ogg_stream_with_exact_duration(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    received = await converse(
        http, emu, [start(format="opus"), text("Bonjour."), FLUSH, text(" Ça va ?"), STOP]
    )
    audio = received.audio
    assert audio.startswith(b"OggS")
    assert OggOpus(io.BytesIO(audio)).info.length == pytest.approx(16 * 0.02)
    pages = _ogg_pages(audio)
    assert [sequence for _, _, sequence, _ in pages] == list(range(len(pages)))
    assert pages[0][0] == 0x02
    assert pages[0][3][0].startswith(b"OpusHead")
    assert pages[1][3][0].startswith(b"OpusTags")
    assert pages[-1][0] == 0x04
    assert pages[-1][1] == OPUS_PRE_SKIP + 16 * 20 * 48
    granules = [granule for _, granule, _, _ in pages]
    assert granules == sorted(granules)
    assert all(packet == b"\xf8\xff\xfe" for page in pages[2:] for packet in page[3])
    assert received.names[-2:] == ["audio", "finish"]


async def test_opus_bitrate_and_empty_session(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    received = await converse(http, emu, [start(format="opus", opus_bitrate=32000), STOP])
    assert received.names == ["finish"]
    assert emu.sessions[0].segments == []


@pytest.mark.parametrize("audio_format", ["opus", "mp3"])
async def test_sdk_opus_bitrate_in_kbits_is_a_deviation_not_a_violation(
    emu: FishEmulator, http: aiohttp.ClientSession, audio_format: str
) -> None:
    """Fish's own SDK sends opus_bitrate 32 in every start: the service accepts it, so do we."""
    received = await converse(
        http, emu, [start(format=audio_format, opus_bitrate=32), text("Hi."), STOP]
    )
    assert received.names[-2:] == ["audio", "finish"]
    assert received.finish == {"event": "finish", "reason": "stop"}
    assert emu.violations == []
    assert len(emu.deviations) == 1
    assert emu.deviations[0].startswith("start request: opus_bitrate: 32 (kbit/s")
    assert emu.sessions[0].deviations == emu.deviations


def test_spec_values_are_no_deviation_and_unlisted_ones_stay_violations() -> None:
    assert request_deviations({"text": "", "opus_bitrate": 32000}) == []
    assert request_deviations({"text": "", "opus_bitrate": 64}) != []
    assert request_problem({"text": "", "opus_bitrate": 64}) is None
    assert request_problem({"text": "", "opus_bitrate": 16}) is not None
    assert request_problem({"text": "", "opus_bitrate": True}) is not None
    assert request_problem({"text": "", "mp3_bitrate": 32}) is not None  # only opus is tolerated


async def test_default_format_is_mp3(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    received = await converse(
        http, emu, [{"event": "start", "request": {"text": ""}}, text("abc"), STOP]
    )
    assert received.audio[:2] == b"\xff\xfb"


# ----- buffering ---------------------------------------------------------------


async def test_segments_cut_at_chunk_length_flush_and_stop(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    first, second, third = "a" * 60, "b" * 50, "c" * 99
    await converse(
        http,
        emu,
        [
            start(chunk_length=100),
            text(first),
            text(second),
            FLUSH,
            text(third),
            FLUSH,
            FLUSH,
            text("tail"),
            STOP,
        ],
    )
    record = emu.sessions[0]
    assert record.segments == [first + second, third, "tail"]
    assert record.flushes == 3
    assert len(record.audio_sent) == pcm_bytes(len(first + second + third + "tail"))


async def test_start_text_is_buffered_like_a_text_event(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    await converse(http, emu, [start(text="Hi. "), text("Ho."), STOP])
    assert emu.sessions[0].segments == ["Hi. Ho."]
    assert emu.sessions[0].texts == ["Ho."]


async def test_default_chunk_length_is_300(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    await converse(http, emu, [start(), text("x" * 299), text("y"), text("z"), STOP])
    assert emu.sessions[0].segments == ["x" * 299 + "y", "z"]


async def test_debug_sends_log_events(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    received = await converse(http, emu, [start(debug=True), text("Hi."), FLUSH, text("Ho."), STOP])
    assert received.names.count("log") == 3
    assert received.names[0] == "log"
    assert emu.sessions[0].debug is True
    quiet = await converse(http, emu, [start(debug=False), text("Hi."), STOP])
    assert "log" not in quiet.names


# ----- latency -----------------------------------------------------------------


async def test_latency_model_paces_handshake_first_audio_and_chunks(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    emu.latency = LatencyModel(handshake_s=0.03, first_audio_s=0.03, rtf=1.0, chunk_ms=20)
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with http.ws_connect(emu.url + LIVE, headers=HEADERS) as ws:
        connected = loop.time()
        await send(ws, [start(), text("abcd"), STOP])
        received = await receive_all(ws)
    finished = loop.time()
    assert connected - began >= 0.025
    assert finished - connected >= 0.03 + 0.06 - 0.01
    assert len(received.audio) == pcm_bytes(4)
    record = emu.sessions[0]
    assert record.first_audio_at is not None
    assert record.started_at is not None
    assert record.first_audio_at - record.started_at >= 0.025
    assert received.events[0]["time"] == pytest.approx(30.0)
    assert received.events[1]["time"] == pytest.approx(20.0)


async def test_latency_model_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rtf"):
        LatencyModel(rtf=-1)
    with pytest.raises(ValueError, match="chunk_ms"):
        LatencyModel(chunk_ms=0)


async def test_rest_latency(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    emu.latency = LatencyModel(rest_s=0.03)
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with http.get(emu.url + "/model", headers=HEADERS) as response:
        assert response.status == 200
    assert loop.time() - began >= 0.025


# ----- handshake -----------------------------------------------------------------


def upgrade_headers(**extra: str) -> dict[str, str]:
    """Headers of a WebSocket upgrade sent as a plain request, to read error bodies."""
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
        "Sec-WebSocket-Version": "13",
        **extra,
    }


async def test_handshake_rejects_unknown_key_and_missing_header(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(
            emu.url + LIVE, headers={"Authorization": "Bearer nope", "model": "s1"}
        )
    assert err.value.status == 401
    assert emu.violations == []
    async with http.get(emu.url + LIVE, headers=upgrade_headers(model="s1")) as response:
        assert response.status == 401
        assert (await response.json())["status"] == 401
    assert emu.violations == ["live handshake: missing Authorization header"]
    assert emu.sessions == []
    assert emu.handshakes == 2


async def test_handshake_malformed_authorization_is_a_violation(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(emu.url + LIVE, headers={"Authorization": KEY, "model": "s1"})
    assert emu.violations == ["live handshake: Authorization header is not 'Bearer <api key>'"]


async def test_plain_get_on_live_path_is_a_violation(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(emu.url + LIVE, headers=HEADERS) as response:
        assert response.status == 400
    assert emu.violations == ["live handshake: not a WebSocket upgrade request"]
    assert emu.sessions == []


async def test_missing_model_header_is_a_violation_and_falls_back(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    received = await converse(
        http,
        emu,
        [start(debug=True), text("Hi."), STOP],
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert received.finish == {"event": "finish", "reason": "stop"}
    assert "s2.1-pro" in received.events[0]["message"]
    record = emu.sessions[0]
    assert record.model is None
    assert len(record.violations) == 1
    assert "missing 'model' header" in record.violations[0]
    assert emu.violations == record.violations


async def test_any_key_accepted_without_key_table(http: aiohttp.ClientSession) -> None:
    async with FishEmulator() as emu:
        received = await converse(http, emu, [start(), text("a"), STOP])
        assert received.finish is not None
        async with http.get(emu.url + "/wallet/self/api-credit", headers=HEADERS) as response:
            assert (await response.json())["user_id"] == "emulator-user"
        await emu.wait_all_closed()


async def test_no_credit_answers_402_except_free_model(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    emu.credit["user-1"] = "0"
    async with http.get(emu.url + LIVE, headers=upgrade_headers(**HEADERS)) as response:
        assert response.status == 402
        assert (await response.json())["status"] == 402
    free = {**HEADERS, "model": "s2.1-pro-free"}
    received = await converse(http, emu, [start(), text("a"), STOP], headers=free)
    assert received.finish is not None
    emu.credit["user-1"] = "not a number"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(emu.url + LIVE, headers=HEADERS)
    assert err.value.status == 402
    emu.credit = {"user-1": "0.01"}
    assert (await converse(http, emu, [start(), STOP])).finish is not None
    assert [record.status for record in emu.sessions] == [402, 101, 402, 101]
    await emu.wait_all_closed()
    assert all(record.closed for record in emu.sessions)


# ----- reference voices ---------------------------------------------------------


async def test_reference_id_must_exist_for_the_user(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    emu.add_voice(Voice(OWN_VOICE, "My voice", ["en"], visibility="private"), owner="user-1")
    ok = await converse(http, emu, [start(reference_id=OWN_VOICE), text("a"), STOP])
    assert ok.finish == {"event": "finish", "reason": "stop"}
    both = await converse(http, emu, [start(reference_id=[PUBLIC_VOICE, OWN_VOICE]), STOP])
    assert both.finish == {"event": "finish", "reason": "stop"}
    other = {"Authorization": "Bearer other-key", "model": "s1"}
    missing = await converse(
        http, emu, [start(reference_id=OWN_VOICE), text("a"), STOP], headers=other
    )
    assert missing.finish == {
        "event": "finish",
        "reason": "error",
        "message": f"reference_id {OWN_VOICE} not found",
    }
    assert missing.close_code == 1000
    assert emu.sessions[2].errors == [f"reference_id {OWN_VOICE} not found"]
    assert emu.violations == []


# ----- faults -----------------------------------------------------------------


async def fault_session(
    emu: FishEmulator,
    http: aiohttp.ClientSession,
    fault: Fault,
    frames: list[Any] | None = None,
    **kwargs: Any,
) -> tuple[Received, SessionRecord]:
    """Queue ``fault`` and run one ordinary session against it."""
    emu.add_fault(fault)
    received = await converse(http, emu, frames or [start(), text("Hello world."), STOP], **kwargs)
    await emu.wait_all_closed()
    return received, emu.sessions[-1]


async def test_fault_handshake_status(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    emu.add_fault(
        Fault("handshake_status", status=429, message="Too many sessions", retry_after=2.5)
    )
    async with http.get(emu.url + LIVE, headers=upgrade_headers(**HEADERS)) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "2.5"
        assert await response.json() == {"status": 429, "message": "Too many sessions"}
    emu.add_fault(Fault("handshake_status"))
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(emu.url + LIVE, headers=HEADERS)
    assert err.value.status == 503
    assert "Retry-After" not in (err.value.headers or {})
    assert [record.status for record in emu.sessions] == [429, 503]
    assert (await converse(http, emu, [start(), STOP])).finish is not None


@pytest.mark.parametrize(
    ("phase", "names"),
    [
        ("after_start", []),
        ("mid_audio", ["audio"]),
        ("after_stop", ["audio", "audio", "audio"]),
    ],
)
async def test_fault_close(
    emu: FishEmulator, http: aiohttp.ClientSession, phase: str, names: list[str]
) -> None:
    received, record = await fault_session(emu, http, Fault("close", phase))
    assert received.names == names
    assert received.close_code == 1000
    assert record.finish_reason is None
    assert record.closed


async def test_fault_close_with_code(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    received, _ = await fault_session(emu, http, Fault("close", "mid_audio", status=1011))
    assert received.close_code == 1011


@pytest.mark.parametrize(
    ("phase", "audio_events"), [("after_start", 0), ("mid_audio", 1), ("after_stop", 3)]
)
@pytest.mark.parametrize("message", [None, "Internal synthesis error"])
async def test_fault_finish_error(
    emu: FishEmulator,
    http: aiohttp.ClientSession,
    phase: str,
    audio_events: int,
    message: str | None,
) -> None:
    received, record = await fault_session(emu, http, Fault("finish_error", phase, message=message))
    assert received.names == ["audio"] * audio_events + ["finish"]
    expected: dict[str, Any] = {"event": "finish", "reason": "error"}
    if message is not None:
        expected["message"] = message
    assert received.finish == expected
    assert record.finish_reason == "error"
    assert record.violations == []


@pytest.mark.parametrize(("kind", "marker"), [("malformed", "<garbage>"), ("text_frame", "<text>")])
@pytest.mark.parametrize(
    ("phase", "position"), [("after_start", 0), ("mid_audio", 1), ("after_stop", 3)]
)
async def test_fault_bad_frames_then_normal(
    emu: FishEmulator,
    http: aiohttp.ClientSession,
    kind: str,
    marker: str,
    phase: str,
    position: int,
) -> None:
    received, record = await fault_session(emu, http, Fault(kind, phase))
    expected = ["audio", "audio", "audio", "finish"]
    expected.insert(position, marker)
    assert received.names == expected
    assert record.finish_reason == "stop"
    assert marker not in [event["event"] for event in record.frames_sent]


async def test_fault_unknown_events(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    received, _ = await fault_session(emu, http, Fault("unknown_events"))
    assert received.names == ["mystery", "audio"] * 3 + ["finish"]
    assert received.events[0] == {"event": "mystery", "data": 1}


async def test_fault_log_events(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    received, record = await fault_session(emu, http, Fault("log_events"))
    assert received.names == ["log", "log", "audio", "audio", "audio", "finish"]
    assert record.debug is False


async def test_fault_stall_after_start(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    emu.add_fault(Fault("stall"))
    async with http.ws_connect(emu.url + LIVE, headers=HEADERS, autoping=False) as ws:
        await send(ws, [start(), text("Hello."), STOP])
        assert await ping_barrier(ws) == []
        await send(ws, [text("after stop, while stalled")])
        assert await ping_barrier(ws) == []
    await emu.wait_all_closed()
    record = emu.sessions[0]
    assert record.frames_sent == []
    assert record.stopped
    assert record.violations == ["'text' event received after 'stop'"]
    assert record.closed


async def test_fault_stall_mid_audio(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    emu.add_fault(Fault("stall", "mid_audio"))
    async with http.ws_connect(emu.url + LIVE, headers=HEADERS) as ws:
        await send(ws, [start(), text("Hello world."), STOP])
        first = unpack((await ws.receive()).data)
        assert first["event"] == "audio"
    await emu.wait_all_closed()
    assert [event["event"] for event in emu.sessions[0].frames_sent] == ["audio"]


@pytest.mark.parametrize("fault", [Fault("stall", "after_stop"), Fault("no_finish")])
async def test_fault_no_finish_after_all_audio(
    emu: FishEmulator, http: aiohttp.ClientSession, fault: Fault
) -> None:
    emu.add_fault(fault)
    audio = b""
    async with http.ws_connect(emu.url + LIVE, headers=HEADERS) as ws:
        await send(ws, [start(), text("Hello world."), STOP])
        while len(audio) < pcm_bytes(12):
            audio += unpack((await ws.receive()).data)["audio"]
    await emu.wait_all_closed()
    record = emu.sessions[0]
    assert record.finish_reason is None
    assert record.audio_sent == audio
    assert record.closed


@pytest.mark.parametrize("phase", ["after_start", "mid_audio", "after_stop"])
async def test_fault_slow(emu: FishEmulator, http: aiohttp.ClientSession, phase: str) -> None:
    emu.latency = LatencyModel(chunk_ms=20)
    loop = asyncio.get_running_loop()
    emu.add_fault(Fault("slow", phase))
    async with http.ws_connect(emu.url + LIVE, headers=HEADERS) as ws:
        await send(ws, [start(), text("abcd"), STOP])
        arrivals = [(unpack(message.data), loop.time()) async for message in ws]
    events = [event for event, _ in arrivals]
    assert [event["event"] for event in events] == ["audio"] * 4 + ["finish"]
    spent = arrivals[3][1] - arrivals[0][1]
    if phase == "after_stop":
        assert events[1]["time"] == 0.0
    else:
        assert spent >= 0.05  # three gaps of 20 ms at real time (rtf 0 counts as 0.1 x 10)
        assert events[1]["time"] == pytest.approx(20.0)


async def test_fault_big_frame_pcm_default_size(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    normal = await converse(http, emu, [start(), text("Hello world."), STOP])
    received, record = await fault_session(emu, http, Fault("big_frame"), max_msg_size=0)
    assert received.names == ["audio", "finish"]
    assert len(received.audio) == 8 * 1024 * 1024
    assert received.audio.startswith(normal.audio)
    assert not any(received.audio[len(normal.audio) :])
    assert record.audio_sent == received.audio


@pytest.mark.parametrize("audio_format", ["wav", "pcm"])
async def test_fault_big_frame_sized(
    emu: FishEmulator, http: aiohttp.ClientSession, audio_format: str
) -> None:
    received, _ = await fault_session(
        emu, http, Fault("big_frame", size=65536), [start(format=audio_format), STOP]
    )
    assert len(received.audio) == 65536
    assert received.audio.startswith(b"RIFF") == (audio_format == "wav")


async def test_fault_big_frame_compressed_formats_unpadded(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    frames = [start(format="opus"), text("Hello "), FLUSH, text("world."), STOP]
    received, _ = await fault_session(emu, http, Fault("big_frame", size=65536), frames)
    assert received.names == ["audio", "finish"]
    assert OggOpus(io.BytesIO(received.audio)).info.length == pytest.approx(0.24)
    mp3 = [start(format="mp3"), text("Hello world."), STOP]
    received, _ = await fault_session(emu, http, Fault("big_frame"), mp3)
    assert len(received.audio) < 65536
    assert MP3(io.BytesIO(received.audio)).info.length == pytest.approx(0.24, abs=0.03)


async def test_big_frame_over_client_limit_still_closes(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault("big_frame"))
    async with http.ws_connect(emu.url + LIVE, headers=HEADERS) as ws:
        await send(ws, [start(), text("Hi."), STOP])
        message = await ws.receive()
        assert message.type is WSMsgType.ERROR
    await emu.wait_all_closed()
    assert emu.sessions[0].closed


async def test_faults_are_fifo_sticky_and_clearable(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault("close"))
    emu.add_fault(Fault("finish_error", sticky=True))
    emu.add_fault(Fault("close"))  # behind a sticky fault: never applies
    frames = [start(), text("a"), STOP]
    results = [await converse(http, emu, frames) for _ in range(3)]
    assert [result.finish for result in results] == [None] + [
        {"event": "finish", "reason": "error"}
    ] * 2
    emu.clear_faults()
    assert (await converse(http, emu, frames)).finish == {"event": "finish", "reason": "stop"}


async def test_rejected_handshakes_do_not_take_faults(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault("finish_error"))
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(
            emu.url + LIVE, headers={"Authorization": "Bearer bad", "model": "s1"}
        )
    received = await converse(http, emu, [start(), STOP])
    assert received.finish == {"event": "finish", "reason": "error"}


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="unknown fault phase"):
        Fault("close", "before_start")
    with pytest.raises(ValueError, match="even"):
        Fault("big_frame", size=3)
    with pytest.raises(ValueError, match=r"400\.\.599"):
        Fault("handshake_status", status=200)
    fault = Fault("close")
    assert fault.fires_at("after_start")
    assert not fault.fires_at("mid_audio")
    assert not Fault("no_finish").fires_at("after_start")
    queue = FaultQueue()
    queue.add(fault)
    assert len(queue) == 1
    assert queue.take() is fault
    assert queue.take() is None
    assert reason(799) == "Error"


# ----- strictness: every client mistake is caught ------------------------------

GOOD = start()

FRAME_CASES: list[tuple[str, list[Any], str]] = [
    ("text frame", ["{}"], "text WebSocket frame"),
    ("undecodable", [b"\xc1\x00"], "not valid MessagePack"),
    ("truncated", [b"\x82\xa5event"], "not valid MessagePack"),
    ("trailing bytes", [pack(GOOD) + b"\x00"], "not valid MessagePack"),
    ("bad utf-8", [b"\x81\xa5event\xa2\xff\xfe"], "not valid MessagePack"),
    ("not a map", [pack(["start"])], "not a map"),
    ("unknown event", [pack({"event": "close"})], "unknown event 'close'"),
    ("no event", [pack({"request": {}})], "unknown event None"),
    ("text first", [text("hi")], "'text' event received before 'start'"),
    ("flush first", [FLUSH], "'flush' event received before 'start'"),
    ("stop first", [STOP], "'stop' event received before 'start'"),
    ("start twice", [GOOD, GOOD], "'start' event sent twice"),
    ("text bytes", [GOOD, {"event": "text", "text": b"hi"}], "without a str 'text'"),
    ("text missing", [GOOD, {"event": "text"}], "without a str 'text'"),
    (
        "text extra key",
        [GOOD, {"event": "text", "text": "a", "voice": 1}],
        "unknown keys in 'text'",
    ),
    ("stop extra key", [GOOD, {"event": "stop", "now": True}], "unknown keys in 'stop'"),
    ("flush extra key", [GOOD, {"event": "flush", "x": 1}], "unknown keys in 'flush'"),
    ("start extra key", [{**GOOD, "model": "s1"}], "unknown keys in 'start'"),
    ("no request", [{"event": "start"}], "'start' event without 'request'"),
    ("debug not bool", [{**GOOD, "debug": 1}], "'debug' must be a bool"),
    ("request not map", [{"event": "start", "request": []}], "'request' must be a map"),
    ("request no text", [{"event": "start", "request": {"format": "pcm"}}], "'text' is required"),
    ("unknown field", [start(voice="x")], "unknown fields ['voice']"),
]

FIELD_CASES: list[tuple[dict[str, Any], str]] = [
    ({"text": 5}, "text: must be a str"),
    ({"format": "ogg"}, "format: 'ogg' not one of"),
    ({"sample_rate": 48000}, "sample_rate: 48000 not supported for pcm"),
    ({"format": "wav", "sample_rate": 22050}, "not supported for wav"),
    ({"format": "mp3", "sample_rate": 16000}, "not supported for mp3"),
    ({"format": "opus", "sample_rate": 44100}, "not supported for opus"),
    ({"sample_rate": "44100"}, "sample_rate: must be an integer"),
    ({"mp3_bitrate": 96}, "mp3_bitrate: 96 not one of"),
    ({"mp3_bitrate": True}, "mp3_bitrate: True not one of"),
    ({"opus_bitrate": 16000}, "opus_bitrate"),
    ({"chunk_length": 99}, "chunk_length: 99 out of range"),
    ({"chunk_length": 301}, "chunk_length: 301 out of range"),
    ({"chunk_length": 150.0}, "chunk_length: must be an integer"),
    ({"chunk_length": True}, "chunk_length: must be an integer"),
    ({"latency": "fast"}, "latency: 'fast' not one of"),
    ({"prosody": {"speed": 3.0}}, "prosody: speed 3.0 out of range"),
    ({"prosody": {"volume": -25}}, "prosody: volume -25 out of range"),
    ({"prosody": {"pitch": 1}}, "prosody: unknown keys ['pitch']"),
    ({"prosody": {"normalize_loudness": "yes"}}, "normalize_loudness must be a bool"),
    ({"prosody": []}, "prosody: must be a map or null"),
    ({"temperature": 1.5}, "temperature: 1.5 out of range"),
    ({"top_p": -0.1}, "top_p: -0.1 out of range"),
    ({"temperature": True}, "temperature: must be a number"),
    ({"temperature": float("nan")}, "temperature: must be a number"),
    ({"normalize": "yes"}, "normalize: must be a bool"),
    ({"condition_on_previous_chunks": 1}, "condition_on_previous_chunks: must be a bool"),
    ({"references": "x"}, "references: must be a list or null"),
    ({"references": [{"audio": "abc", "text": "t"}]}, "MessagePack bin"),
    ({"references": [{"audio": b"", "text": 1}]}, "reference text must be a str"),
    ({"references": [{"audio": b""}]}, "exactly 'audio' and 'text'"),
    ({"references": [[{"audio": b"", "text": "t", "x": 1}]]}, "exactly 'audio' and 'text'"),
    ({"reference_id": 5}, "reference_id: must be a str, a list of str or null"),
    ({"reference_id": ["a", 1]}, "reference_id: must be a str"),
    ({"min_chunk_length": 101}, "min_chunk_length: 101 out of range"),
    ({"max_new_tokens": 1.5}, "max_new_tokens: must be an integer"),
    ({"repetition_penalty": "1.2"}, "repetition_penalty: must be a number"),
    ({"early_stop_threshold": 2}, "early_stop_threshold: 2 out of range"),
]


async def test_frame_violations_are_caught(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    # One emulator for all cases keeps this fast; each case is its own session.
    for case, frames, expected in FRAME_CASES:
        await _assert_violation(emu, http, frames, expected, case)


async def test_request_violations_are_caught(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    for fields, expected in FIELD_CASES:
        violation = await _assert_violation(emu, http, [start(**fields)], expected, str(fields))
        assert violation.startswith("invalid start request: "), violation


async def _assert_violation(
    emu: FishEmulator, http: aiohttp.ClientSession, frames: list[Any], expected: str, case: str
) -> str:
    """The server records the violation, answers finish/error with the reason, and closes."""
    before = len(emu.violations)
    received = await converse(http, emu, frames)
    record = emu.sessions[-1]
    assert len(record.violations) == 1, (case, record.violations)
    assert expected in record.violations[0], (case, record.violations[0])
    assert emu.violations[before:] == record.violations, case
    assert received.finish == {
        "event": "finish",
        "reason": "error",
        "message": record.violations[0],
    }, case
    assert received.close_code == 1000, case
    assert record.finish_reason == "error", case
    return record.violations[0]


async def test_anything_after_stop_is_a_violation(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    emu.latency = LatencyModel(first_audio_s=30)  # the worker is still busy when flush arrives
    received = await converse(http, emu, [start(), text("abc"), STOP, FLUSH])
    assert emu.sessions[0].violations == ["'flush' event received after 'stop'"]
    assert received.names == ["finish"]


async def test_full_configuration_is_accepted(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    request = {
        "text": "",
        "max_new_tokens": 1024,
        "top_p": 0.7,
        "repetition_penalty": 1.2,
        "temperature": 0.7,
        "min_chunk_length": 50,
        "chunk_length": 300,
        "condition_on_previous_chunks": True,
        "normalize": True,
        "early_stop_threshold": 1.0,
        "format": "mp3",
        "sample_rate": 44100,
        "mp3_bitrate": 128,
        "opus_bitrate": -1000,
        "references": [],
        "reference_id": PUBLIC_VOICE,
        "latency": "normal",
        "prosody": {"speed": 1.2, "volume": 2.0, "normalize_loudness": True},
    }
    received = await converse(
        http, emu, [{"event": "start", "request": request, "debug": False}, STOP]
    )
    assert received.finish == {"event": "finish", "reason": "stop"}
    assert emu.violations == []
    speakers = [[{"audio": b"RIFF", "text": "one"}], [{"audio": b"RIFF", "text": "two"}]]
    assert request_problem({"text": "", "references": speakers, "prosody": None}) is None
    assert request_problem({"text": "", "references": None, "reference_id": None}) is None
    assert request_problem({"text": "", "format": "opus", "sample_rate": 48000}) is None
    assert request_problem({"text": "", "format": "wav", "sample_rate": 8000}) is None


# ----- robustness: disconnects and shutdown -----------------------------------


async def raw_client(
    emu: FishEmulator, frames: list[Any]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A bare-bones WebSocket client, so that the test can drop TCP without a close frame."""
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {LIVE} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {KEY}\r\nmodel: s1\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    for frame in frames:
        writer.write(raw_frame(pack(frame)))
    await writer.drain()
    return reader, writer


def raw_frame(payload: bytes, first_byte: int = 0x82) -> bytes:
    """A short client frame (FIN + binary by default), masked with a zero key (a no-op mask)."""
    assert len(payload) < 126
    return bytes((first_byte, 0x80 | len(payload))) + b"\0\0\0\0" + payload


async def test_client_dropping_tcp_mid_audio_ends_the_session(
    emu: FishEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.latency = LatencyModel(rtf=1.0)  # 2 s of audio: the worker is pacing when the client drops
    reader, writer = await raw_client(emu, [start(), text("x" * 100), STOP])
    await reader.readexactly(2)  # the first audio frame is on its way
    writer.transport.abort()
    await emu.wait_all_closed(timeout=2)
    record = emu.sessions[0]
    assert record.closed
    assert record.finish_reason is None
    assert record.violations == []
    assert not [entry for entry in caplog.records if entry.levelname in ("ERROR", "CRITICAL")]
    writer.close()


async def test_client_protocol_error_is_a_violation(emu: FishEmulator) -> None:
    reader, writer = await raw_client(emu, [start()])
    writer.write(raw_frame(pack(text("hi")), first_byte=0xC2))  # RSV1 set, never negotiated
    await writer.drain()
    await emu.wait_all_closed(timeout=2)
    assert emu.sessions[0].violations[0].startswith("WebSocket protocol error")
    await reader.read()  # the server's close frame, then EOF
    writer.close()
    await writer.wait_closed()


async def test_lost_connection_is_an_error_not_a_violation() -> None:
    class GoneSocket:
        def exception(self) -> BaseException:
            return ConnectionResetError("gone")

    state = FishEmulator()
    record = SessionRecord()
    session = LiveSession(state, record, GoneSocket(), "user", None, LatencyModel())  # type: ignore[arg-type]
    message = aiohttp.WSMessage(WSMsgType.ERROR, None, None)
    assert not await session._on_message(message)
    assert record.errors == ["connection lost: ConnectionResetError('gone')"]
    assert state.violations == []


async def test_worker_crash_is_reported_and_the_session_still_closes(
    emu: FishEmulator,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class BrokenStream(PcmStream):
        def encode(self, *args: Any) -> bytes:
            raise ZeroDivisionError("emulator bug")

    monkeypatch.setattr("tests.emulator.live.new_stream", lambda _request: BrokenStream(8000))
    async with http.ws_connect(emu.url + LIVE, headers=HEADERS, autoping=False) as ws:
        await send(ws, [start(), text("a"), FLUSH])
        await ping_barrier(ws)
    await emu.wait_all_closed()
    assert emu.sessions[0].closed
    assert "emulator worker crashed" in caplog.text


async def test_client_dropping_tcp_before_start(emu: FishEmulator) -> None:
    _reader, writer = await raw_client(emu, [])
    writer.close()
    await writer.wait_closed()
    await emu.wait_all_closed(timeout=2)
    assert emu.sessions[0].closed
    assert emu.sessions[0].events == []


async def test_stop_closes_open_sockets(http: aiohttp.ClientSession) -> None:
    emu = FishEmulator(latency=LatencyModel(first_audio_s=30))
    await emu.start()
    url = emu.url + LIVE
    async with (
        http.ws_connect(url, headers=HEADERS, autoping=False) as first,
        http.ws_connect(url, headers=HEADERS, autoping=False) as second,
    ):
        for ws in (first, second):
            await send(ws, [start(), text("waiting for audio that never comes"), FLUSH])
            assert await ping_barrier(ws) == []
        assert emu.open_sessions == 2
        with pytest.raises(TimeoutError):
            await emu.wait_all_closed(timeout=0.01)
        session = next(iter(emu.live))
        await session.shutdown()
        await session.shutdown()  # asking twice is harmless
        readers = [asyncio.create_task(receive_all(ws)) for ws in (first, second)]
        await emu.stop()
        received = [await reader for reader in readers]
    assert [result.close_code for result in received] == [1001, 1001]
    assert all(record.closed for record in emu.sessions)
    await emu.stop()  # idempotent


async def test_client_giving_up_during_handshake_leaves_no_session(
    emu: FishEmulator, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    emu.latency = LatencyModel(handshake_s=0.05)
    connecting = asyncio.create_task(http.ws_connect(emu.url + LIVE, headers=HEADERS))
    await emu.wait_for(lambda: emu.handshakes == 1)
    connecting.cancel()
    await asyncio.wait([connecting])
    await emu.wait_idle()
    assert emu.sessions == []
    assert not [entry for entry in caplog.records if entry.levelname in ("ERROR", "CRITICAL")]


async def test_stop_cancels_requests_still_waiting(http: aiohttp.ClientSession) -> None:
    emu = FishEmulator(latency=LatencyModel(rest_s=30, handshake_s=30))
    await emu.start()
    rest = asyncio.create_task(http.get(emu.url + "/model", headers=HEADERS))
    live = asyncio.create_task(http.ws_connect(emu.url + LIVE, headers=HEADERS))
    await emu.wait_for(lambda: emu.rest_calls and emu.handshakes)
    assert len(emu.handlers) == 2
    await emu.stop()
    for task in (rest, live):
        with pytest.raises(aiohttp.ClientError):
            await task
    assert emu.handlers == set()
    with pytest.raises(TimeoutError):
        await emu.wait_for(lambda: False, timeout=0.01)


async def test_lifecycle_errors_and_restart(http: aiohttp.ClientSession) -> None:
    emu = FishEmulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.url
    async with emu:
        with pytest.raises(RuntimeError, match="already started"):
            await emu.start()
        first_url = emu.url
    async with emu:
        assert emu.url.startswith("http://127.0.0.1:")
        async with http.get(emu.url + "/model", headers=HEADERS) as response:
            assert response.status == 200
    assert first_url.startswith("http://127.0.0.1:")
    with pytest.raises(ValueError, match="loopback"):
        FishEmulator(host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        FishEmulator(host="example.com")


async def test_port_in_use_and_ipv6_url() -> None:
    async with FishEmulator() as emu:
        busy = FishEmulator(port=emu.port)
        with pytest.raises(OSError, match=r"(?i)address already in use"):
            await busy.start()
    assert FishEmulator(host="::1").host == "::1"
    local = FishEmulator(host="localhost")
    async with local:
        assert local.url.startswith("http://localhost:")
    assert base_url("::1", 8765) == "http://[::1]:8765"


# ----- REST ------------------------------------------------------------------


async def get_json(
    http: aiohttp.ClientSession, emu: FishEmulator, path: str, key: str = KEY, **params: str
) -> tuple[int, Any]:
    """GET ``path`` with a bearer key; (status, JSON body)."""
    async with http.get(
        emu.url + path, params=params, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        return response.status, await response.json(content_type=None)


async def test_api_credit(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, emu, "/wallet/self/api-credit")
    assert status == 200
    assert set(body) == {
        "_id",
        "user_id",
        "credit",
        "cumulative_top_up",
        "created_at",
        "updated_at",
        "has_phone_sha256",
        "has_free_credit",
    }
    assert body["user_id"] == "user-1"
    assert body["credit"] == "10.0"
    emu.credit["user-1"] = "0"
    assert (await get_json(http, emu, "/wallet/user-1/api-credit"))[1]["credit"] == "0"
    assert (await get_json(http, emu, "/wallet/user-2/api-credit"))[0] == 403
    async with http.get(
        emu.url + "/wallet/self/api-credit", headers={"Authorization": "Bearer bad"}
    ) as response:
        assert response.status == 401
        assert response.content_type == "text/plain"
    assert emu.violations == []
    async with http.get(emu.url + "/wallet/self/api-credit") as response:
        assert response.status == 401
    assert emu.violations == ["GET /wallet/self/api-credit: missing Authorization header"]


async def test_model_list_public_sorted_and_paged(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    status, body = await get_json(http, emu, "/model")
    assert status == 200
    assert body["total"] == len(emu.voices) == 6
    assert body["has_more"] is False
    likes = [item["like_count"] for item in body["items"]]
    assert likes == sorted(likes, reverse=True)
    item = body["items"][0]
    for key in (
        "_id",
        "type",
        "title",
        "description",
        "cover_image",
        "state",
        "tags",
        "languages",
        "visibility",
        "author",
        "like_count",
        "mark_count",
        "shared_count",
        "task_count",
        "created_at",
        "updated_at",
    ):
        assert key in item
    assert item["type"] == "tts"
    assert item["state"] == "trained"
    # openapi.json: a voice can only be created with train_mode "fast" (Fish's SDK parses no other).
    assert item["train_mode"] == "fast"
    assert set(item["author"]) == {"_id", "nickname", "avatar"}
    assert all(len(voice.id) == 32 for voice in emu.voices)
    _, page = await get_json(http, emu, "/model", page_size="4", page_number="2")
    assert (page["total"], len(page["items"]), page["has_more"]) == (6, 2, False)
    _, page = await get_json(http, emu, "/model", page_size="4")
    assert page["has_more"] is True
    _, by_tasks = await get_json(http, emu, "/model", sort_by="task_count")
    tasks = [item["task_count"] for item in by_tasks["items"]]
    assert tasks == sorted(tasks, reverse=True)
    _, by_date = await get_json(http, emu, "/model", sort_by="created_at")
    dates = [item["created_at"] for item in by_date["items"]]
    assert dates == sorted(dates, reverse=True)
    emu.voices = emu.voices[:1]
    assert (await get_json(http, emu, "/model"))[1]["total"] == 1


async def test_model_filters(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    _, body = await get_json(http, emu, "/model", title="NARRATOR")
    assert [item["title"] for item in body["items"]] == ["Calm Narrator"]
    _, body = await get_json(http, emu, "/model", language="ja")
    assert [item["languages"] for item in body["items"]] == [["ja", "en"]]
    _, body = await get_json(http, emu, "/model", language="zh")
    assert body["total"] == 1
    _, body = await get_json(http, emu, "/model", tag="news")
    assert [item["title"] for item in body["items"]] == ["Deutscher Sprecher"]
    _, body = await get_json(http, emu, "/model", author_id="nobody")
    assert body["total"] == 0
    _, body = await get_json(http, emu, "/model", author_id="fish-audio", self="FALSE")
    assert body["total"] == 6


async def test_model_self_lists_own_voices(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    emu.add_voice(
        Voice(OWN_VOICE, "My Clone", ["en"], visibility="private", author_id="user-1"), "user-1"
    )
    emu.add_voice(Voice("f" * 32, "Shared", ["de"]))
    _, mine = await get_json(http, emu, "/model", self="true")
    assert [item["_id"] for item in mine["items"]] == [OWN_VOICE]
    _, theirs = await get_json(http, emu, "/model", key="other-key", self="true")
    assert theirs == {"total": 0, "items": [], "has_more": False}
    _, public = await get_json(http, emu, "/model")
    assert public["total"] == 7
    assert OWN_VOICE not in [item["_id"] for item in public["items"]]
    status, one = await get_json(http, emu, f"/model/{OWN_VOICE}")
    assert (status, one["title"]) == (200, "My Clone")
    assert (await get_json(http, emu, f"/model/{OWN_VOICE}", key="other-key"))[0] == 404


async def test_model_by_id(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, emu, f"/model/{PUBLIC_VOICE}")
    assert (status, body["_id"], body["title"]) == (200, PUBLIC_VOICE, "Energetic Male")
    assert await get_json(http, emu, "/model/" + "0" * 32) == (
        404,
        {"status": 404, "message": "Model not found"},
    )
    assert (await get_json(http, emu, f"/model/{PUBLIC_VOICE}", key="bad"))[0] == 401
    assert (await get_json(http, emu, "/model", key="bad"))[0] == 401


async def test_model_list_rejects_invalid_parameters(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    cases = [
        ({"self": "yes"}, "self must be true or false"),
        ({"page_size": "0"}, "page_size must be in [1, 100]"),
        ({"page_size": "101"}, "page_size must be in [1, 100]"),
        ({"page_size": "ten"}, "page_size must be an integer"),
        ({"page_size": " 5"}, "page_size must be an integer"),
        ({"page_number": "0"}, "page_number must be in [1, inf]"),
        ({"sort_by": "likes"}, "sort_by must be one of"),
    ]
    for params, message in cases:
        status, body = await get_json(http, emu, "/model", **params)
        assert status == 422, params
        assert message in body["message"], params
        assert emu.violations[-1] == f"GET /model: {body['message']}"
    assert len(emu.violations) == len(cases)


async def test_model_list_rejects_repeated_scalar(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(emu.url + "/model?page_size=1&page_size=2", headers=HEADERS) as response:
        assert response.status == 422
    async with http.get(emu.url + "/model?language=en&language=fr", headers=HEADERS) as response:
        assert (await response.json())["total"] == 4


async def test_unknown_endpoint_is_a_violation(
    emu: FishEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(emu.url + "/v1/model", headers=HEADERS) as response:
        assert response.status == 404
        assert (await response.json())["status"] == 404
    async with http.post(emu.url + "/model", headers=HEADERS) as response:
        assert response.status == 405
    assert emu.violations == ["GET /v1/model: no such endpoint", "POST /model: no such endpoint"]
    assert emu.rest_calls == ["GET /v1/model", "POST /model"]


async def test_rest_faults(emu: FishEmulator, http: aiohttp.ClientSession) -> None:
    emu.add_rest_fault("/wallet/self/api-credit", 503, times=2)
    emu.add_rest_fault("/model", 200, body="<html>not Fish</html>", content_type="text/html")
    for _ in range(2):
        assert await get_json(http, emu, "/wallet/self/api-credit") == (
            503,
            {"status": 503, "message": "Service Unavailable"},
        )
    assert (await get_json(http, emu, "/wallet/self/api-credit"))[0] == 200
    async with http.get(emu.url + "/model", headers=HEADERS) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert await response.text() == "<html>not Fish</html>"
    assert (await get_json(http, emu, "/model"))[0] == 200
    emu.add_rest_fault("/model", 500)
    emu.clear_rest_faults()
    assert (await get_json(http, emu, "/model"))[0] == 200
    with pytest.raises(ValueError, match="handshake_status"):
        emu.add_rest_fault(LIVE, 503)
    with pytest.raises(ValueError, match="times"):
        emu.add_rest_fault("/model", 503, times=0)


def test_rest_fault_queue_matches_exact_path() -> None:
    faults = RestFaults()
    faults.add(RestFault("/model", 500, "{}", "application/json", 1))
    assert faults.take("/model/abc") is None
    assert faults.take("/model") is not None
    assert faults.take("/model") is None


# ----- units the sessions above do not reach -----------------------------------


def test_audio_units() -> None:
    assert chunk_bounds(0, 100) == []
    assert chunk_bounds(250, 100) == [(0, 100), (100, 200), (200, 250)]
    assert isinstance(new_stream({"format": "pcm", "sample_rate": 8000}), PcmStream)
    assert isinstance(new_stream({"format": "opus"}), OpusStream)
    mp3 = new_stream({"format": "mp3"})
    assert isinstance(mp3, Mp3Stream)
    assert mp3.finish() == b""
    assert mp3.pad(b"x", 10) == b"x"
    assert OpusStream().finish() == b""
    stream: AudioStream = PcmStream(8000)
    assert stream.segment("", 20, 100) == []
    assert stream.header() == b""


def test_catalog_and_accounts_units() -> None:
    catalog = Catalog()
    assert catalog.find("nope", "user") is None
    total, page = catalog.search("user", ModelQuery(page_size=2, page_number=3))
    assert (total, len(page)) == (6, 2)
    accounts = Accounts({"k": "u"}, None)
    assert accounts.authenticate("Bearer k").user == "u"
    assert accounts.authenticate("Bearer   ").problem is not None
    assert accounts.authenticate("Basic k").problem is not None
    assert accounts.may_use("u", "s2.1-pro")
    accounts.credit["u"] = "NaN"
    assert not accounts.may_use("u", "s2.1-pro")
    assert Headers({"A": "b"}).get("a") == "b"


# ----- standalone entry point ------------------------------------------------


def test_cli_options() -> None:
    options = cli.parse_args(
        [
            "--port",
            "0",
            "--api-key",
            "secret",
            "--handshake-ms",
            "330",
            "--first-audio-ms",
            "300",
            "--rtf",
            "0.25",
            "--ms-per-char",
            "60",
            "--fault",
            "close:mid_audio",
        ]
    )
    emulator = cli.build(options)
    assert emulator.latency == LatencyModel(
        handshake_s=0.33, first_audio_s=0.3, rtf=0.25, ms_per_char=60, chunk_ms=100, rest_s=0.0
    )
    assert emulator.accounts.api_keys == {"secret": "emulator-user"}
    assert emulator.faults.take() == Fault("close", "mid_audio", sticky=True)
    assert cli.build(cli.parse_args([])).accounts.api_keys is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--host", "0.0.0.0"],
        ["--host", "192.168.1.2"],
        ["--fault", "explode"],
        ["--fault", "close:never"],
    ],
)
def test_cli_refuses_bad_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        cli.main(argv)
    assert err.value.code == 2
    assert "error" in capsys.readouterr().err


class _Stdout(io.StringIO):
    """Captures output and calls ``on_listening`` when the emulator says it listens."""

    def __init__(self, on_listening: Callable[[str], None]) -> None:
        super().__init__()
        self.on_listening = on_listening

    def write(self, value: str) -> int:
        if "listening" in value:
            self.on_listening(value)
        return super().write(value)


async def test_cli_run_serves_until_sigterm(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    listening: asyncio.Queue[str] = asyncio.Queue()
    monkeypatch.setattr(sys, "stdout", _Stdout(listening.put_nowait))
    before = signal.getsignal(signal.SIGTERM)
    task = asyncio.create_task(cli.run(cli.parse_args(["--port", "0"])))
    line = await listening.get()
    url = line.split(" on ")[1].strip()
    async with http.get(url + "/model", headers=HEADERS) as response:
        assert response.status == 200
    signal.raise_signal(signal.SIGTERM)
    await task
    assert signal.getsignal(signal.SIGTERM) == before


def test_cli_main_exits_zero_on_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _Stdout(lambda _line: signal.raise_signal(signal.SIGINT)))
    assert cli.main(["--port", "0"]) == 0


def test_cli_main_reports_bad_latency(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--port", "0", "--rtf", "-1"]) == 1
    assert "rtf" in capsys.readouterr().err


async def test_cli_subprocess(http: aiohttp.ClientSession) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulator",
        "--port",
        "0",
        "--api-key",
        "secret",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(15):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("Fish Audio emulator listening on http://127.0.0.1:")
        url = line.split(" on ")[1].strip()
        async with http.get(
            url + "/wallet/self/api-credit", headers={"Authorization": "Bearer secret"}
        ) as response:
            assert (await response.json())["user_id"] == "emulator-user"
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
