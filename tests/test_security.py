"""Security: the API key stays secret, the server URL is checked, message text stays out of logs.

* The key is in no log line (any logger, any level), no error a caller sees (chained
  causes included), no diagnostics, no URL; it goes only to the configured server,
  only in the Authorization header.
* The server URL is https, or plain http only for loopback and private-network
  hosts; anything else is refused in the flow before any connection.
* Message text is not logged above DEBUG, and at DEBUG at most a short prefix.
  Home Assistant's own tts component logs ``Error getting audio for <first 32
  characters>…`` at ERROR when a synthesis fails (``[Streaming TTS]`` for streamed
  messages): that is core's behaviour, documented by a test here, not ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
import json
import logging
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live.const import CONF_URL, DOMAIN
from custom_components.fish_audio_live.diagnostics import async_get_config_entry_diagnostics
from custom_components.fish_audio_live.fishaudio.urls import UnsafeUrlError, normalize_url
from tests.bounds import TEST_RETRY_DELAYS, TEST_TIMEOUTS
from tests.conftest import API_KEY
from tests.emulator import Fault, FishEmulator
from tests.test_faults import (
    MESSAGE,
    ONE_SHOT,
    PATHS,
    STREAMED,
    speak,
    speak_error,
)

INTEGRATION_LOGGER = "custom_components.fish_audio_live"
SECRET = API_KEY.removeprefix("sk-")  # any long part of the key is as bad as the whole
MAX_LOGGED_TEXT = 40


@dataclass
class HttpCalls:
    """Every request Home Assistant's aiohttp sessions made: URL, query and headers."""

    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every logger at DEBUG, from the start of each test (setup included)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=INTEGRATION_LOGGER)


@pytest.fixture(autouse=True)
def http_calls() -> Iterator[HttpCalls]:
    """Record every outgoing HTTP and WebSocket request, from the start of each test."""
    seen = HttpCalls()
    original = aiohttp.ClientSession._request

    async def spy(
        self: aiohttp.ClientSession, method: str, str_or_url: Any, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        query = json.dumps(kwargs.get("params"), default=str)
        headers = {str(name): str(value) for name, value in (kwargs.get("headers") or {}).items()}
        seen.calls.append((str(str_or_url), query, headers))
        return await original(self, method, str_or_url, **kwargs)

    with (
        patch.object(aiohttp.ClientSession, "_request", spy),
        patch("custom_components.fish_audio_live.fishaudio.client.RETRY_DELAYS", TEST_RETRY_DELAYS),
    ):
        yield seen


def log_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records of the setup and call phases of the running test."""
    return [*caplog.get_records("setup"), *caplog.get_records("call")]


def full_text(record: logging.LogRecord) -> str:
    """A record as a handler would write it, traceback included."""
    return logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)


def error_chain(err: BaseException) -> list[BaseException]:
    """``err`` and every exception it was raised from or during."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [err]
    while pending:
        current = pending.pop()
        if current is None or current in chain:
            continue
        chain.append(current)
        pending.extend((current.__cause__, current.__context__))
    return chain


def assert_no_key(text: str, where: str) -> None:
    assert SECRET not in text, f"API key found in {where}: {text[:300]!r}"


def assert_key_only_in_authorization(calls: HttpCalls, emulator: FishEmulator) -> None:
    """Every request went to the configured server; the key only in Authorization."""
    assert calls.calls
    server = emulator.url.removeprefix("http://")
    for url, query, headers in calls.calls:
        assert url.split("://", 1)[1].startswith(server + "/"), url
        assert_no_key(url + query, "a request URL")
        for name, value in headers.items():
            if name.lower() == "authorization":
                assert value == f"Bearer {API_KEY}"
            else:
                assert_no_key(value, f"header {name}")
    for path in emulator.rest_calls:
        assert_no_key(path, "a REST path")
    for record in emulator.sessions:
        assert record.headers["authorization"] == f"Bearer {API_KEY}"
        for name, value in record.headers.items():
            if name != "authorization":
                assert_no_key(value, f"handshake header {name}")


# ----- the API key ------------------------------------------------------------


async def test_api_key_stays_secret(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
    http_calls: HttpCalls,
) -> None:
    """Setup, synthesis, 401/402/500 failures, a failed setup and reauth: the key never shows."""
    errors: list[BaseException] = []
    for path in PATHS:
        assert await speak(hass, path, MESSAGE)
        for status in (401, 402, 500):
            emulator.add_fault(Fault("handshake_status", status=status, sticky=True))
            errors.append(await speak_error(hass, path, f"{MESSAGE} {status}"))
            emulator.clear_faults()
        for fault in (Fault("finish_error", message="boom"), Fault("malformed", phase="mid_audio")):
            emulator.add_fault(fault)
            errors.append(await speak_error(hass, path, f"{MESSAGE} {fault.kind}"))
    # The key is rejected at setup: ConfigEntryAuthFailed, then reauth with a working key.
    emulator.add_rest_fault("/wallet/self/api-credit", 401, body="Unauthorized", times=1)
    assert not await hass.config_entries.async_reload(loaded.entry_id)
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.SETUP_ERROR
    flows = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]
    assert flows
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_API_KEY: API_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.LOADED
    loaded.runtime_data.client.timeouts = TEST_TIMEOUTS
    assert await speak(hass, ONE_SHOT, "After reauth.")

    for err in errors:
        for link in error_chain(err):
            assert_no_key(f"{link} {link!r} {link.args!r}", f"error {type(link).__name__}")
    records = log_lines(caplog)
    assert any(r.levelno == logging.DEBUG for r in records)
    for record in records:
        assert_no_key(full_text(record), f"log line of {record.name}")
    diagnostics = await async_get_config_entry_diagnostics(hass, loaded)
    assert_no_key(json.dumps(diagnostics, default=str), "diagnostics")
    assert diagnostics["sessions"]["recent"]
    assert_key_only_in_authorization(http_calls, emulator)
    await emulator.wait_all_closed()


# ----- the server URL ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://api.fish.audio", "https://api.fish.audio"),
        ("https://API.Fish.Audio/", "https://api.fish.audio"),
        ("https://tts.example.com:8443/fish", "https://tts.example.com:8443/fish"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://192.168.1.20:8080", "http://192.168.1.20:8080"),
        ("http://10.0.0.5", "http://10.0.0.5"),
        ("http://172.16.4.2", "http://172.16.4.2"),
        ("http://169.254.10.10", "http://169.254.10.10"),
        ("http://[fd00::5]:8080", "http://[fd00::5]:8080"),
        ("http://fish.local:8080", "http://fish.local:8080"),
    ],
)
def test_server_url_accepted(url: str, normalized: str) -> None:
    """https anywhere; plain http only on loopback and private networks."""
    assert normalize_url(url) == normalized


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api.fish.audio", "insecure_url"),
        ("http://8.8.8.8", "insecure_url"),
        ("http://100.64.0.1", "insecure_url"),  # carrier-grade NAT: not your network
        ("http://[2606:4700:4700::1111]", "insecure_url"),
        ("http://[::ffff:8.8.8.8]", "insecure_url"),
        ("http://localhost.example.com", "insecure_url"),
        ("http://127.0.0.1.nip.io", "insecure_url"),
        ("http://2130706433", "insecure_url"),  # 127.0.0.1 as an integer: not taken as local
        ("ws://127.0.0.1", "invalid_url"),
        ("ftp://api.fish.audio", "invalid_url"),
        ("api.fish.audio", "invalid_url"),
        ("https://", "invalid_url"),
        ("https://user:secret@api.fish.audio", "invalid_url"),
        ("https://127.0.0.1@evil.example", "invalid_url"),
        ("https://api.fish.audio/?key=x", "invalid_url"),
        ("https://api.fish.audio/#x", "invalid_url"),
        ("https://api.fish.audio:99999", "invalid_url"),
    ],
)
def test_server_url_refused(url: str, reason: str) -> None:
    """Anything else is refused with a reason the form can show."""
    with pytest.raises(UnsafeUrlError) as info:
        normalize_url(url)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api.fish.audio", "insecure_url"),
        ("http://8.8.8.8:80", "insecure_url"),
        ("ftp://api.fish.audio", "invalid_url"),
        ("https://user:secret@api.fish.audio", "invalid_url"),
    ],
)
async def test_flow_refuses_unsafe_url_before_connecting(
    hass: HomeAssistant, http_calls: HttpCalls, url: str, reason: str
) -> None:
    """The form says why, and the key is sent nowhere."""
    assert await async_setup_component(hass, "tts", {})
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: reason}
    assert http_calls.calls == []
    assert hass.config_entries.async_entries(DOMAIN) == []
    hass.config_entries.flow.async_abort(result["flow_id"])


# ----- message text in logs -----------------------------------------------------

SECRET_MESSAGE = (
    "Remind Quokkazebra Forty-Two that the garage code is 7 3 1 9, "
    "and that the spare key is under the blue flower pot by the door."
)


def longest_logged_part(text: str, message: str) -> int:
    """Length of the longest piece of ``message`` that appears in ``text``."""
    longest = 0
    for begin in range(len(message)):
        size = longest + 1
        while begin + size <= len(message) and message[begin : begin + size] in text:
            longest = size
            size += 1
    return longest


@pytest.mark.parametrize("path", PATHS)
async def test_message_text_not_logged(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    """Ours: nothing of the text above DEBUG, at most a short prefix at DEBUG."""
    message = SECRET_MESSAGE if path == ONE_SHOT else SECRET_MESSAGE.split(" ")
    spoken = [f"{word} " for word in SECRET_MESSAGE.split(" ")]
    assert await speak(hass, path, message if path == ONE_SHOT else spoken)
    for fault in (
        Fault("handshake_status", status=500, sticky=True),
        Fault("finish_error", message="cannot read this text"),
        Fault("malformed", phase="mid_audio"),
        Fault("stall", phase="mid_audio"),
    ):
        emulator.add_fault(fault)
        await speak_error(hass, path, [f"{fault.kind}: ", *spoken])
        emulator.clear_faults()
    ours = [r for r in log_lines(caplog) if r.name.startswith(INTEGRATION_LOGGER)]
    assert any(r.levelno == logging.DEBUG for r in ours)
    for record in ours:
        logged = longest_logged_part(full_text(record), SECRET_MESSAGE)
        if record.levelno > logging.DEBUG:
            assert logged < 8, f"message text logged at {record.levelname}: {record.getMessage()}"
        else:
            assert logged <= MAX_LOGGED_TEXT, record.getMessage()
    await emulator.wait_all_closed()


async def test_home_assistant_core_logs_a_prefix_on_failure(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    emulator: FishEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Documents core's behaviour: the tts component logs 32 characters of a failed message."""
    emulator.add_fault(Fault("handshake_status", status=500, sticky=True))
    await speak_error(hass, ONE_SHOT, SECRET_MESSAGE)
    await speak_error(hass, STREAMED, SECRET_MESSAGE.split(" "))
    emulator.clear_faults()
    await hass.async_block_till_done()
    core = [
        r.getMessage()
        for r in caplog.get_records("call")
        if r.name == "homeassistant.components.tts" and r.levelno == logging.ERROR
    ]
    assert f"Error getting audio for {SECRET_MESSAGE[:32]}…: " in core[0]
    assert "[Streaming TTS]" in core[1]
    for line in core:
        assert longest_logged_part(line, SECRET_MESSAGE) <= 32
    await emulator.wait_all_closed()


async def test_wrong_key_in_flow_is_not_logged(
    hass: HomeAssistant, emulator: FishEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejected key typed into the form appears nowhere either."""
    assert await async_setup_component(hass, "tts", {})
    wrong = "sk-wrong-" + "f" * 32
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: wrong, CONF_URL: emulator.url}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    for record in log_lines(caplog):
        assert "f" * 32 not in full_text(record)
    hass.config_entries.flow.async_abort(result["flow_id"])
