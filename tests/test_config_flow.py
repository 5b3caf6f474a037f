"""Config flow, reauth, reconfigure and voice subentries, walked as the UI would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
import io
import json
from pathlib import Path
import socket
import struct
from typing import Any
from unittest.mock import patch
import wave

from aiohttp import FormData
from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
    ConfigSubentry,
    SubentryFlowResult,
)
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous as vol

from custom_components.fish_audio_live.const import (
    API_KEYS_URL,
    CONF_CHUNK_LENGTH,
    CONF_CLONE_FILE,
    CONF_CLONE_TEXT,
    CONF_FORMAT,
    CONF_LATENCY,
    CONF_MODEL,
    CONF_MP3_BITRATE,
    CONF_NORMALIZE,
    CONF_REFERENCE_ID,
    CONF_SAMPLE_RATE,
    CONF_SPEED,
    CONF_TITLE,
    CONF_URL,
    CONF_VOLUME,
    DEFAULTS,
    DOMAIN,
    SUBENTRY_TTS,
)
from custom_components.fish_audio_live.fishaudio.clip_check import (
    CLONE_MAX_BYTES,
    ClipError,
    check_clip,
    clip_kind,
    read_clip,
    resolve_media_path,
    wav_duration,
)
from custom_components.fish_audio_live.fishaudio.rest import RestApi
from custom_components.fish_audio_live.references import clip_path
from tests.conftest import API_KEY, USER_ID, VOICE_TITLE
from tests.emulator import FishEmulator, Voice

OTHER_KEY = "sk-test-other-account"
NEW_KEY = "sk-test-new-key-same-account"
OWN_VOICE = Voice("0123456789abcdef0123456789abcdef", "My Own Voice")
UNKNOWN_VOICE = "fedcba9876543210fedcba9876543210"
VOICE_LINK = "voice_link"  # the form's field for a pasted id or fish.audio link

# Every settings field of the voice forms, as the UI sends them.
SETTINGS_INPUT: dict[str, Any] = {
    CONF_MODEL: "s2.1-pro-free",
    CONF_LATENCY: "normal",
    CONF_FORMAT: "wav",
    CONF_SAMPLE_RATE: "16000",
    CONF_SPEED: 1.25,
    CONF_VOLUME: -3.0,
    "temperature": 0.5,
    "top_p": 0.6,
    CONF_CHUNK_LENGTH: 150.0,
    CONF_NORMALIZE: False,
}


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    """A silent mono 8-bit WAV of the given length."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(b"\x80" * int(seconds * rate))
    return buffer.getvalue()


def closed_port_url() -> str:
    """A 127.0.0.1 URL nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def tts_ready(hass: HomeAssistant) -> None:
    """The tts component, as in a real instance."""
    assert await async_setup_component(hass, "tts", {})


async def start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def to_voice_step(
    hass: HomeAssistant, emulator: FishEmulator, key: str = API_KEY
) -> ConfigFlowResult:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: key, CONF_URL: emulator.url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "voice"
    return result


def options_of(result: Mapping[str, Any], field: str) -> list[Any]:
    """The options of a select field of a shown form."""
    for key, selector in result["data_schema"].schema.items():
        if key == field:
            return list(selector.config["options"])
    raise AssertionError(f"no field {field}")


def suggested(result: Mapping[str, Any], field: str) -> Any:
    for key in result["data_schema"].schema:
        if key == field:
            return (key.description or {}).get("suggested_value")
    raise AssertionError(f"no field {field}")


# --- account flow -----------------------------------------------------------------


async def test_full_flow_creates_entry_with_a_voice(
    hass: HomeAssistant, emulator: FishEmulator, tts_ready: None
) -> None:
    emulator.add_voice(OWN_VOICE, owner=USER_ID)
    result = await start_user_flow(hass)
    assert result["description_placeholders"] == {"api_keys_url": API_KEYS_URL}

    # Blanks around a pasted key, and a trailing slash, are tidied away.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: f" {API_KEY}\n", CONF_URL: emulator.url + "/"}
    )
    assert result["step_id"] == "voice"
    options = options_of(result, CONF_REFERENCE_ID)
    assert options[0] == {"value": OWN_VOICE.id, "label": "My Own Voice (en; your voice)"}
    # The user's own first voice is pre-selected, by name.
    assert suggested(result, CONF_REFERENCE_ID) == OWN_VOICE.id

    # A pasted voice page link wins over the list.
    target = emulator.voices[1]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_REFERENCE_ID: OWN_VOICE.id,
            VOICE_LINK: f" https://fish.audio/m/{target.id}/ ",
            CONF_MODEL: "s2.1-pro-free",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Fish Audio (127.0.0.1:{emulator.port}, key …{API_KEY[-4:]})"
    assert result["data"] == {CONF_API_KEY: API_KEY, CONF_URL: emulator.url}
    assert result["result"].unique_id == USER_ID
    await hass.async_block_till_done()

    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    (subentry,) = entry.subentries.values()
    assert subentry.subentry_type == SUBENTRY_TTS
    assert subentry.title == target.title
    assert dict(subentry.data) == {
        **DEFAULTS,
        CONF_REFERENCE_ID: target.id,
        CONF_TITLE: target.title,
        CONF_MODEL: "s2.1-pro-free",
    }
    assert hass.states.get("tts.calm_narrator") is not None
    assert emulator.violations == []


@pytest.mark.parametrize(
    ("key", "url", "reason"),
    [
        ("wrong-key", None, "invalid_auth"),
        (API_KEY, "closed", "cannot_connect"),
    ],
)
async def test_user_errors_then_recover(
    hass: HomeAssistant, emulator: FishEmulator, key: str, url: str | None, reason: str
) -> None:
    result = await start_user_flow(hass)
    bad_url = closed_port_url() if url == "closed" else emulator.url
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: key, CONF_URL: bad_url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": reason}
    assert suggested(result, CONF_API_KEY) == key  # what was typed is kept

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: emulator.url}
    )
    assert result["step_id"] == "voice"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        (200, "<html>hi</html>", "text/html", "not_fish_audio"),
        (200, "[1, 2]", "application/json", "not_fish_audio"),
        (404, None, "application/json", "not_fish_audio"),
        (503, None, "application/json", "cannot_connect"),
    ],
)
async def test_user_server_is_not_fish(
    hass: HomeAssistant,
    emulator: FishEmulator,
    status: int,
    body: str | None,
    content_type: str,
    reason: str,
) -> None:
    emulator.add_rest_fault("/wallet/self/api-credit", status, body, content_type)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: emulator.url}
    )
    assert result["errors"] == {"base": reason}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://x", "invalid_url"),
        ("not a url", "invalid_url"),
        ("https://user:pw@api.fish.audio", "invalid_url"),
        ("http://example.com", "insecure_url"),
    ],
)
async def test_user_unsafe_url_refused_before_any_network(
    hass: HomeAssistant, url: str, reason: str
) -> None:
    # No socket_enabled here: any connection attempt would fail the test.
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: url}
    )
    assert result["errors"] == {CONF_URL: reason}


async def test_user_unexpected_error(
    hass: HomeAssistant, emulator: FishEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    result = await start_user_flow(hass)
    with patch.object(RestApi, "account", side_effect=RuntimeError("boom")):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: emulator.url}
        )
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the Fish Audio API key" in caplog.text


async def test_user_already_configured(
    hass: HomeAssistant, emulator: FishEmulator, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: emulator.url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_voice_step_errors(
    hass: HomeAssistant, emulator: FishEmulator, tts_ready: None
) -> None:
    result = await to_voice_step(hass, emulator)
    flow_id = result["flow_id"]
    known = emulator.voices[0]

    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({}, {CONF_REFERENCE_ID: "voice_required"}),
        ({VOICE_LINK: "   "}, {CONF_REFERENCE_ID: "voice_required"}),
        ({VOICE_LINK: "not a voice"}, {VOICE_LINK: "invalid_voice_link"}),
        ({VOICE_LINK: UNKNOWN_VOICE}, {VOICE_LINK: "voice_not_found"}),
        ({CONF_REFERENCE_ID: known.id, CONF_MODEL: "  "}, {CONF_MODEL: "model_required"}),
    ]
    for user_input, errors in cases:
        result = await hass.config_entries.flow.async_configure(flow_id, user_input)
        assert result["step_id"] == "voice"
        assert result["errors"] == errors

    emulator.add_rest_fault(f"/model/{known.id}", 503)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_REFERENCE_ID: known.id})
    assert result["errors"] == {"base": "cannot_connect"}

    with patch.object(RestApi, "voice", side_effect=RuntimeError("boom")):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_REFERENCE_ID: known.id}
        )
    assert result["errors"] == {"base": "unknown"}

    # The default model applies when the field is left alone.
    result = await hass.config_entries.flow.async_configure(flow_id, {VOICE_LINK: known.id.upper()})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = result["result"].subentries.values()
    assert subentry.data[CONF_REFERENCE_ID] == known.id
    assert subentry.data[CONF_MODEL] == "s2.1-pro"
    await hass.async_block_till_done()


async def test_voice_list_unavailable_still_accepts_an_id(
    hass: HomeAssistant, emulator: FishEmulator, tts_ready: None
) -> None:
    emulator.add_rest_fault("/model", 500, times=2)
    result = await to_voice_step(hass, emulator)
    assert options_of(result, CONF_REFERENCE_ID) == []
    assert suggested(result, CONF_REFERENCE_ID) is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {VOICE_LINK: emulator.voices[2].id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


# --- reauth and reconfigure -------------------------------------------------------------


async def test_reauth_success(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    entry = setup_integration
    assert emulator.accounts.api_keys is not None
    emulator.accounts.api_keys[NEW_KEY] = USER_ID
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["title"] == "Fish Audio"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: "wrong-key"}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: NEW_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_API_KEY] == NEW_KEY
    assert entry.data[CONF_URL] == emulator.url
    assert entry.state is ConfigEntryState.LOADED


async def test_reauth_other_account(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    assert emulator.accounts.api_keys is not None
    emulator.accounts.api_keys[OTHER_KEY] = "user-0002"
    result = await setup_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: OTHER_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert setup_integration.data[CONF_API_KEY] == API_KEY


async def test_reconfigure_success(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    entry = setup_integration
    assert emulator.accounts.api_keys is not None
    emulator.accounts.api_keys[NEW_KEY] = USER_ID
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert suggested(result, CONF_URL) == emulator.url
    assert suggested(result, CONF_API_KEY) is None  # the stored key never goes to the browser

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: NEW_KEY, CONF_URL: "http://example.com"}
    )
    assert result["errors"] == {CONF_URL: "insecure_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: "wrong-key", CONF_URL: emulator.url}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: NEW_KEY, CONF_URL: emulator.url + "/"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data == {CONF_API_KEY: NEW_KEY, CONF_URL: emulator.url}
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_with_a_blank_key_keeps_the_key(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    result = await setup_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: emulator.url + "/"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert setup_integration.data == {CONF_API_KEY: API_KEY, CONF_URL: emulator.url}


async def test_reconfigure_other_account(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    assert emulator.accounts.api_keys is not None
    emulator.accounts.api_keys[OTHER_KEY] = "user-0002"
    result = await setup_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: OTHER_KEY, CONF_URL: emulator.url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert setup_integration.data[CONF_API_KEY] == API_KEY


# --- voice subentries -------------------------------------------------------------------

type Uploader = Callable[[bytes], Awaitable[str]]


@pytest.fixture
async def upload(hass: HomeAssistant, hass_client: ClientSessionGenerator) -> Uploader:
    """Upload a file the way the frontend's file selector does; return its id."""
    client = await hass_client()

    async def send(data: bytes) -> str:
        form = FormData()
        form.add_field("file", data, filename="clip.wav", content_type="audio/wav")
        response = await client.post("/api/file_upload", data=form)
        assert response.status == 200
        return str((await response.json())["file_id"])

    return send


@pytest.fixture
def media_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Home Assistant's media folder."""
    folder = tmp_path / "media"
    (folder / "voices").mkdir(parents=True)
    hass.config.media_dirs = {"local": str(folder)}
    return folder


async def start_subentry(
    hass: HomeAssistant, entry: MockConfigEntry, kind: str
) -> SubentryFlowResult:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TTS), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["library", "clone"]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": kind}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == kind
    return result


def new_subentry(entry: MockConfigEntry, before: set[str]) -> ConfigSubentry:
    (subentry_id,) = set(entry.subentries) - before
    subentry: ConfigSubentry = entry.subentries[subentry_id]
    return subentry


async def test_add_library_voice(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    entry = setup_integration
    emulator.add_voice(OWN_VOICE, owner=USER_ID)
    before = set(entry.subentries)
    result = await start_subentry(hass, entry, "library")
    assert options_of(result, CONF_REFERENCE_ID)[0]["value"] == OWN_VOICE.id

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**SETTINGS_INPUT, CONF_REFERENCE_ID: OWN_VOICE.id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    subentry = new_subentry(entry, before)
    assert subentry.title == OWN_VOICE.title
    assert dict(subentry.data) == {
        CONF_REFERENCE_ID: OWN_VOICE.id,
        CONF_TITLE: OWN_VOICE.title,
        CONF_MODEL: "s2.1-pro-free",
        CONF_LATENCY: "normal",
        CONF_FORMAT: "wav",
        CONF_SAMPLE_RATE: 16000,
        CONF_SPEED: 1.25,
        CONF_VOLUME: -3.0,
        "temperature": 0.5,
        "top_p": 0.6,
        CONF_CHUNK_LENGTH: 150,
        CONF_NORMALIZE: False,
    }
    # The entry reloaded by itself: the new voice is an entity right away.
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("tts.my_own_voice") is not None
    assert hass.states.get("tts.test_voice") is not None


async def test_library_voice_errors(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    result = await start_subentry(hass, setup_integration, "library")
    flow_id = result["flow_id"]
    voice = emulator.voices[0].id
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (
            {CONF_FORMAT: "mp3", CONF_SAMPLE_RATE: "16000"},
            {CONF_SAMPLE_RATE: "invalid_sample_rate"},
        ),
        (
            {CONF_FORMAT: "opus", CONF_SAMPLE_RATE: "44100"},
            {CONF_SAMPLE_RATE: "invalid_sample_rate"},
        ),
        ({CONF_MODEL: ""}, {CONF_MODEL: "model_required"}),
        ({VOICE_LINK: UNKNOWN_VOICE}, {VOICE_LINK: "voice_not_found"}),
    ]
    for changes, errors in cases:
        result = await hass.config_entries.subentries.async_configure(
            flow_id, {**SETTINGS_INPUT, CONF_REFERENCE_ID: voice, **changes}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors
        # The form comes back with what was entered.
        assert suggested(result, CONF_FORMAT) == changes.get(CONF_FORMAT, "wav")

    # Defaults everywhere, no sample rate: the format's default is used.
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {CONF_REFERENCE_ID: voice}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_SAMPLE_RATE not in result["data"]
    assert result["data"][CONF_MODEL] == "s2.1-pro"
    await hass.async_block_till_done()


async def test_reconfigure_library_voice(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    entry = setup_integration
    (subentry_id,) = entry.subentries
    hass.config_entries.async_update_subentry(
        entry,
        entry.subentries[subentry_id],
        data={**entry.subentries[subentry_id].data, CONF_SAMPLE_RATE: 32000, CONF_MP3_BITRATE: 64},
    )
    result = await entry.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["step_id"] == "change_library"
    assert suggested(result, CONF_SAMPLE_RATE) == "32000"
    assert suggested(result, CONF_REFERENCE_ID) == emulator.voices[0].id
    # The configured voice is offered even if no listing returns it.
    assert {"value": emulator.voices[0].id, "label": VOICE_TITLE} in options_of(
        result, CONF_REFERENCE_ID
    )

    target = emulator.voices[3]
    user_input = {**SETTINGS_INPUT, CONF_REFERENCE_ID: target.id}
    del user_input[CONF_SAMPLE_RATE]  # cleared: back to the format's default
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    subentry = entry.subentries[subentry_id]
    assert subentry.title == target.title
    assert subentry.data[CONF_REFERENCE_ID] == target.id
    assert subentry.data[CONF_TITLE] == target.title
    assert CONF_SAMPLE_RATE not in subentry.data
    assert subentry.data[CONF_MP3_BITRATE] == 64  # not on the form: kept
    assert entry.state is ConfigEntryState.LOADED


def clone_input(**changes: Any) -> dict[str, Any]:
    return {
        CONF_CLONE_TEXT: "  Hello, this is my voice.  ",
        CONF_TITLE: "My Clone",
        **SETTINGS_INPUT,
        **changes,
    }


async def test_add_clone_by_upload(
    hass: HomeAssistant,
    emulator: FishEmulator,
    setup_integration: MockConfigEntry,
    upload: Uploader,
) -> None:
    entry = setup_integration
    before = set(entry.subentries)
    audio = wav_bytes(5)
    result = await start_subentry(hass, entry, "clone")
    assert result["description_placeholders"] == {
        "min_seconds": "3",
        "max_seconds": "90",
        "max_mb": "10",
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], clone_input(clone_audio=await upload(audio))
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    subentry = new_subentry(entry, before)
    assert subentry.title == "My Clone"
    assert CONF_REFERENCE_ID not in subentry.data
    assert subentry.data[CONF_CLONE_TEXT] == "Hello, this is my voice."
    assert subentry.data[CONF_TITLE] == "My Clone"
    name = subentry.data[CONF_CLONE_FILE]
    assert name.endswith(".bin")
    assert clip_path(hass, name).read_bytes() == audio
    assert hass.states.get("tts.my_clone") is not None


async def test_add_clone_from_media_folder(
    hass: HomeAssistant,
    emulator: FishEmulator,
    setup_integration: MockConfigEntry,
    media_dir: Path,
) -> None:
    audio = b"ID3" + bytes(2000)  # an MP3 (by its tag): type and size are checked
    (media_dir / "voices" / "me.mp3").write_bytes(audio)
    before = set(setup_integration.subentries)
    result = await start_subentry(hass, setup_integration, "clone")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], clone_input(media_path=" voices/me.mp3 ")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    subentry = new_subentry(setup_integration, before)
    assert clip_path(hass, subentry.data[CONF_CLONE_FILE]).read_bytes() == audio


@pytest.mark.parametrize(
    ("audio", "field", "reason"),
    [
        (wav_bytes(1), "clone_audio", "clip_too_short"),
        (wav_bytes(91), "clone_audio", "clip_too_long"),
        (b"just some text, not audio" * 10, "clone_audio", "clip_wrong_type"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "clone_audio", "clip_unreadable"),
    ],
    ids=["too_short", "too_long", "wrong_type", "broken_wav"],
)
async def test_clone_upload_errors(
    hass: HomeAssistant,
    emulator: FishEmulator,
    setup_integration: MockConfigEntry,
    upload: Uploader,
    audio: bytes,
    field: str,
    reason: str,
) -> None:
    result = await start_subentry(hass, setup_integration, "clone")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], clone_input(clone_audio=await upload(audio))
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: reason}
    # The used upload is gone: the form asks for a file again, keeping the rest.
    assert suggested(result, "clone_audio") is None
    assert suggested(result, CONF_TITLE) == "My Clone"


async def test_clone_form_errors(
    hass: HomeAssistant,
    emulator: FishEmulator,
    setup_integration: MockConfigEntry,
    media_dir: Path,
    tmp_path: Path,
    upload: Uploader,
) -> None:
    (tmp_path / "outside.wav").write_bytes(wav_bytes(5))
    big = media_dir / "voices" / "big.wav"
    with big.open("wb") as out:  # sparse: the size alone must refuse it
        out.truncate(CLONE_MAX_BYTES + 1)
    result = await start_subentry(hass, setup_integration, "clone")
    flow_id = result["flow_id"]
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (
            {CONF_CLONE_TEXT: "   ", "media_path": "voices/big.wav"},
            {CONF_CLONE_TEXT: "clone_text_required"},
        ),
        ({CONF_TITLE: " ", "media_path": "voices/big.wav"}, {CONF_TITLE: "title_required"}),
        ({CONF_FORMAT: "opus"}, {CONF_SAMPLE_RATE: "invalid_sample_rate"}),
        ({}, {"base": "clip_required"}),
        ({"media_path": "   "}, {"base": "clip_required"}),
        ({"media_path": "voices/big.wav"}, {"media_path": "clip_too_big"}),
        ({"media_path": "voices/missing.wav"}, {"media_path": "clip_unreadable"}),
        ({"media_path": "../outside.wav"}, {"media_path": "media_path_outside"}),
        ({"media_path": str(tmp_path / "outside.wav")}, {"media_path": "media_path_outside"}),
        ({"clone_audio": "0" * 32}, {"clone_audio": "clip_unreadable"}),
    ]
    for changes, errors in cases:
        result = await hass.config_entries.subentries.async_configure(
            flow_id, clone_input(**changes)
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors, changes

    # An upload is only used once the rest is valid: after a text error it is
    # still selected, and the corrected form goes through with it.
    file_id = await upload(wav_bytes(5))
    result = await hass.config_entries.subentries.async_configure(
        flow_id, clone_input(clone_audio=file_id, clone_text="")
    )
    assert result["errors"] == {CONF_CLONE_TEXT: "clone_text_required"}
    assert suggested(result, "clone_audio") == file_id
    result = await hass.config_entries.subentries.async_configure(
        flow_id, clone_input(clone_audio=file_id)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_reconfigure_clone(
    hass: HomeAssistant,
    emulator: FishEmulator,
    setup_integration: MockConfigEntry,
    upload: Uploader,
) -> None:
    entry = setup_integration
    before = set(entry.subentries)
    result = await start_subentry(hass, entry, "clone")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], clone_input(clone_audio=await upload(wav_bytes(4)))
    )
    await hass.async_block_till_done()
    subentry = new_subentry(entry, before)
    old_name = subentry.data[CONF_CLONE_FILE]

    # Without a new clip the stored one is kept.
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    assert result["step_id"] == "change_clone"
    assert suggested(result, CONF_TITLE) == "My Clone"
    # The change form names the clip it keeps: the file name as uploaded.
    assert result["description_placeholders"]["clip"] == "clip.wav"
    assert suggested(result, CONF_SAMPLE_RATE) == "16000"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], clone_input(title="Renamed", clone_text="New words")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    subentry = entry.subentries[subentry.subentry_id]
    assert subentry.title == "Renamed"
    assert subentry.data[CONF_CLONE_FILE] == old_name
    assert subentry.data[CONF_CLONE_TEXT] == "New words"

    # A new clip replaces the old one, whose file is deleted.
    new_audio = wav_bytes(6)
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], clone_input(clone_audio=await upload(new_audio))
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    new_name = entry.subentries[subentry.subentry_id].data[CONF_CLONE_FILE]
    assert new_name != old_name
    assert clip_path(hass, new_name).read_bytes() == new_audio
    assert not clip_path(hass, old_name).exists()
    assert entry.state is ConfigEntryState.LOADED


async def test_abandoned_first_flow_does_not_lock_the_account_out(
    hass: HomeAssistant, emulator: FishEmulator, tts_ready: None
) -> None:
    # The tab was closed at "Choose the first voice": that flow stays open.
    stale = await to_voice_step(hass, emulator)
    # Adding the integration again works, through to a created entry.
    result = await to_voice_step(hass, emulator)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REFERENCE_ID: emulator.voices[0].id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    # HA ended the stale flow: nothing is left in progress.
    assert stale["flow_id"] not in {
        flow["flow_id"] for flow in hass.config_entries.flow.async_progress()
    }


async def test_entry_titles_tell_accounts_apart(
    hass: HomeAssistant, emulator: FishEmulator, tts_ready: None
) -> None:
    result = await to_voice_step(hass, emulator)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REFERENCE_ID: emulator.voices[0].id}
    )
    assert result["title"].endswith(f"key …{API_KEY[-4:]})")
    assert f"127.0.0.1:{emulator.port}" in result["title"]


async def test_a_url_without_scheme_is_told_so(hass: HomeAssistant, emulator: FishEmulator) -> None:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: f"127.0.0.1:{emulator.port}"}
    )
    assert result["errors"] == {CONF_URL: "missing_scheme"}


async def test_a_bad_voice_link_is_called_a_bad_link(
    hass: HomeAssistant, emulator: FishEmulator
) -> None:
    result = await to_voice_step(hass, emulator)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {VOICE_LINK: "https://fish.audio/m/not-a-voice/"}
    )
    assert result["errors"] == {VOICE_LINK: "invalid_voice_link"}


async def test_change_library_voice_form_is_a_change_form(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    entry = setup_integration
    (subentry_id,) = entry.subentries
    result = await entry.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["step_id"] == "change_library"
    strings = json.loads(
        (
            Path(__file__).parents[1] / "custom_components/fish_audio_live/translations/en.json"
        ).read_text(encoding="utf-8")
    )["config_subentries"][SUBENTRY_TTS]["step"]
    assert strings["change_library"]["title"].startswith("Change")
    assert strings["change_clone"]["title"].startswith("Change")
    assert "{clip}" in strings["change_clone"]["description"]


# --- what the user reads and picks ------------------------------------------------------


def entity(voice_id: str, title: str, **fields: Any) -> dict[str, Any]:
    """A ModelEntity as Fish's REST API sends it."""
    return {
        "_id": voice_id,
        "type": "tts",
        "state": "trained",
        "title": title,
        "languages": ["en"],
        "visibility": "private",
        **fields,
    }


def second_account(emulator: FishEmulator) -> str:
    """A key of another account, which can be set up beside the fixture's."""
    assert emulator.accounts.api_keys is not None
    emulator.accounts.api_keys[OTHER_KEY] = "user-0002"
    return OTHER_KEY


def select_config(result: Mapping[str, Any], field: str) -> tuple[Any, dict[str, Any]]:
    """The schema key and the selector config of a select field."""
    for key, selector in result["data_schema"].schema.items():
        if key == field:
            return key, dict(selector.config)
    raise AssertionError(f"no field {field}")


def assert_our_abort(result: Mapping[str, Any], section: Mapping[str, Any], reason: str) -> None:
    """The flow ended with our own reason and text, not Home Assistant's generic one."""
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert result.get("translation_domain") is None  # None: the integration's strings
    assert reason in section["abort"]


async def test_voice_picker_shows_names_and_only_voices_that_speak(
    hass: HomeAssistant, emulator: FishEmulator, tts_ready: None
) -> None:
    long_text = "A very long description of this voice, " * 4
    listing = {
        "total": 5,
        "items": [
            entity("a" * 32, "Still Training", state="training"),
            entity("b" * 32, "Voice Changer", type="svc"),
            entity("c" * 32, "Broken", state="failed"),
            entity("d" * 32, "Ready", languages=["en", "de"], description=long_text),
            entity("e" * 32, "Created", state="created"),
        ],
    }
    # Both listings (own and public) get this answer from the server.
    emulator.add_rest_fault("/model", 200, json.dumps(listing), times=2)
    result = await to_voice_step(hass, emulator)
    _, config = select_config(result, CONF_REFERENCE_ID)
    assert config["custom_value"] is False  # a typed value would show as a bare id
    (option,) = config["options"]
    assert option["value"] == "d" * 32
    assert option["label"].startswith("Ready (en, de; your voice): A very long description")
    assert option["label"].endswith("…")
    assert len(option["label"]) < 100
    assert suggested(result, CONF_REFERENCE_ID) == "d" * 32  # the own first voice
    hass.config_entries.flow.async_abort(result["flow_id"])

    # The public library, as a new account sees it: names, languages, descriptions.
    result = await to_voice_step(hass, emulator)
    labels = [option["label"] for option in options_of(result, CONF_REFERENCE_ID)]
    assert labels[0] == "温柔女声 (zh): Gentle Mandarin female voice."
    assert "Calm Narrator (en): Warm, slow storytelling voice." in labels
    assert not any(label == voice.id for label in labels for voice in emulator.voices)


async def test_nothing_is_preselected_that_the_user_did_not_choose(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    # No own voices: the picker starts empty, and is optional so that the
    # frontend does not fill in its first option by itself.
    result = await to_voice_step(hass, emulator, second_account(emulator))
    key, _ = select_config(result, CONF_REFERENCE_ID)
    assert isinstance(key, vol.Optional)
    assert suggested(result, CONF_REFERENCE_ID) is None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {CONF_REFERENCE_ID: "voice_required"}
    assert suggested(result, CONF_REFERENCE_ID) is None

    result = await start_subentry(hass, setup_integration, "library")
    assert suggested(result, CONF_REFERENCE_ID) is None
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], dict(SETTINGS_INPUT)
    )
    assert result["errors"] == {CONF_REFERENCE_ID: "voice_required"}

    # With an own voice, that one is pre-selected when adding a voice.
    emulator.add_voice(OWN_VOICE, owner=USER_ID)
    result = await start_subentry(hass, setup_integration, "library")
    assert suggested(result, CONF_REFERENCE_ID) == OWN_VOICE.id


async def test_a_pasted_voice_that_cannot_speak_is_refused(
    hass: HomeAssistant, emulator: FishEmulator, tts_ready: None
) -> None:
    voice_id = "a" * 32
    emulator.add_rest_fault(
        f"/model/{voice_id}", 200, json.dumps(entity(voice_id, "Half Done", state="training"))
    )
    result = await to_voice_step(hass, emulator)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {VOICE_LINK: f"https://fish.audio/m/{voice_id}"}
    )
    assert result["errors"] == {VOICE_LINK: "voice_not_ready"}


async def test_unknown_model_is_confirmed_before_use(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    voice = emulator.voices[0].id
    # Fish would speak a misspelt model as s2.1-pro and bill that: ask once.
    result = await to_voice_step(hass, emulator, second_account(emulator))
    flow_id = result["flow_id"]
    for model in ("s2.1-pr0", "s9"):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_REFERENCE_ID: voice, CONF_MODEL: model}
        )
        assert result["errors"] == {CONF_MODEL: "unknown_model"}
        assert suggested(result, CONF_MODEL) == model
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_REFERENCE_ID: voice, CONF_MODEL: " s9 "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = result["result"].subentries.values()
    assert subentry.data[CONF_MODEL] == "s9"
    await hass.async_block_till_done()

    # A voice form too; a known model is never questioned.
    result = await start_subentry(hass, setup_integration, "library")
    user_input = {**SETTINGS_INPUT, CONF_REFERENCE_ID: voice, CONF_MODEL: "s3-turbo"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    assert result["errors"] == {CONF_MODEL: "unknown_model"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_MODEL] == "s3-turbo"
    await hass.async_block_till_done()


@pytest.mark.parametrize("model", ["s1", "s1-mini", "speech-1.5", "speech-1.6"])
async def test_new_voices_cannot_pick_a_retired_model(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry, model: str
) -> None:
    """Retired names are refused outright, not just confirmed: Fish re-routes them."""
    voice = emulator.voices[0].id
    result = await to_voice_step(hass, emulator, second_account(emulator))
    for _ in range(2):  # submitting again does not make it acceptable
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_REFERENCE_ID: voice, CONF_MODEL: model}
        )
        assert result["errors"] == {CONF_MODEL: "retired_model"}
    result = await start_subentry(hass, setup_integration, "library")
    user_input = {**SETTINGS_INPUT, CONF_REFERENCE_ID: voice, CONF_MODEL: model}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    assert result["errors"] == {CONF_MODEL: "retired_model"}


async def test_reconfigure_after_an_error_keeps_the_typed_key(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    entry = setup_integration
    assert emulator.accounts.api_keys is not None
    emulator.accounts.api_keys[NEW_KEY] = USER_ID
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: NEW_KEY, CONF_URL: closed_port_url()}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    # The new key comes back as typed (the stored one never does).
    assert suggested(result, CONF_API_KEY) == NEW_KEY
    assert suggested(result, CONF_API_KEY) != API_KEY

    # The user fixes only the URL; the browser resubmits the key it shows.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: suggested(result, CONF_API_KEY), CONF_URL: emulator.url}
    )
    assert_our_abort(result, TRANSLATIONS["config"], "reconfigure_successful")
    await hass.async_block_till_done()
    assert entry.data[CONF_API_KEY] == NEW_KEY


async def test_flow_endings_name_our_own_reasons(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    entry = setup_integration
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY}
    )
    assert_our_abort(result, TRANSLATIONS["config"], "reauth_successful")
    await hass.async_block_till_done()

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: emulator.url}
    )
    assert_our_abort(result, TRANSLATIONS["config"], "reconfigure_successful")
    await hass.async_block_till_done()

    (subentry_id,) = entry.subentries
    result = await entry.start_subentry_reconfigure_flow(hass, subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**SETTINGS_INPUT, CONF_REFERENCE_ID: emulator.voices[0].id}
    )
    tts = TRANSLATIONS["config_subentries"][SUBENTRY_TTS]
    assert_our_abort(result, tts, "reconfigure_successful")
    assert tts["abort"]["reconfigure_successful"] == "The voice was updated."
    await hass.async_block_till_done()


# --- translations ------------------------------------------------------------------------

TRANSLATIONS = json.loads(
    (
        Path(__file__).parent.parent / "custom_components/fish_audio_live/translations/en.json"
    ).read_text()
)


def assert_translated(result: Mapping[str, Any], steps: Mapping[str, Any]) -> None:
    """Every field of a shown form has a label and a description; select options too."""
    step = steps[result["step_id"]]
    for key, selector in result["data_schema"].schema.items():
        assert str(key) in step["data"], key
        assert str(key) in step["data_description"], key
        translation_key = getattr(selector, "config", {}).get("translation_key")
        if translation_key:
            labels = TRANSLATIONS["selector"][translation_key]["options"]
            assert set(selector.config["options"]) <= set(labels), translation_key


async def test_every_form_is_translated(
    hass: HomeAssistant, emulator: FishEmulator, setup_integration: MockConfigEntry
) -> None:
    config_steps = TRANSLATIONS["config"]["step"]
    tts = TRANSLATIONS["config_subentries"]["tts"]
    assert_translated(await start_user_flow(hass), config_steps)
    emulator.accounts.api_keys["sk-second"] = "user-0002"  # type: ignore[index]
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: "sk-second", CONF_URL: emulator.url}
    )
    assert_translated(result, config_steps)
    assert_translated(await setup_integration.start_reauth_flow(hass), config_steps)
    assert_translated(await setup_integration.start_reconfigure_flow(hass), config_steps)

    result = await hass.config_entries.subentries.async_init(
        (setup_integration.entry_id, SUBENTRY_TTS), context={"source": SOURCE_USER}
    )
    assert set(result["menu_options"]) == set(tts["step"]["user"]["menu_options"])
    for kind in ("library", "clone"):
        assert_translated(await start_subentry(hass, setup_integration, kind), tts["step"])


# --- clip checks (HA-free helper) -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (wav_bytes(0.1), "wav"),
        (b"ID3\x04rest", "mp3"),
        (b"\xff\xfb\x90\x00", "mp3"),
        (b"fLaC\x00\x00", "flac"),
        (b"OggS\x00\x02", "ogg"),
        (b"\xff", None),
        (b"\xff\x00", None),
        (b"RIFF\x00\x00\x00\x00AVI ", None),
        (b"", None),
    ],
    ids=["wav", "id3", "mpeg_sync", "flac", "ogg", "one_byte", "no_sync", "avi", "empty"],
)
def test_clip_kind(data: bytes, kind: str | None) -> None:
    assert clip_kind(data) == kind


def riff(*chunks: tuple[bytes, bytes], declared: dict[bytes, int] | None = None) -> bytes:
    body = b"WAVE"
    for chunk_id, payload in chunks:
        size = (declared or {}).get(chunk_id, len(payload))
        body += chunk_id + struct.pack("<I", size) + payload + b"\x00" * (len(payload) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


FMT_16K = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)


def test_wav_duration_reads_chunks() -> None:
    # An odd-sized chunk before the data is padded; the data size is exact.
    data = riff((b"LIST", b"abc"), (b"fmt ", FMT_16K), (b"data", bytes(64000)))
    assert wav_duration(data) == 2.0
    # A streamed WAV's placeholder size is capped at the bytes present.
    streamed = riff((b"fmt ", FMT_16K), (b"data", bytes(32000)), declared={b"data": 0xFFFFFFFF})
    assert wav_duration(streamed) == 1.0
    # Float WAVs (format 3) count too: only the byte rate matters.
    float_fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    assert wav_duration(riff((b"fmt ", float_fmt), (b"data", bytes(32000)))) == 1.0


@pytest.mark.parametrize(
    "data",
    [
        riff((b"data", bytes(100))),  # no fmt before data
        riff((b"fmt ", struct.pack("<HHIIHH", 1, 1, 16000, 0, 2, 16)), (b"data", bytes(10))),
        riff((b"fmt ", b"short"), (b"data", bytes(10))),
        riff((b"fmt ", FMT_16K)),  # no data chunk
        riff((b"fmt ", FMT_16K))[:30],  # cut inside the fmt chunk
    ],
    ids=["no_fmt", "zero_byte_rate", "short_fmt", "no_data", "truncated"],
)
def test_wav_duration_unreadable(data: bytes) -> None:
    with pytest.raises(ClipError) as err:
        wav_duration(data)
    assert err.value.reason == "clip_unreadable"


def test_check_clip() -> None:
    assert check_clip(wav_bytes(3)) == "wav"
    assert check_clip(b"OggS" + bytes(100)) == "ogg"
    for data, max_bytes, reason in [
        (b"", CLONE_MAX_BYTES, "clip_unreadable"),
        (b"OggS" + bytes(100), 50, "clip_too_big"),
    ]:
        with pytest.raises(ClipError) as err:
            check_clip(data, max_bytes)
        assert err.value.reason == reason


def test_read_clip_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ClipError) as err:
        read_clip(tmp_path / "nope.wav")
    assert err.value.reason == "clip_unreadable"


def test_resolve_media_path_across_folders(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "clip.wav").write_bytes(b"x")
    (tmp_path / "secret.wav").write_bytes(b"x")
    (first / "link.wav").symlink_to(tmp_path / "secret.wav")
    expected = (second / "clip.wav").resolve()
    assert resolve_media_path([str(first), str(second)], "clip.wav") == expected
    assert resolve_media_path([str(first), str(second)], str(second / "clip.wav")) == expected
    for raw in ("link.wav", "../secret.wav"):
        with pytest.raises(ClipError) as err:
            resolve_media_path([str(first)], raw)
        assert err.value.reason == "media_path_outside"
