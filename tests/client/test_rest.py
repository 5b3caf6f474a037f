"""The REST client (account check, voice library) against the emulator, over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from custom_components.fish_audio_live.fishaudio import rest as rest_module
from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.fishaudio.errors import (
    AuthenticationError,
    CannotConnectError,
    FishAudioError,
    InsufficientCreditError,
    InvalidRequestError,
    InvalidResponseError,
    RateLimitError,
    ServerError,
    VoiceNotFoundError,
)
from custom_components.fish_audio_live.fishaudio.rest import Account, RestApi, Voice
from tests.conftest import API_KEY, USER_ID
from tests.emulator import FishEmulator, Voice as EmulatorVoice

CREDIT_PATH = "/wallet/self/api-credit"
OWN_ID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture
def api(http: aiohttp.ClientSession, emulator: FishEmulator) -> RestApi:
    """The REST API of a client pointed at the emulator."""
    return FishAudioClient(http, API_KEY, emulator.url + "/").rest


def last_query(emulator: FishEmulator) -> dict[str, list[str]]:
    """Query parameters of the last REST call the emulator saw."""
    return parse_qs(urlsplit(emulator.rest_calls[-1].split(" ", 1)[1]).query)


# ----- account -----------------------------------------------------------------------


async def test_account(api: RestApi, emulator: FishEmulator) -> None:
    account = await api.account()
    assert account == Account(user_id=USER_ID, credit="10.0")
    assert account.has_credit
    assert emulator.rest_calls == [f"GET {CREDIT_PATH}"]
    assert emulator.violations == []


@pytest.mark.parametrize(
    ("credit", "has_credit"),
    [("0", False), ("0.00", False), ("-1.5", False), ("0.01", True), ("not a number", True)],
)
async def test_account_credit(
    api: RestApi, emulator: FishEmulator, credit: str, has_credit: bool
) -> None:
    emulator.credit = {USER_ID: credit}
    account = await api.account()
    assert account.credit == credit
    assert account.has_credit is has_credit


async def test_account_bad_key_with_plain_text_body(
    http: aiohttp.ClientSession, emulator: FishEmulator
) -> None:
    api = RestApi(http, emulator.url, "sk-not-a-known-key")
    with pytest.raises(AuthenticationError) as info:
        await api.account()
    assert info.value.status == 401
    assert info.value.message == "Unauthorized: invalid API key"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequestError),
        (402, InsufficientCreditError),
        (403, AuthenticationError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, InvalidResponseError),
    ],
)
async def test_account_error_statuses(
    api: RestApi, emulator: FishEmulator, status: int, error: type[FishAudioError]
) -> None:
    emulator.add_rest_fault(CREDIT_PATH, status)
    with pytest.raises(error) as info:
        await api.account()
    assert info.value.status == status
    assert info.value.message  # the JSON message, e.g. "Service Unavailable"
    if status == 429:
        assert isinstance(info.value, RateLimitError)
        assert info.value.retry_after is None


async def test_error_message_from_json_or_text(api: RestApi, emulator: FishEmulator) -> None:
    emulator.add_rest_fault(CREDIT_PATH, 503, json.dumps({"status": 503, "message": "busy"}))
    with pytest.raises(ServerError, match=r"^busy$"):
        await api.account()
    emulator.add_rest_fault(CREDIT_PATH, 503, json.dumps({"detail": "no message key"}))
    with pytest.raises(ServerError, match="detail"):
        await api.account()
    emulator.add_rest_fault(CREDIT_PATH, 503, json.dumps(["a", "list"]))
    with pytest.raises(ServerError, match="list"):
        await api.account()
    emulator.add_rest_fault(CREDIT_PATH, 502, "  <html>Bad gateway</html>  ", "text/html")
    with pytest.raises(ServerError, match=r"^<html>Bad gateway</html>$"):
        await api.account()
    emulator.add_rest_fault(CREDIT_PATH, 500, "x" * 500, "text/plain")
    with pytest.raises(ServerError) as info:
        await api.account()
    assert len(info.value.message) == 200


def test_retry_after_header_parsing() -> None:
    assert rest_module._retry_after({"Retry-After": "3"}) == 3.0
    assert rest_module._retry_after({"Retry-After": "1.5"}) == 1.5
    assert rest_module._retry_after({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert rest_module._retry_after({}) is None


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<!doctype html><html><body>Router login</body></html>", "text/html"),
        ("", "application/json"),
        ("[1, 2, 3]", "application/json"),
        ('"just a string"', "application/json"),
        ("null", "application/json"),
    ],
)
async def test_answer_that_is_not_a_json_object(
    api: RestApi, emulator: FishEmulator, body: str, content_type: str
) -> None:
    emulator.add_rest_fault(CREDIT_PATH, 200, body, content_type)
    with pytest.raises(InvalidResponseError):
        await api.account()


@pytest.mark.parametrize(
    "body",
    [{"credit": "1.0"}, {"user_id": "u"}, {}],
)
async def test_account_record_shape(api: RestApi, emulator: FishEmulator, body: Any) -> None:
    emulator.add_rest_fault(CREDIT_PATH, 200, json.dumps(body))
    with pytest.raises(InvalidResponseError, match="account"):
        await api.account()


async def test_undecodable_body(api: RestApi, emulator: FishEmulator) -> None:
    emulator.add_rest_fault(CREDIT_PATH, 200, '{"user_id": "é"}', "application/json; charset=ascii")
    with pytest.raises(InvalidResponseError):
        await api.account()


async def test_unreachable_server(http: aiohttp.ClientSession, socket_enabled: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = RestApi(http, f"http://127.0.0.1:{port}", API_KEY)
    with pytest.raises(CannotConnectError):
        await api.account()


async def test_server_that_never_answers(
    http: aiohttp.ClientSession, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rest_module, "REST_TIMEOUT", 0.1)
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        api = RestApi(http, f"http://127.0.0.1:{port}", API_KEY)
        async with asyncio.timeout(5):
            with pytest.raises(CannotConnectError, match="timed out"):
                await api.account()
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# ----- voices --------------------------------------------------------------------------


async def test_public_voices_default_listing(api: RestApi, emulator: FishEmulator) -> None:
    page = await api.voices()
    assert page.total == len(emulator.voices)
    assert len(page.items) == len(emulator.voices)
    assert last_query(emulator) == {
        "self": ["false"],
        "sort_by": ["score"],
        "page_size": ["20"],
        "page_number": ["1"],
    }
    by_id = {voice.id: voice for voice in page.items}
    calm = by_id["47afa85688b3925981fe9bd850d0d5aa"]
    assert calm == Voice(
        id="47afa85688b3925981fe9bd850d0d5aa",
        title="Calm Narrator",
        languages=("en",),
        author="Fish Audio",
        state="trained",
        visibility="public",
        task_count=420_000,
        type="tts",
        description="Warm, slow storytelling voice.",
    )
    assert calm.can_speak
    # score order: most liked first
    assert page.items[0].title == "Anime Girl"
    assert emulator.violations == []


async def test_own_voices_only_with_self(api: RestApi, emulator: FishEmulator) -> None:
    emulator.add_voice(EmulatorVoice(OWN_ID, "My Clone", ["en"], visibility="private"), USER_ID)
    emulator.add_voice(EmulatorVoice("b" * 32, "Someone Else's", ["en"]), "user-0002")
    own = await api.voices(own=True)
    assert [voice.id for voice in own.items] == [OWN_ID]
    assert own.total == 1
    assert own.items[0].visibility == "private"
    assert last_query(emulator)["self"] == ["true"]
    public = await api.voices()
    assert OWN_ID not in {voice.id for voice in public.items}
    assert "b" * 32 not in {voice.id for voice in public.items}
    # One's own voice can be looked up directly, another user's cannot.
    assert (await api.voice(OWN_ID)).title == "My Clone"
    with pytest.raises(VoiceNotFoundError):
        await api.voice("b" * 32)


async def test_voice_filters_sort_and_paging(api: RestApi, emulator: FishEmulator) -> None:
    titled = await api.voices(title="narrator")
    assert [voice.title for voice in titled.items] == ["Calm Narrator"]
    assert last_query(emulator)["title"] == ["narrator"]

    french = await api.voices(language="fr")
    assert [voice.title for voice in french.items] == ["Voix Française"]
    assert last_query(emulator)["language"] == ["fr"]

    by_tasks = await api.voices(sort_by="task_count")
    counts = [voice.task_count for voice in by_tasks.items]
    assert counts == sorted(counts, reverse=True)
    assert last_query(emulator)["sort_by"] == ["task_count"]

    newest = await api.voices(sort_by="created_at")
    assert newest.items[0].title == "Deutscher Sprecher"

    everything = await api.voices(page_size=100)
    page_two = await api.voices(page_size=2, page_number=2)
    assert page_two.total == everything.total == 6
    assert page_two.items == everything.items[2:4]
    assert last_query(emulator)["page_size"] == ["2"]
    assert last_query(emulator)["page_number"] == ["2"]
    beyond = await api.voices(page_size=10, page_number=9)
    assert beyond.items == ()
    assert beyond.total == 6
    assert emulator.violations == []


async def test_one_voice(api: RestApi, emulator: FishEmulator) -> None:
    voice = await api.voice("df1e643903c5a57e157e361b2e567eee")
    assert voice.title == "Anime Girl"
    assert voice.languages == ("ja", "en")
    assert voice.author == "Fish Audio"
    assert emulator.rest_calls[-1] == "GET /model/df1e643903c5a57e157e361b2e567eee"


async def test_unknown_voice(api: RestApi) -> None:
    with pytest.raises(VoiceNotFoundError) as info:
        await api.voice("0" * 32)
    assert info.value.status == 404
    assert info.value.message == "Model not found"


async def test_voice_listing_bad_key(http: aiohttp.ClientSession, emulator: FishEmulator) -> None:
    api = RestApi(http, emulator.url, "sk-not-a-known-key")
    with pytest.raises(AuthenticationError, match="Invalid API key"):
        await api.voices()


async def test_voice_listing_server_error(api: RestApi, emulator: FishEmulator) -> None:
    emulator.add_rest_fault("/model", 503)
    with pytest.raises(ServerError):
        await api.voices()


def entity(**changes: Any) -> dict[str, Any]:
    """A minimal ModelEntity with some fields changed (None removes one)."""
    record: dict[str, Any] = {"_id": OWN_ID, "title": "T", "author": {"nickname": "N"}}
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


@pytest.mark.parametrize(
    "body",
    [
        {"total": 1},
        {"total": 1, "items": 5},
    ],
)
async def test_voice_listing_bad_shapes(api: RestApi, emulator: FishEmulator, body: Any) -> None:
    emulator.add_rest_fault("/model", 200, json.dumps(body))
    with pytest.raises(InvalidResponseError):
        await api.voices()


@pytest.mark.parametrize(
    "record",
    [entity(_id=None), "not a map", entity(languages=5), entity(task_count="lots")],
)
async def test_voice_listing_skips_bad_records(
    api: RestApi, emulator: FishEmulator, record: Any
) -> None:
    body = {"total": "many", "items": [record, entity()]}
    emulator.add_rest_fault("/model", 200, json.dumps(body))
    page = await api.voices()
    assert [voice.id for voice in page.items] == [OWN_ID]
    assert page.total == 2


async def test_voice_record_tolerates_missing_optional_fields(
    api: RestApi, emulator: FishEmulator
) -> None:
    body = {
        "total": 2,
        "items": [
            {"_id": OWN_ID},
            entity(title="", author="not a map", languages=None, task_count=None, state="training"),
        ],
    }
    emulator.add_rest_fault("/model", 200, json.dumps(body))
    page = await api.voices()
    assert page.items[0] == Voice(id=OWN_ID, title=OWN_ID)
    assert page.items[1].title == OWN_ID
    assert page.items[1].author is None
    assert page.items[1].languages == ()
    assert page.items[1].task_count == 0
    assert page.items[1].state == "training"


@pytest.mark.parametrize("body", [{"title": "no id"}, {"_id": OWN_ID, "author": 5}])
async def test_one_voice_bad_shape(api: RestApi, emulator: FishEmulator, body: Any) -> None:
    emulator.add_rest_fault(f"/model/{OWN_ID}", 200, json.dumps(body))
    if "author" in body:
        # A non-map author is tolerated: no author name.
        assert (await api.voice(OWN_ID)).author is None
    else:
        with pytest.raises(InvalidResponseError, match="voice record"):
            await api.voice(OWN_ID)
