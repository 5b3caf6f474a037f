"""Speech through Home Assistant's real tts component, against the emulator.

Every request goes the way Home Assistant sends it: `tts.speak` to a media
player and the `/api/tts_proxy` view, result streams (`async_create_stream`),
and the websocket API. Fish Audio is the emulator on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
import itertools
import struct
from typing import Any
from unittest.mock import patch

from homeassistant.components import media_source, tts
from homeassistant.components.tts.const import DATA_COMPONENT
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_API_KEY, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.fish_audio_live import runtime as runtime_module
from custom_components.fish_audio_live.compat import HA_FFMPEG_SOURCE
from custom_components.fish_audio_live.const import (
    CONF_CLONE_FILE,
    CONF_CLONE_TEXT,
    CONF_MODEL,
    CONF_TITLE,
    DOMAIN,
    SUBENTRY_TTS,
    VOICE_REFRESH_INTERVAL,
)
from custom_components.fish_audio_live.fishaudio.errors import InvalidSettingError
from custom_components.fish_audio_live.fishaudio.live import Timeouts
from custom_components.fish_audio_live.fishaudio.output import SOURCE_RAW
from custom_components.fish_audio_live.references import clip_path
from custom_components.fish_audio_live.tts import FishAudioTTSEntity
from tests.conftest import API_KEY, USER_ID, VOICE_TITLE
from tests.emulator import Fault, FishEmulator, Voice

ENTITY = "tts.test_voice"
OWN_VOICE_ID = "0123456789abcdef0123456789abcdef"
UNKNOWN_VOICE_ID = "fedcba9876543210fedcba9876543210"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """No real back-off between 429 retries (the client reads this at construction)."""
    with patch("custom_components.fish_audio_live.fishaudio.client.RETRY_DELAYS", (0.0, 0.0, 0.0)):
        yield


def _message(text: str = "Hello from Home Assistant. This is a test.") -> str:
    """A message not seen before in this test run (HA caches results by message)."""
    return f"{text} Number {next(_counter)}."


def _entity(hass: HomeAssistant) -> FishAudioTTSEntity:
    entity = hass.data[DATA_COMPONENT].get_entity(ENTITY)
    assert isinstance(entity, FishAudioTTSEntity)
    return entity


async def _read(stream: tts.ResultStream) -> bytes:
    async with asyncio.timeout(10):
        return b"".join([chunk async for chunk in stream.async_stream_result()])


async def _speak(
    hass: HomeAssistant, message: str | None = None, options: dict[str, Any] | None = None
) -> bytes:
    stream = tts.async_create_stream(
        hass, ENTITY, "en", {"preferred_format": "mp3", **(options or {})}
    )
    stream.async_set_message(message or _message())
    return await _read(stream)


async def _failure(
    hass: HomeAssistant, options: dict[str, Any] | None = None, message: str | None = None
) -> HomeAssistantError:
    with pytest.raises(HomeAssistantError) as info:
        await _speak(hass, message, options)
    return info.value


async def _speak_service(hass: HomeAssistant, message: str, options: dict[str, Any]) -> None:
    await hass.services.async_call(
        "tts",
        "speak",
        {
            "entity_id": ENTITY,
            "media_player_entity_id": "media_player.kitchen",
            "message": message,
            "options": options,
        },
        blocking=True,
    )


# ----- tts.speak to a media player -------------------------------------------


async def test_speak_to_media_player(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    hass_client: ClientSessionGenerator,
) -> None:
    """tts.speak -> play_media -> media source -> /api/tts_proxy: Fish's bytes, unchanged."""
    assert await async_setup_component(hass, "media_source", {})
    calls = async_mock_service(hass, "media_player", "play_media")
    message = "Hello from Home Assistant. This is a test."
    await hass.services.async_call(
        "tts",
        "speak",
        {"entity_id": ENTITY, "media_player_entity_id": "media_player.kitchen", "message": message},
        blocking=True,
    )
    assert len(calls) == 1
    assert calls[0].data["entity_id"] == ["media_player.kitchen"]
    media_id = calls[0].data["media_content_id"]
    assert media_id.startswith("media-source://tts/tts.test_voice?")

    resolved = await media_source.async_resolve_media(hass, media_id, None)
    assert resolved.url.startswith("/api/tts_proxy/")
    assert resolved.mime_type == "audio/mpeg"

    client = await hass_client()
    response = await client.get(resolved.url)
    assert response.status == 200
    body = await response.read()

    session = emulator.sessions[-1]
    assert body
    assert body == session.audio_sent
    assert body[:3] != b"ID3"  # HA only tags what it writes to its file cache
    assert session.text == message
    assert session.request is not None
    assert session.request["format"] == "mp3"
    assert session.request["reference_id"] == emulator.voices[0].id
    assert session.headers["model"] == "s2.1-pro"
    assert emulator.violations == []
    state = hass.states.get(ENTITY)
    assert state is not None
    assert state.state != STATE_UNAVAILABLE


# ----- streaming ---------------------------------------------------------------


async def test_audio_flows_before_the_text_is_complete(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """The first audio bytes come out while later text is still held back."""
    first_audio = asyncio.Event()
    rest_fed = False
    pieces = ["Hello there, this is the first sentence. ", "And this is", " the rest", " of it."]

    async def text() -> AsyncGenerator[str]:
        nonlocal rest_fed
        yield pieces[0]
        await first_audio.wait()
        rest_fed = True
        for piece in pieces[1:]:
            yield piece

    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "mp3"})
    assert stream.supports_streaming_input
    stream.async_set_message_stream(text())
    chunks: list[bytes] = []
    async with asyncio.timeout(10):
        async for chunk in stream.async_stream_result():
            if not chunks:
                assert not rest_fed  # audio before the rest of the text was even produced
                first_audio.set()
            chunks.append(chunk)

    session = emulator.sessions[-1]
    assert rest_fed
    assert b"".join(chunks) == session.audio_sent
    assert session.text == "".join(pieces)  # spaces intact, nothing added
    assert len(session.texts) >= len(pieces)
    assert session.flushes >= 1
    assert session.stopped
    assert emulator.violations == []


async def test_wav_stream(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """preferred_format wav: a streaming WAV header, then the PCM Fish sends."""
    audio = await _speak(hass, options={"preferred_format": "wav"})
    session = emulator.sessions[-1]
    assert session.request is not None
    assert session.request["format"] == "pcm"
    assert session.request["sample_rate"] == 44100
    header, pcm = audio[:44], audio[44:]
    riff, riff_size, wave = struct.unpack("<4sI4s", header[:12])
    assert (riff, wave) == (b"RIFF", b"WAVE")
    assert riff_size == 0xFFFFFFFF
    channels, rate = struct.unpack("<HI", header[22:28])
    assert (channels, rate) == (1, 44100)
    assert header[36:40] == b"data"
    assert pcm == session.audio_sent
    assert pcm


async def test_ogg_stream(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """preferred_format ogg: Ogg Opus straight from Fish, no conversion."""
    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "ogg"})
    stream.async_set_message(_message())
    audio = await _read(stream)
    session = emulator.sessions[-1]
    assert session.request is not None
    assert session.request["format"] == "opus"
    assert audio.startswith(b"OggS")
    assert audio == session.audio_sent
    assert stream.content_type == "audio/ogg"


async def test_media_source_audio(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """tts.async_get_media_source_audio: what other integrations ask for."""
    media_id = tts.generate_media_source_id(
        hass, _message(), ENTITY, "en", {"preferred_format": "mp3"}, cache=False
    )
    extension, data = await tts.async_get_media_source_audio(hass, media_id)
    assert extension == "mp3"
    assert data == emulator.sessions[-1].audio_sent


# ----- a complete file (async_get_tts_audio) --------------------------------------


async def test_complete_wav_file(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """async_get_tts_audio returns a WAV with exact sizes.

    HA never calls it for a streaming entity (every request goes through
    async_stream_tts_audio), so it is called on the entity here.
    """
    entity = _entity(hass)
    options = {**(entity.default_options or {}), "preferred_format": "wav"}
    extension, data = await entity.async_get_tts_audio(_message(), "en", options)
    assert extension == "wav"
    assert data is not None
    session = emulator.sessions[-1]
    assert session.request is not None
    assert session.request["format"] == "pcm"
    riff, riff_size, wave = struct.unpack("<4sI4s", data[:12])
    assert (riff, wave) == (b"RIFF", b"WAVE")
    assert riff_size == len(data) - 8
    assert data[36:40] == b"data"
    assert struct.unpack("<I", data[40:44])[0] == len(data) - 44
    assert data[44:] == session.audio_sent


async def test_complete_file_options_and_errors(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """The complete-file path applies formats and rates, and reports errors the same way."""
    entity = _entity(hass)
    defaults = dict(entity.default_options or {})

    extension, data = await entity.async_get_tts_audio(
        _message(), "en", {**defaults, "format": "opus"}
    )
    assert extension == "ogg"  # Ogg Opus, as ffmpeg reads it
    assert data == emulator.sessions[-1].audio_sent

    # A preferred rate Fish offers is asked for; others from the next higher rate.
    # Before HA 2026.10, HA's ffmpeg runs anyway once a rate is preferred: raw 44.1 kHz
    # PCM is then what it starts on fastest (fishaudio/output.py FFMPEG_SOURCES).
    cases = ((16000, 16000), ("22050", 24000), ("fast", 44100), (None, 44100))
    if HA_FFMPEG_SOURCE == SOURCE_RAW:
        cases = ((16000, 44100), ("22050", 44100), ("fast", 44100), (None, 44100))
    for rate, expected in cases:
        await entity.async_get_tts_audio(
            _message(), "en", {**defaults, "preferred_format": "wav", "preferred_sample_rate": rate}
        )
        request = emulator.sessions[-1].request
        assert request is not None
        assert request["sample_rate"] == expected

    handshakes = emulator.handshakes
    with pytest.raises(ServiceValidationError) as info:
        await entity.async_get_tts_audio("  \n", "en", defaults)
    assert info.value.translation_key == "empty_message"

    emulator.add_fault(Fault(kind="handshake_status", status=500, sticky=True))
    with pytest.raises(HomeAssistantError) as failed:
        await entity.async_get_tts_audio(_message(), "en", defaults)
    emulator.clear_faults()
    assert failed.value.translation_key == "server_error"
    assert emulator.handshakes == handshakes + 2  # a 5xx handshake is retried once


# ----- options per call -------------------------------------------------------------


async def test_configured_values_are_default_options(
    hass: HomeAssistant, setup_integration: MockConfigEntry, voice_id: str
) -> None:
    defaults = _entity(hass).default_options
    assert defaults is not None
    assert defaults["voice"] == voice_id
    assert defaults["model"] == "s2.1-pro"
    assert defaults["latency"] == "balanced"
    assert defaults["format"] == "mp3"
    assert defaults["speed"] == 1.0
    assert defaults["volume"] == 0.0
    assert set(defaults) <= set(_entity(hass).supported_options or [])


async def test_options_per_call(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    other = emulator.voices[1].id

    await _speak(hass, options={"voice": other})
    request = emulator.sessions[-1].request
    assert request is not None
    assert request["reference_id"] == other

    await _speak(hass, options={"voice": f"https://fish.audio/m/{other}/"})
    request = emulator.sessions[-1].request
    assert request is not None
    assert request["reference_id"] == other

    await _speak(hass, options={"voice": emulator.voices[0].id})
    request = emulator.sessions[-1].request
    assert request is not None
    assert request["reference_id"] == emulator.voices[0].id

    await _speak(
        hass,
        options={
            "model": "s1",
            "latency": "low",
            "speed": "1.5",  # YAML and the UI may send strings
            "volume": -3,
            "temperature": 0.3,
            "top_p": 0.9,
            "chunk_length": 150,
            "normalize": "false",
            "mp3_bitrate": 64,
            "sample_rate": 32000,
        },
    )
    session = emulator.sessions[-1]
    request = session.request
    assert request is not None
    assert session.headers["model"] == "s1"
    assert request["latency"] == "low"
    assert request["prosody"] == {"speed": 1.5, "volume": -3.0}
    assert request["temperature"] == pytest.approx(0.3)
    assert request["top_p"] == pytest.approx(0.9)
    assert request["chunk_length"] == 150
    assert request["normalize"] is False
    assert request["mp3_bitrate"] == 64
    assert request["sample_rate"] == 32000

    await _speak(hass, options={"normalize": True})
    request = emulator.sessions[-1].request
    assert request is not None
    assert request["normalize"] is True

    # format per call: what Fish is asked for; HA is told the matching extension
    await _speak(hass, options={"format": "wav", "preferred_format": "wav"})
    request = emulator.sessions[-1].request
    assert request is not None
    assert request["format"] == "pcm"
    assert emulator.violations == []


INVALID_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"speed": 5}, "speed"),
    ({"volume": 99}, "volume"),
    ({"format": "flac"}, "format"),
    ({"format": "pcm"}, "format"),
    ({"format": "flac", "preferred_format": "mp3"}, "format"),
    ({"model": ""}, "model"),
    ({"sample_rate": 16000}, "sample_rate"),
    ({"voice": "not-an-id"}, "voice"),
    ({"voice": 12345}, "voice"),
    ({"latency": "instant"}, "latency"),
    ({"normalize": "maybe"}, "normalize"),
    ({"chunk_length": "long"}, "chunk_length"),
]


async def test_invalid_options_via_speak(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """tts.speak refuses a bad option, naming it, before any socket is opened."""
    calls = async_mock_service(hass, "media_player", "play_media")
    for options, field in INVALID_OPTIONS:
        with pytest.raises(ServiceValidationError) as info:
            await _speak_service(hass, _message(), options)
        assert info.value.translation_domain == DOMAIN
        assert info.value.translation_key == "invalid_option"
        assert info.value.translation_placeholders is not None
        assert info.value.translation_placeholders["option"] == field
        assert field in str(info.value)  # the translated message names it
    assert calls == []
    assert emulator.handshakes == 0


async def test_invalid_options_via_stream(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """A result stream with a bad option fails the same way, before any socket."""
    for options, field in INVALID_OPTIONS:
        stream = tts.async_create_stream(hass, ENTITY, "en", options)
        stream.async_set_message(_message())
        with pytest.raises(ServiceValidationError) as info:
            await _read(stream)
        assert info.value.translation_key == "invalid_option"
        assert info.value.translation_placeholders is not None
        assert info.value.translation_placeholders["option"] == field
    assert emulator.handshakes == 0


async def test_empty_message(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """Nothing to say: ServiceValidationError, and no socket is opened."""
    calls = async_mock_service(hass, "media_player", "play_media")
    with pytest.raises(ServiceValidationError) as info:
        await _speak_service(hass, "  \t ", {})
    assert info.value.translation_key == "empty_message"
    assert calls == []

    # A result stream: the socket waits for the first words, so none is opened.
    error = await _failure(hass, message="   ")
    assert isinstance(error, ServiceValidationError)
    assert error.translation_key == "empty_message"

    async def blank() -> AsyncGenerator[str]:
        yield ""
        yield "  "
        yield "\n"

    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "mp3"})
    stream.async_set_message_stream(blank())
    with pytest.raises(ServiceValidationError) as streamed:
        await _read(stream)
    assert streamed.value.translation_key == "empty_message"
    assert emulator.handshakes == 0


@pytest.mark.parametrize("message", ["👍", "**  **", "🎉 ✅"])
async def test_text_that_cleans_to_nothing_opens_no_session(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator, message: str
) -> None:
    """Nothing left to say once Markdown, links and emoji are out: empty, before a socket."""
    calls = async_mock_service(hass, "media_player", "play_media")
    with pytest.raises(ServiceValidationError) as info:
        await _speak_service(hass, message, {})
    assert info.value.translation_key == "empty_message"
    assert calls == []
    error = await _failure(hass, message=message)
    assert isinstance(error, ServiceValidationError)
    assert error.translation_key == "empty_message"
    assert emulator.handshakes == 0
    assert emulator.sessions == []


async def test_leading_blank_pieces_are_harmless(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """Blank pieces before the first words open no session of their own; the words come."""

    async def text() -> AsyncGenerator[str]:
        yield ""
        yield " "
        yield "Words at last."

    stream = tts.async_create_stream(hass, ENTITY, "en", {"preferred_format": "mp3"})
    stream.async_set_message_stream(text())
    audio = await _read(stream)
    assert audio == emulator.sessions[-1].audio_sent
    assert emulator.sessions[-1].text.strip() == "Words at last."
    assert len(emulator.sessions) == 1


# ----- voices -----------------------------------------------------------------------------


@pytest.fixture
def own_voice(emulator: FishEmulator) -> Voice:
    voice = Voice(OWN_VOICE_ID, "My Own Voice", ["en"], visibility="private")
    emulator.add_voice(voice, owner=USER_ID)
    return voice


async def test_supported_voices(
    hass: HomeAssistant,
    own_voice: Voice,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    voice_id: str,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """The voice picker lists the configured voice and the account's own voices."""
    client = await hass_ws_client(hass)
    for language in ("en", "de", "ja", "zh-CN"):
        await client.send_json_auto_id(
            {"type": "tts/engine/voices", "engine_id": ENTITY, "language": language}
        )
        message = await client.receive_json()
        assert message["success"]
        assert message["result"]["voices"] == [
            {"voice_id": voice_id, "name": VOICE_TITLE},
            {"voice_id": own_voice.id, "name": own_voice.title},
        ]
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_voices_are_refreshed_after_a_while(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A new own voice shows up once the listing is older than the refresh interval."""
    client = await hass_ws_client(hass)

    async def voice_ids() -> list[str]:
        await client.send_json_auto_id(
            {"type": "tts/engine/voices", "engine_id": ENTITY, "language": "en"}
        )
        message = await client.receive_json()
        await hass.async_block_till_done(wait_background_tasks=True)
        return [voice["voice_id"] for voice in message["result"]["voices"]]

    listings = sum(call.startswith("GET /model?") for call in emulator.rest_calls)
    assert OWN_VOICE_ID not in await voice_ids()
    emulator.add_voice(Voice(OWN_VOICE_ID, "Fresh Voice"), owner=USER_ID)
    assert OWN_VOICE_ID not in await voice_ids()  # fetched recently: not asked again
    assert sum(call.startswith("GET /model?") for call in emulator.rest_calls) == listings

    runtime = setup_integration.runtime_data
    runtime.voices_fetched -= VOICE_REFRESH_INTERVAL + 1
    await voice_ids()  # this call starts the refresh
    assert OWN_VOICE_ID in await voice_ids()


# ----- errors -----------------------------------------------------------------------------


async def _still_works(hass: HomeAssistant, emulator: FishEmulator) -> None:
    state = hass.states.get(ENTITY)
    assert state is not None
    assert state.state != STATE_UNAVAILABLE
    audio = await _speak(hass)
    assert audio
    assert audio == emulator.sessions[-1].audio_sent


async def test_rejected_key_starts_reauth(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    emulator.add_fault(Fault(kind="handshake_status", status=401))
    error = await _failure(hass)
    assert error.translation_domain == DOMAIN
    assert error.translation_key == "invalid_auth"
    assert "rejected the API key" in str(error)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    assert flows[0]["context"]["entry_id"] == setup_integration.entry_id
    await _still_works(hass, emulator)


async def test_no_credit_repair_issue(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    issue_id = f"no_credit_{setup_integration.entry_id}"
    emulator.credit[USER_ID] = "0"
    error = await _failure(hass)
    assert error.translation_key == "no_credit"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "no_credit"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["free_model"] == "s2.1-pro-free"

    # The free model works without credit, and a success clears the issue.
    await _speak(hass, options={"model": "s2.1-pro-free"})
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None

    await _failure(hass)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    emulator.credit[USER_ID] = "10.0"
    await _still_works(hass, emulator)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_rate_limited(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """A sticky 429 outlasts the client's retries: rate_limited, then recovery."""
    emulator.add_fault(Fault(kind="handshake_status", status=429, sticky=True))
    error = await _failure(hass)
    assert error.translation_key == "rate_limited"
    assert emulator.handshakes == 4  # the first try and three retries
    emulator.clear_faults()

    emulator.add_fault(Fault(kind="handshake_status", status=429, retry_after=0.01, sticky=True))
    error = await _failure(hass)
    assert error.translation_placeholders is not None
    assert error.translation_placeholders["retry_after"] == "0.01"
    emulator.clear_faults()
    await _still_works(hass, emulator)


SERVER_FAILURES = [
    # Sticky: a 5xx at the handshake is retried once before it is reported.
    (Fault(kind="handshake_status", status=500, sticky=True), "server_error"),
    (Fault(kind="handshake_status", status=503, sticky=True), "server_error"),
    (Fault(kind="finish_error", message="model overloaded"), "synthesis_failed"),
    (Fault(kind="finish_error", phase="mid_audio"), "synthesis_failed"),
    (Fault(kind="close", status=1011), "cannot_connect"),
    (Fault(kind="close", phase="mid_audio"), "cannot_connect"),
    (Fault(kind="text_frame"), "synthesis_failed"),
    (Fault(kind="malformed", phase="mid_audio"), "synthesis_failed"),
]


async def test_server_failures(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """Each failure is a translated error; the entity stays and the next request works."""
    for fault, key in SERVER_FAILURES:
        emulator.add_fault(fault)
        error = await _failure(hass)
        assert error.translation_domain == DOMAIN
        assert error.translation_key == key, fault
        assert str(error)
        assert key not in str(error)  # a translated sentence, not the key
        emulator.clear_faults()
        await _still_works(hass, emulator)
    await emulator.wait_all_closed()


async def test_a_passing_server_error_is_retried(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """One 5xx at the handshake costs a retry, not the reply."""
    handshakes = emulator.handshakes
    emulator.add_fault(Fault(kind="handshake_status", status=502))
    await _still_works(hass, emulator)
    assert emulator.handshakes == handshakes + 2


async def test_the_close_reason_reaches_the_user(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """A socket the server closes early: its code and reason are in the message."""
    emulator.add_fault(Fault(kind="close", status=1011, message="backend overloaded"))
    error = await _failure(hass)
    assert error.translation_key == "cannot_connect"
    assert error.translation_placeholders is not None
    assert "1011" in error.translation_placeholders["message"]
    assert "backend overloaded" in error.translation_placeholders["message"]
    assert "backend overloaded" in str(error)


async def test_stalled_server(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """A server that goes quiet is given up on within the session's bounds."""
    setup_integration.runtime_data.client.timeouts = Timeouts(first_audio=0.2, audio_gap=0.2)
    for phase, key in (("after_start", "first_audio_timeout"), ("mid_audio", "audio_gap_timeout")):
        emulator.add_fault(Fault(kind="stall", phase=phase))
        error = await _failure(hass)
        assert error.translation_key == key
        await emulator.wait_all_closed()
        await _still_works(hass, emulator)


async def test_unknown_voice(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator
) -> None:
    """A voice id Fish does not know is named as such."""
    error = await _failure(hass, {"voice": UNKNOWN_VOICE_ID})
    assert error.translation_key == "voice_not_found"
    assert error.translation_placeholders == {"voice": UNKNOWN_VOICE_ID}
    assert UNKNOWN_VOICE_ID in str(error)
    await _still_works(hass, emulator)


async def test_failure_when_the_voice_lookup_fails_too(
    hass: HomeAssistant, setup_integration: MockConfigEntry, emulator: FishEmulator, voice_id: str
) -> None:
    """The voice check is best effort: the original failure is reported."""
    emulator.add_fault(Fault(kind="finish_error", message="boom"))
    emulator.add_rest_fault(f"/model/{voice_id}", 500)
    error = await _failure(hass)
    assert error.translation_key == "synthesis_failed"
    assert error.translation_placeholders is not None
    assert error.translation_placeholders["message"] == "boom"


async def test_invalid_setting_from_the_client(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A setting the client refuses is reported like the entity's own check.

    Unreachable through HA (the entity validates first), so called directly.
    """
    error = runtime_module.user_error(
        hass, setup_integration, InvalidSettingError("speed", 9, "0.5 to 2.0")
    )
    assert error.translation_key == "invalid_option"
    assert error.translation_placeholders == {"option": "speed", "allowed": "0.5 to 2.0"}


# ----- instant clones and other voice kinds -----------------------------------------------


@pytest.fixture
def clone_entry(hass: HomeAssistant, emulator: FishEmulator) -> MockConfigEntry:
    """An account with an instant clone (a stored clip, no reference_id)."""
    path = clip_path(hass, "clone.wav")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF-fake-clip")
    return MockConfigEntry(
        domain=DOMAIN,
        title="Fish Audio",
        unique_id=USER_ID,
        data={CONF_API_KEY: API_KEY, "url": emulator.url},
        subentries_data=[
            ConfigSubentryData(
                data={
                    CONF_TITLE: "My Clone",
                    CONF_CLONE_FILE: "clone.wav",
                    CONF_CLONE_TEXT: "What the clip says.",
                    CONF_MODEL: "s2.1-pro",
                },
                subentry_type=SUBENTRY_TTS,
                title="My Clone",
                unique_id=None,
            ),
            ConfigSubentryData(data={}, subentry_type="other", title="Not a voice", unique_id=None),
        ],
    )


async def test_instant_clone(
    hass: HomeAssistant,
    clone_entry: MockConfigEntry,
    emulator: FishEmulator,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A clone sends its clip inline, lists no voice id of its own, and still fails clearly."""
    assert await async_setup_component(hass, "tts", {})
    clone_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(clone_entry.entry_id)
    await hass.async_block_till_done()
    assert [state.entity_id for state in hass.states.async_all("tts")] == ["tts.my_clone"]

    stream = tts.async_create_stream(hass, "tts.my_clone", "en", {"preferred_format": "mp3"})
    stream.async_set_message(_message())
    audio = await _read(stream)
    request = emulator.sessions[-1].request
    assert request is not None
    assert request["reference_id"] is None
    assert request["references"] == [{"audio": b"RIFF-fake-clip", "text": "What the clip says."}]
    assert audio == emulator.sessions[-1].audio_sent

    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "tts/engine/voices", "engine_id": "tts.my_clone", "language": "en"}
    )
    message = await client.receive_json()
    # None, not []: an empty list makes the Media page show an empty required field.
    assert message["result"]["voices"] is None
    await hass.async_block_till_done(wait_background_tasks=True)

    emulator.add_fault(Fault(kind="finish_error", message="bad clip"))
    stream = tts.async_create_stream(hass, "tts.my_clone", "en", {"preferred_format": "mp3"})
    stream.async_set_message(_message())
    with pytest.raises(HomeAssistantError) as info:
        await _read(stream)
    assert info.value.translation_key == "synthesis_failed"
    assert not any(call.startswith("GET /model/") for call in emulator.rest_calls)


async def test_default_language_follows_home_assistant(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """HA's language is the default when the voice speaks it, English otherwise."""
    hass.config.language = "de"
    assert await async_setup_component(hass, "tts", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert _entity(hass).default_language == "de"


async def test_default_language_unsupported(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    hass.config.language = "tlh"
    assert await async_setup_component(hass, "tts", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert _entity(hass).default_language == "en"


async def test_clone_clip_is_part_of_the_cache_key(
    hass: HomeAssistant, clone_entry: MockConfigEntry
) -> None:
    """A new clip must not replay audio made with the old one from HA's cache."""
    assert await async_setup_component(hass, "tts", {})
    clone_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(clone_entry.entry_id)
    await hass.async_block_till_done()
    entity = hass.data["entity_components"]["tts"].get_entity("tts.my_clone")
    assert entity.default_options["clone"] == "clone.wav"


async def test_a_missing_clip_skips_only_that_voice(
    hass: HomeAssistant,
    clone_entry: MockConfigEntry,
    voice_data: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One lost clip does not take the account's other voices down."""
    clip_path(hass, "clone.wav").unlink()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Fish Audio",
        unique_id=USER_ID,
        data=dict(clone_entry.data),
        subentries_data=[
            *(
                ConfigSubentryData(
                    data=dict(sub.data),
                    subentry_type=sub.subentry_type,
                    title=sub.title,
                    unique_id=None,
                )
                for sub in clone_entry.subentries.values()
            ),
            ConfigSubentryData(
                data=voice_data, subentry_type=SUBENTRY_TTS, title="Test Voice", unique_id=None
            ),
        ],
    )
    assert await async_setup_component(hass, "tts", {})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("tts.my_clone") is None
    assert hass.states.get("tts.test_voice") is not None
    assert "clip of voice My Clone is missing" in caplog.text
