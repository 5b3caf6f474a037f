"""Fault matrix and bad input, through Home Assistant's real tts component.

Every emulator fault, at every phase where it can happen, on both paths Home
Assistant takes to the entity:

* one-shot: ``tts.async_create_stream`` + ``async_set_message`` (what ``tts.speak``,
  media players and short pipeline replies use);
* streamed: ``async_set_message_stream`` with several pieces (what an Assist pipeline
  does with a streaming LLM reply).

For each case the caller gets either the full audio, byte for byte, or a translated
Home Assistant error within the case's bound; the entity stays available, the next
request works, and no socket, task or timer is left behind.

``FAULT_CASES`` and ``BAD_INPUT_CASES`` are plain data: ``scripts/reliability_table.py``
imports them to write the README's reliability table, so the table states exactly
what these tests check.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
import json
from pathlib import Path
import socket
from typing import Any, Final

from homeassistant.components import tts
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.fish_audio_live.const import CONF_URL, DOMAIN, ISSUE_NO_CREDIT
from custom_components.fish_audio_live.fishaudio import protocol
from custom_components.fish_audio_live.fishaudio.text_clean import clean_text
from custom_components.fish_audio_live.fishaudio.wav import wav_header
from tests.bounds import TEST_RETRY_DELAYS
from tests.conftest import API_KEY, USER_ID
from tests.emulator import Fault, FishEmulator, LatencyModel

ENTITY_ID: Final = "tts.test_voice"
ONE_SHOT: Final = "one-shot"
STREAMED: Final = "streamed"
PATHS: Final = (ONE_SHOT, STREAMED)
FULL_AUDIO: Final = "full_audio"
"""Outcome of a harmless fault: every byte the emulator sent reaches the caller."""

# Emulated audio: 5 ms per character in 20 ms events, so a sentence is a few events
# (mid-audio faults need more than one) and even the "slow" fault stays short.
TEST_LATENCY: Final = LatencyModel(ms_per_char=5.0, chunk_ms=20)

MESSAGE: Final = "Hello from Home Assistant. This message checks faults."
PIECES: Final = ("Hello from ", "Home Assistant. ", "This message ", "checks faults.")

TRANSLATIONS: Final = Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations"

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

# Which client bound limits how long the caller can wait (see Timeouts): the
# reliability table turns these into seconds with the production defaults.
LIMIT_NONE: Final = "none"  # the outcome comes with the server's frame, at once
LIMIT_CONNECT: Final = "connect"
LIMIT_RETRIES: Final = "retries"
LIMIT_FIRST_AUDIO: Final = "first_audio"
LIMIT_AUDIO_GAP: Final = "audio_gap"
LIMIT_PACING: Final = "pacing"  # as long as the server takes to speak


pytestmark = pytest.mark.usefixtures("fast_retries")


@dataclass(frozen=True, slots=True)
class FaultCase:
    """One fault at one phase, and what the caller must see on each path."""

    id: str
    fault: str
    phase: str
    outcome: str
    """A translation key of ``exceptions`` in translations/en.json, or FULL_AUDIO."""
    limit: str
    inject: Fault | None = None
    """The emulator fault; None for ``refused`` (the server is gone)."""
    message: str | None = None
    """Expected ``{message}`` placeholder of the error, when the key has one."""
    bound: float = 2.0
    """Seconds (with TEST_TIMEOUTS) within which the caller has its audio or its error."""
    fmt: str = "mp3"
    refused: bool = False
    sessions: int = 1
    """Handshakes one request makes (the first and any retries)."""
    notes: str = ""


def _phased(
    kind: str,
    fault: str,
    outcome: str,
    *,
    suffix: str = "",
    limits: dict[str, str] | None = None,
    outcomes: dict[str, str] | None = None,
    status: int | None = None,
    server_message: str | None = None,
    message: str | None = None,
) -> list[FaultCase]:
    """The same fault after start, in the middle of the audio and after stop."""
    return [
        FaultCase(
            id=f"{kind}{suffix}-{_EMULATOR_PHASE[phase]}",
            fault=fault,
            phase=phase,
            outcome=(outcomes or {}).get(phase, outcome),
            limit=(limits or {}).get(phase, LIMIT_NONE),
            inject=Fault(kind, phase=_EMULATOR_PHASE[phase], status=status, message=server_message),
            message=message,
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
            limit=LIMIT_CONNECT,
            inject=Fault("handshake_status", status=status, sticky=status >= 500),
            sessions=2 if status >= 500 else 1,
            notes=notes,
        )
        for status, key, notes in (
            (401, "invalid_auth", "re-authentication is requested"),
            (402, "no_credit", "a repair issue is raised until a synthesis works"),
            (403, "invalid_auth", "re-authentication is requested"),
            (500, "server_error", "every time: retried once after a short backoff"),
            (503, "server_error", "every time: retried once after a short backoff"),
        )
    ),
    FaultCase(
        id="http503-once",
        fault="handshake answers HTTP 503 once",
        phase=HANDSHAKE,
        outcome=FULL_AUDIO,
        limit=LIMIT_RETRIES,
        inject=Fault("handshake_status", status=503),
        sessions=2,
        notes="retried once after a short backoff",
    ),
    FaultCase(
        id="http429-once",
        fault="handshake answers HTTP 429 once",
        phase=HANDSHAKE,
        outcome=FULL_AUDIO,
        limit=LIMIT_RETRIES,
        inject=Fault("handshake_status", status=429),
        sessions=2,
        notes="retried after a short backoff",
    ),
    FaultCase(
        id="http429-sticky",
        fault="handshake answers HTTP 429 every time",
        phase=HANDSHAKE,
        outcome="rate_limited",
        limit=LIMIT_RETRIES,
        inject=Fault("handshake_status", status=429, sticky=True),
        sessions=1 + len(TEST_RETRY_DELAYS),
        notes="given up after the first handshake and 3 retries",
    ),
    FaultCase(
        id="refused",
        fault="connection refused (server gone after setup)",
        phase=HANDSHAKE,
        outcome="cannot_connect",
        limit=LIMIT_CONNECT,
        refused=True,
        sessions=0,
    ),
    *_phased("close", "socket closed (1000) without finish", "cannot_connect"),
    FaultCase(
        id="close1011-mid_audio",
        fault="socket closed (1011) without finish",
        phase=MID_AUDIO,
        outcome="cannot_connect",
        limit=LIMIT_NONE,
        inject=Fault("close", phase="mid_audio", status=1011),
    ),
    *_phased(
        "finish_error",
        "finish with reason error and a message",
        "synthesis_failed",
        server_message="model overloaded",
        message="model overloaded",
    ),
    *_phased(
        "finish_error",
        "finish with reason error, no message",
        "synthesis_failed",
        suffix="_bare",
        message="the server gave no reason",
    ),
    *_phased(
        "malformed",
        "binary frame that is not MessagePack",
        "synthesis_failed",
        message="malformed frame from server",
    ),
    *_phased(
        "text_frame",
        "text (non-binary) frame",
        "synthesis_failed",
        message="server sent a text frame; the protocol is binary only",
    ),
    *_phased(
        "stall",
        "server stalls: sends nothing more",
        "audio_gap_timeout",
        outcomes={AFTER_START: "first_audio_timeout"},
        limits={
            AFTER_START: LIMIT_FIRST_AUDIO,
            MID_AUDIO: LIMIT_AUDIO_GAP,
            AFTER_STOP: LIMIT_AUDIO_GAP,
        },
    ),
    FaultCase(
        id="no_finish",
        fault="all audio, then finish never sent",
        phase=AFTER_STOP,
        outcome="audio_gap_timeout",
        limit=LIMIT_AUDIO_GAP,
        inject=Fault("no_finish"),
    ),
    FaultCase(
        id="big_frame",
        fault="all audio in one frame just under the 2 MiB cap",
        phase=AFTER_STOP,
        outcome=FULL_AUDIO,
        limit=LIMIT_PACING,
        inject=Fault("big_frame", size=protocol.MAX_FRAME_BYTES - 1024),
        fmt="wav",
    ),
    FaultCase(
        id="frame_over_cap",
        fault="one frame over the 2 MiB cap",
        phase=AFTER_STOP,
        outcome="invalid_response",
        limit=LIMIT_NONE,
        inject=Fault("big_frame", size=protocol.MAX_FRAME_BYTES + 2),
        fmt="wav",
    ),
    FaultCase(
        id="unknown_events",
        fault="unknown event before every audio event",
        phase=THROUGHOUT,
        outcome=FULL_AUDIO,
        limit=LIMIT_PACING,
        inject=Fault("unknown_events"),
    ),
    FaultCase(
        id="log_events",
        fault="log events although debug is off",
        phase=THROUGHOUT,
        outcome=FULL_AUDIO,
        limit=LIMIT_PACING,
        inject=Fault("log_events"),
    ),
    *_phased(
        "slow",
        "slow pacing (10x slower, at least real time)",
        FULL_AUDIO,
        limits=dict.fromkeys(_EMULATOR_PHASE, LIMIT_PACING),
    ),
)
assert len({case.id for case in FAULT_CASES}) == len(FAULT_CASES), "case ids must be unique"


def english(key: str, section: str = "exceptions") -> str:
    """The English text of a translation key (``exceptions`` or ``config.error``)."""
    strings = json.loads((TRANSLATIONS / "en.json").read_text(encoding="utf-8"))
    if section == "exceptions":
        return str(strings["exceptions"][key]["message"])
    return str(strings["config"]["error"][key])


def render(key: str, placeholders: dict[str, str] | None = None) -> str:
    """An exception's message as Home Assistant shows it (trailing period dropped)."""
    return english(key).rstrip(".").format(**(placeholders or {}))


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
        stream.async_set_message(message if isinstance(message, str) else "".join(message))
    else:
        parts = split_message(message) if isinstance(message, str) else list(message)
        stream.async_set_message_stream(pieces(parts))
    return stream


async def read(stream: tts.ResultStream, into: list[bytes] | None = None) -> bytes:
    """Everything the caller receives (also appended to ``into`` as it comes)."""
    chunks = [] if into is None else into
    async for chunk in stream.async_stream_result():
        chunks.append(chunk)
    return b"".join(chunks)


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


def expected_audio(emu: FishEmulator, fmt: str = "mp3") -> bytes:
    """What the caller must receive from the last session (WAV: our header first)."""
    record = emu.sessions[-1]
    if fmt == "wav":
        rate = int((record.request or {}).get("sample_rate", 44100))
        return wav_header(rate, None) + record.audio_sent
    return record.audio_sent


async def speak_error(
    hass: HomeAssistant,
    path: str,
    message: str | Sequence[str],
    fmt: str = "mp3",
    bound: float = 3.0,
    options: dict[str, Any] | None = None,
    received: list[bytes] | None = None,
) -> HomeAssistantError:
    """Synthesize, expecting a translated error of this integration within ``bound``."""
    async with asyncio.timeout(bound):
        with pytest.raises(HomeAssistantError) as info:
            await read(start(hass, path, message, fmt, options), received)
    err = info.value
    assert err.translation_domain == DOMAIN, repr(err)
    return err


async def assert_healthy(hass: HomeAssistant, emu: FishEmulator, path: str, tag: str) -> None:
    """The entity is available, nothing is left open, and the next request works."""
    await emu.wait_all_closed()
    assert emu.open_sessions == 0
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.state != "unavailable"
    emu.clear_faults()
    message = f"The next request works, after {tag}."
    audio = await speak(hass, path, message)
    assert audio == expected_audio(emu)
    assert emu.sessions[-1].text == message
    await emu.wait_all_closed()


# ----- the fault matrix -------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", FAULT_CASES, ids=[case.id for case in FAULT_CASES])
async def test_fault(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    case: FaultCase,
    path: str,
) -> None:
    """The caller gets the full audio or a translated error in time; nothing leaks."""
    message = MESSAGE if path == ONE_SHOT else PIECES
    if case.inject is not None:
        emulator.add_fault(case.inject)
    if case.refused:
        await emulator.stop()
    received: list[bytes] = []
    try:
        if case.outcome == FULL_AUDIO:
            audio = await speak(hass, path, message, case.fmt, case.bound)
            assert audio == expected_audio(emulator, case.fmt)
            assert emulator.sessions[-1].text == MESSAGE
            if case.inject is not None and case.inject.kind == "big_frame":
                assert len(emulator.sessions[-1].audio_sent) == case.inject.frame_size
        else:
            err = await speak_error(hass, path, message, case.fmt, case.bound, received=received)
            assert err.translation_key == case.outcome
            placeholders = err.translation_placeholders or {}
            if case.message is not None:
                assert placeholders["message"] == case.message
            assert str(err) == render(case.outcome, placeholders)
            # Whatever audio came before the error is the start of what was sent, intact.
            if case.sessions:
                heard = b"".join(received)
                if case.fmt == "wav":  # our streaming header, then the server's PCM
                    heard = heard.removeprefix(wav_header(44100, None))
                assert emulator.sessions[-1].audio_sent.startswith(heard)
    finally:
        if case.refused:
            await emulator.start()
    assert emulator.handshakes == case.sessions
    assert emulator.violations == []
    await check_side_effects(hass, case)
    await assert_healthy(hass, emulator, path, case.id)
    if case.outcome == "no_credit":
        assert not ir.async_get(hass).async_get_issue(
            DOMAIN, f"{ISSUE_NO_CREDIT}_{loaded.entry_id}"
        )


async def check_side_effects(hass: HomeAssistant, case: FaultCase) -> None:
    """A rejected key asks for re-authentication; no credit raises a repair issue."""
    await hass.async_block_till_done()
    reauth = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]
    assert len(reauth) == (1 if case.outcome == "invalid_auth" else 0)
    issues = [
        issue_id
        for (domain, issue_id) in ir.async_get(hass).issues
        if domain == DOMAIN and issue_id.startswith(ISSUE_NO_CREDIT)
    ]
    assert len(issues) == (1 if case.outcome == "no_credit" else 0)


# ----- bad input --------------------------------------------------------------

VIA_SPEAK: Final = "tts.speak"
VIA_FLOW: Final = "config flow"


@dataclass(frozen=True, slots=True)
class BadInputCase:
    """A bad or unusual input, and what the user gets."""

    id: str
    input: str
    via: str
    outcome: str
    """A translation key, or FULL_AUDIO (synthesized in full, every character once)."""
    section: str = "exceptions"
    placeholders: tuple[tuple[str, str], ...] = ()
    value: Any = None
    notes: str = ""


EMPTY_CASES: Final = (
    BadInputCase("empty", "empty message", ONE_SHOT, "empty_message", value=""),
    BadInputCase("blank", "white space only", ONE_SHOT, "empty_message", value=" \n\t "),
    BadInputCase(
        "blank-pieces",
        "stream of white space pieces",
        STREAMED,
        "empty_message",
        value=(" ", "\n", "", "\t "),
    ),
    BadInputCase("speak-blank", "white space only", VIA_SPEAK, "empty_message", value="  \n"),
)

TEXT_CASES: Final = (
    BadInputCase(
        "long",
        "20,000-character message",
        f"{ONE_SHOT}, {STREAMED}",
        FULL_AUDIO,
        value="".join(f"Sentence {index} of a very long message. " for index in range(1000))[
            :20_000
        ],
    ),
    BadInputCase(
        "emoji",
        "emoji (incl. ZWJ sequences and flags)",
        f"{ONE_SHOT}, {STREAMED}",
        FULL_AUDIO,
        value="Good morning 👋🏽! The family 👨‍👩‍👧‍👦 is home 🏠, flag 🇳🇱, done ✅.",
    ),
    BadInputCase(
        "cjk",
        "Chinese, Japanese, Korean",
        f"{ONE_SHOT}, {STREAMED}",
        FULL_AUDIO,
        value="你好，欢迎回家。今日はいい天気ですね。안녕하세요, 반갑습니다.",
    ),
    BadInputCase(
        "rtl",
        "right-to-left text (Arabic, Hebrew) with direction marks",
        f"{ONE_SHOT}, {STREAMED}",
        FULL_AUDIO,
        value="مرحبا بك في المنزل. \u200fשלום, ברוך הבא הביתה.\u200e OK.",
    ),
    BadInputCase(
        "control",
        "control characters (NUL, BEL, ESC, CR LF, tab, DEL)",
        f"{ONE_SHOT}, {STREAMED}",
        FULL_AUDIO,
        value="Start\x00 bell\x07 escape\x1b[0m tab\there\r\nnew line\x7f end.",
    ),
)

OPTION_CASES: Final = (
    BadInputCase(
        "speed",
        "speed 5",
        VIA_SPEAK,
        "invalid_option",
        placeholders=(("option", "speed"), ("allowed", "0.5 to 2.0")),
        value={"speed": 5},
    ),
    BadInputCase(
        "volume",
        "volume 99",
        VIA_SPEAK,
        "invalid_option",
        placeholders=(("option", "volume"), ("allowed", "-20 to 20 dB")),
        value={"volume": 99},
    ),
    BadInputCase(
        "format",
        "format flac",
        VIA_SPEAK,
        "invalid_option",
        placeholders=(("option", "format"), ("allowed", "mp3/wav/opus")),
        value={"format": "flac"},
    ),
    BadInputCase(
        "model",
        "empty model",
        VIA_SPEAK,
        "invalid_option",
        placeholders=(("option", "model"), ("allowed", "a model name")),
        value={"model": " "},
    ),
    BadInputCase(
        "sample_rate",
        "sample rate 48000 with mp3",
        VIA_SPEAK,
        "invalid_option",
        placeholders=(("option", "sample_rate"), ("allowed", "32000/44100 for mp3")),
        value={"sample_rate": 48000},
    ),
    BadInputCase(
        "voice",
        "malformed voice id",
        VIA_SPEAK,
        "invalid_option",
        placeholders=(("option", "voice"), ("allowed", "a 32-character voice id")),
        value={"voice": "not-a-voice"},
    ),
)

UNKNOWN_VOICE: Final = "0123456789abcdef0123456789abcdef"
VOICE_CASES: Final = (
    BadInputCase(
        "unknown_voice",
        "unknown voice id (well-formed)",
        f"{ONE_SHOT}, {STREAMED}",
        "voice_not_found",
        placeholders=(("voice", UNKNOWN_VOICE),),
        value={"voice": UNKNOWN_VOICE},
    ),
    BadInputCase(
        "unknown_model",
        "unknown model name",
        f"{ONE_SHOT}, {STREAMED}",
        FULL_AUDIO,
        value={"model": "s9-ultra"},
        notes="sent as typed in the model header; the server decides",
    ),
)

FLOW_CASES: Final = (
    BadInputCase("flow-malformed", "malformed server URL", VIA_FLOW, "invalid_url", "config"),
    BadInputCase("flow-insecure", "http URL of a public host", VIA_FLOW, "insecure_url", "config"),
    BadInputCase("flow-unreachable", "unreachable server", VIA_FLOW, "cannot_connect", "config"),
    BadInputCase("flow-html", "server answers HTML", VIA_FLOW, "not_fish_audio", "config"),
)

BAD_INPUT_CASES: Final[tuple[BadInputCase, ...]] = (
    *EMPTY_CASES,
    *TEXT_CASES,
    *OPTION_CASES,
    *VOICE_CASES,
    *FLOW_CASES,
)


@pytest.mark.parametrize(
    "case", [case for case in EMPTY_CASES if case.via != VIA_SPEAK], ids=lambda case: case.id
)
async def test_empty_message(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator, case: BadInputCase
) -> None:
    """Nothing to say: a clear error, and no socket is opened for it."""
    err = await speak_error(hass, case.via, case.value)
    assert err.translation_key == case.outcome
    assert str(err) == render(case.outcome)
    assert emulator.handshakes == 0
    await assert_healthy(hass, emulator, case.via, case.id)


async def speak_service(hass: HomeAssistant, message: str, options: dict[str, Any]) -> None:
    """``tts.speak`` to a media player, as an automation does."""
    await hass.services.async_call(
        tts.DOMAIN,
        "speak",
        {
            "entity_id": ENTITY_ID,
            "media_player_entity_id": "media_player.kitchen",
            "message": message,
            "options": options,
        },
        blocking=True,
    )


@pytest.mark.parametrize(
    "case",
    [case for case in (*EMPTY_CASES, *OPTION_CASES) if case.via == VIA_SPEAK],
    ids=lambda case: case.id,
)
async def test_speak_refuses_bad_input(
    hass: HomeAssistant, loaded: MockConfigEntry, emulator: FishEmulator, case: BadInputCase
) -> None:
    """tts.speak with a bad option or no text: ServiceValidationError before any socket."""
    plays = async_mock_service(hass, "media_player", "play_media")
    message = case.value if isinstance(case.value, str) else "Options are checked first."
    options = case.value if isinstance(case.value, dict) else {}
    with pytest.raises(ServiceValidationError) as info:
        await speak_service(hass, message, options)
    assert info.value.translation_domain == DOMAIN
    assert info.value.translation_key == case.outcome
    assert (info.value.translation_placeholders or {}) == dict(case.placeholders)
    assert str(info.value) == render(case.outcome, dict(case.placeholders))
    assert plays == []
    assert emulator.handshakes == 0
    # The same call with valid input reaches the media player.
    await speak_service(hass, "Options are checked first.", {"speed": 1.5})
    assert len(plays) == 1


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", TEXT_CASES, ids=lambda case: case.id)
async def test_text_arrives_exactly(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    case: BadInputCase,
    path: str,
) -> None:
    """Every character reaches the server exactly once, in order; all audio comes back."""
    emulator.latency = LatencyModel(ms_per_char=1.0, chunk_ms=1000)  # few, large audio events
    message: str = case.value
    parts = split_message(message, count=max(4, len(message) // 400))
    audio = await speak(hass, path, message if path == ONE_SHOT else parts, bound=10)
    (record,) = emulator.sessions
    assert record.text == clean_text(message)  # Markdown and emoji are not read aloud
    assert audio == record.audio_sent
    assert emulator.violations == []
    await emulator.wait_all_closed()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", VOICE_CASES, ids=lambda case: case.id)
async def test_unknown_voice_or_model(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    case: BadInputCase,
    path: str,
) -> None:
    """An unknown voice says so; an unknown model name is passed on as it is."""
    message = MESSAGE if path == ONE_SHOT else PIECES
    if case.outcome == FULL_AUDIO:
        audio = await speak(hass, path, message, options=case.value)
        assert audio == expected_audio(emulator)
        assert emulator.sessions[-1].model == case.value["model"]
    else:
        err = await speak_error(hass, path, message, options=case.value)
        assert err.translation_key == case.outcome
        assert err.translation_placeholders == dict(case.placeholders)
        assert str(err) == render(case.outcome, dict(case.placeholders))
    await assert_healthy(hass, emulator, path, case.id)


def closed_port_url() -> str:
    """A 127.0.0.1 URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("case", FLOW_CASES, ids=lambda case: case.id)
async def test_config_flow_refuses_bad_server(
    hass: HomeAssistant, emulator: FishEmulator, case: BadInputCase
) -> None:
    """A bad server URL is an inline error and nothing is stored."""
    assert await async_setup_component(hass, "tts", {})
    url = {
        "flow-malformed": "not a url",
        "flow-insecure": "http://api.fish.audio",
        "flow-unreachable": closed_port_url(),
        "flow-html": emulator.url,
    }[case.id]
    if case.id == "flow-html":
        emulator.add_rest_fault(
            "/wallet/self/api-credit", 200, body="<html>Hello</html>", content_type="text/html"
        )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    field = CONF_URL if case.outcome in ("invalid_url", "insecure_url") else "base"
    assert result["errors"] == {field: case.outcome}
    assert english(case.outcome, "config")
    assert hass.config_entries.async_entries(DOMAIN) == []
    if case.id in ("flow-malformed", "flow-insecure"):
        assert emulator.rest_calls == []
    hass.config_entries.flow.async_abort(result["flow_id"])
