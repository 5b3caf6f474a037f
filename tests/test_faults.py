"""Fault matrix: every emulator fault, at every phase, through Home Assistant's tts component.

Each case runs twice, once per path Home Assistant takes to the entity:

* one-shot: ``tts.async_create_stream`` + ``async_set_message`` (what ``tts.speak``
  and media players use),
* streamed: ``async_set_message_stream`` with several pieces (what an Assist
  pipeline does with a streaming LLM reply).

For each case the caller gets either the full audio, byte for byte, or a translated
Home Assistant error within the case's bound; the entity stays available, the next
request works, and no socket, task or timer is left behind.

``FAULT_CASES`` and ``BAD_INPUT_CASES`` are plain data: ``scripts/reliability_table.py``
imports them to write the README's reliability table, so the table shows exactly what
these tests check.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
import socket
from typing import Any, Final
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live.const import DOMAIN
from custom_components.fish_audio_live.live import Timeouts
from custom_components.fish_audio_live.wav import wav_header
from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from tests.conftest import API_KEY, USER_ID
from tests.emulator import Fault, FishEmulator, LatencyModel

ENTITY_ID: Final = "tts.test_voice"
ONE_SHOT: Final = "one-shot"
STREAMED: Final = "streamed"
PATHS: Final = (ONE_SHOT, STREAMED)
FULL_AUDIO: Final = "full_audio"
"""Outcome of a harmless fault: every byte the emulator sent reaches the caller."""

# Client bounds used by every test here: short, so that a stall costs half a second.
TEST_TIMEOUTS: Final = Timeouts(connect=1.0, first_audio=0.5, audio_gap=0.5, close=0.5)
TEST_RETRY_DELAYS: Final = (0.01, 0.02, 0.04)
# Emulated audio: 5 ms per character in 20 ms events, so a sentence is a few events
# (mid-audio faults need more than one) and even the "slow" fault stays short.
TEST_LATENCY: Final = LatencyModel(ms_per_char=5.0, chunk_ms=20)

MESSAGE: Final = "Hello from Home Assistant. This message checks faults."
PIECES: Final = ("Hello from ", "Home Assistant. ", "This message ", "checks faults.")

# Phases, as the table shows them.
HANDSHAKE: Final = "handshake"
AFTER_START: Final = "after start"
MID_AUDIO: Final = "mid audio"
AFTER_STOP: Final = "after stop"
THROUGHOUT: Final = "throughout"
_EMULATOR_PHASE: Final = {
    AFTER_START: "after_start",
    MID_AUDIO: "mid_audio",
    AFTER_STOP: "after_stop",
}


@dataclass(frozen=True, slots=True)
class FaultCase:
    """One fault at one phase, and what the caller must see on each path."""

    id: str
    fault: str
    phase: str
    outcome: str
    """A translation key of ``exceptions`` in translations/en.json, or FULL_AUDIO."""
    inject: Fault | None = None
    """The emulator fault; None for ``refused`` (the server is gone)."""
    message: str | None = None
    """Expected ``{message}`` placeholder of the error, when the key has one."""
    streamed_outcome: str | None = None
    """Outcome of the streamed path when it differs from the one-shot path."""
    bound: float = 3.0
    """Seconds within which the caller has its audio or its error."""
    fmt: str = "mp3"
    refused: bool = False
    notes: str = ""

    def outcome_for(self, path: str) -> str:
        """Expected outcome on ``path``."""
        if path == STREAMED and self.streamed_outcome is not None:
            return self.streamed_outcome
        return self.outcome


def _phased(kind: str, label: str, outcome: str, **kwargs: Any) -> list[FaultCase]:
    """The same fault after start, in the middle of the audio and after stop."""
    fault_kwargs = {key: kwargs.pop(key) for key in ("message", "status") if key in kwargs}
    expected_message = kwargs.pop("expected_message", None)
    outcomes = kwargs.pop("outcomes", {})
    return [
        FaultCase(
            id=f"{kind}{'-' + kwargs['suffix'] if 'suffix' in kwargs else ''}-{_EMULATOR_PHASE[phase]}",
            fault=label,
            phase=phase,
            outcome=outcomes.get(phase, outcome),
            inject=Fault(kind, phase=_EMULATOR_PHASE[phase], **fault_kwargs),
            message=expected_message,
            **{key: value for key, value in kwargs.items() if key != "suffix"},
        )
        for phase in (AFTER_START, MID_AUDIO, AFTER_STOP)
    ]


FAULT_CASES: Final[tuple[FaultCase, ...]] = (
    *(
        FaultCase(
            id=f"http{status}",
            fault=f"handshake answers HTTP {status}",
            phase=HANDSHAKE,
            outcome=key,
            inject=Fault("handshake_status", status=status),
        )
        for status, key in (
            (401, "invalid_auth"),
            (402, "no_credit"),
            (403, "invalid_auth"),
            (500, "server_error"),
            (503, "server_error"),
        )
    ),
    FaultCase(
        id="http429-once",
        fault="handshake answers HTTP 429 once",
        phase=HANDSHAKE,
        outcome=FULL_AUDIO,
        inject=Fault("handshake_status", status=429),
        notes="retried after a short backoff",
    ),
    FaultCase(
        id="http429-sticky",
        fault="handshake answers HTTP 429 every time",
        phase=HANDSHAKE,
        outcome="rate_limited",
        inject=Fault("handshake_status", status=429, sticky=True),
        notes="4 handshakes: the first and 3 retries",
    ),
    FaultCase(
        id="refused",
        fault="connection refused (server gone)",
        phase=HANDSHAKE,
        outcome="cannot_connect",
        refused=True,
    ),
    *_phased("close", "socket closed without finish", "cannot_connect"),
    *_phased(
        "close",
        "socket closed with code 1011 without finish",
        "cannot_connect",
        status=1011,
        suffix="1011",
    ),
    *_phased(
        "finish_error",
        "finish with reason error and a message",
        "synthesis_failed",
        message="model overloaded",
        expected_message="model overloaded",
    ),
    *_phased(
        "finish_error",
        "finish with reason error, no message",
        "synthesis_failed",
        suffix="bare",
        expected_message="the server gave no reason",
    ),
    *_phased(
        "malformed",
        "binary frame that is not MessagePack",
        "synthesis_failed",
        expected_message="malformed frame from server",
    ),
    *_phased(
        "text_frame",
        "text (non-binary) frame",
        "synthesis_failed",
        expected_message="server sent a text frame; the protocol is binary only",
    ),
    *_phased(
        "stall",
        "server stalls (sends nothing more)",
        "audio_gap_timeout",
        outcomes={AFTER_START: "first_audio_timeout"},
    ),
    FaultCase(
        id="no_finish",
        fault="all audio, but finish never sent",
        phase=AFTER_STOP,
        outcome="audio_gap_timeout",
        inject=Fault("no_finish"),
    ),
    FaultCase(
        id="big_frame",
        fault="all audio in one 8 MiB frame",
        phase=AFTER_STOP,
        outcome=FULL_AUDIO,
        inject=Fault("big_frame"),
        fmt="wav",
    ),
    FaultCase(
        id="unknown_events",
        fault="unknown event before every audio event",
        phase=THROUGHOUT,
        outcome=FULL_AUDIO,
        inject=Fault("unknown_events"),
    ),
    FaultCase(
        id="log_events",
        fault="log events although debug is off",
        phase=THROUGHOUT,
        outcome=FULL_AUDIO,
        inject=Fault("log_events"),
    ),
    *_phased("slow", "slow pacing (10x slower, real time)", FULL_AUDIO),
)


def _ids(cases: Sequence[FaultCase]) -> list[str]:
    return [case.id for case in cases]


assert len(set(_ids(FAULT_CASES))) == len(FAULT_CASES), "fault case ids must be unique"


# ----- fixtures and helpers ---------------------------------------------------


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[FishEmulator]:
    """The emulator on a fixed port, so that it can go away and come back at the same URL."""
    emu = FishEmulator(api_keys={API_KEY: USER_ID}, port=free_port(), latency=TEST_LATENCY)
    async with emu:
        yield emu


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Short 429 backoff; the client reads RETRY_DELAYS when the entry sets it up."""
    with patch("custom_components.fish_audio_live.client.RETRY_DELAYS", TEST_RETRY_DELAYS):
        yield


@pytest.fixture
def loaded(setup_integration: MockConfigEntry) -> MockConfigEntry:
    """The loaded entry, with short client timeouts."""
    setup_integration.runtime_data.client.timeouts = TEST_TIMEOUTS
    return setup_integration


async def pieces(parts: Sequence[str]) -> AsyncGenerator[str]:
    """A streamed message, one piece per loop turn like an LLM's deltas."""
    for part in parts:
        await asyncio.sleep(0)
        yield part


def split_message(message: str, count: int = 4) -> list[str]:
    """Cut ``message`` into ``count`` pieces (anywhere, even inside words)."""
    size = max(1, -(-len(message) // count))
    return [message[index : index + size] for index in range(0, len(message), size)]


def start(
    hass: HomeAssistant,
    path: str,
    message: str | Sequence[str],
    fmt: str = "mp3",
    options: dict[str, Any] | None = None,
) -> tts.ResultStream:
    """Ask Home Assistant's tts component for speech, the way ``path`` does."""
    stream = tts.async_create_stream(
        hass, ENTITY_ID, "en", {"preferred_format": fmt, **(options or {})}
    )
    if path == ONE_SHOT:
        assert isinstance(message, str)
        stream.async_set_message(message)
    else:
        parts = split_message(message) if isinstance(message, str) else list(message)
        stream.async_set_message_stream(pieces(parts))
    return stream


async def read(stream: tts.ResultStream) -> bytes:
    """Everything the caller receives."""
    return b"".join([chunk async for chunk in stream.async_stream_result()])


async def speak(
    hass: HomeAssistant,
    path: str,
    message: str | Sequence[str],
    fmt: str = "mp3",
    bound: float = 3.0,
    options: dict[str, Any] | None = None,
) -> bytes:
    """Synthesize through HA's tts component within ``bound`` seconds."""
    async with asyncio.timeout(bound):
        return await read(start(hass, path, message, fmt, options))


def expected_audio(emu: FishEmulator, fmt: str = "mp3", sessions: int = 1) -> bytes:
    """What the caller must receive: the last sessions' audio (WAV: our header first)."""
    records = [record for record in emu.sessions if record.status == 101][-sessions:]
    audio = b"".join(record.audio_sent for record in records)
    if fmt == "wav":
        rate = (records[-1].request or {}).get("sample_rate", 44100)
        return wav_header(rate, None) + audio
    return audio


async def speak_error(
    hass: HomeAssistant,
    path: str,
    message: str | Sequence[str],
    fmt: str = "mp3",
    bound: float = 3.0,
    options: dict[str, Any] | None = None,
) -> HomeAssistantError:
    """Synthesize, expecting a translated error of this integration within ``bound``."""
    async with asyncio.timeout(bound):
        with pytest.raises(HomeAssistantError) as info:
            await read(start(hass, path, message, fmt, options))
    err = info.value
    assert err.translation_domain == DOMAIN, repr(err)
    return err


async def assert_healthy(hass: HomeAssistant, emu: FishEmulator, path: str, tag: str) -> None:
    """The entity is available, nothing is left open, and the next request works."""
    await emu.wait_all_closed()
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.state != "unavailable"
    emu.clear_faults()
    message = f"The next request works, {tag}."
    audio = await speak(hass, path, message)
    assert audio == expected_audio(emu)
    assert emu.sessions[-1].text == message
    await emu.wait_all_closed()


# ----- the fault matrix -------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", FAULT_CASES, ids=_ids(FAULT_CASES))
async def test_fault(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    case: FaultCase,
    path: str,
) -> None:
    """The caller gets the full audio or a translated error in time; nothing leaks."""
    message = MESSAGE if path == ONE_SHOT else PIECES
    handshakes = emulator.handshakes
    if case.inject is not None:
        emulator.add_fault(case.inject)
    if case.refused:
        await emulator.stop()
    outcome = case.outcome_for(path)
    try:
        if outcome == FULL_AUDIO:
            audio = await speak(hass, path, message, case.fmt, case.bound)
            sessions = 2 if case.id == "http429-once" else 1
            assert audio == expected_audio(emulator, case.fmt)
            assert len(emulator.sessions) == sessions
            assert emulator.sessions[-1].text == MESSAGE
        else:
            err = await speak_error(hass, path, message, case.fmt, case.bound)
            assert err.translation_key == outcome
            if case.message is not None:
                assert err.translation_placeholders is not None
                assert err.translation_placeholders["message"] == case.message
            assert str(err) == render(outcome, err.translation_placeholders)
    finally:
        if case.refused:
            await emulator.start()
    if case.id == "http429-sticky":
        assert emulator.handshakes - handshakes == len(TEST_RETRY_DELAYS) + 1
    assert emulator.violations == []
    await assert_healthy(hass, emulator, path, case.id)


def render(key: str, placeholders: dict[str, str] | None) -> str:
    """The English message of an exception translation key, placeholders filled."""
    return english(key).rstrip(".").format(**(placeholders or {}))


def english(key: str) -> str:
    """The English message template of an exception translation key."""
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    strings = json.loads(
        (
            Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations" / "en.json"
        ).read_text(encoding="utf-8")
    )
    return str(strings["exceptions"][key]["message"])


_ = field  # keep the import for dataclass helpers below
