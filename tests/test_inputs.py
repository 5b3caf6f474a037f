"""Hostile REST answers over loopback: each one a typed error, never a raw exception."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from custom_components.fish_audio_live.fishaudio.errors import (
    InvalidResponseError,
    RateLimitError,
)
from custom_components.fish_audio_live.fishaudio.rest import RestApi
from tests.hostile_rest import HostileRest

KEY = "sk-hostile-secret-0123456789"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No Home Assistant instance needed here."""


@pytest.fixture
async def hostile(socket_enabled: None) -> AsyncIterator[HostileRest]:
    async with HostileRest() as server:
        yield server


@pytest.fixture
async def api(hostile: HostileRest) -> AsyncIterator[RestApi]:
    async with aiohttp.ClientSession() as http:
        yield RestApi(http, hostile.url, KEY)


def _no_secret(err: BaseException) -> None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        for text in (repr(current), str(current), repr(current.args)):
            assert KEY not in text
            assert "Authorization" not in text
        todo += [current.__cause__, current.__context__]


@pytest.mark.parametrize(
    "mode",
    [
        "charset",
        "deep",
        "huge_number",
        "array",
        "html",
        "declared_huge",
        "endless",
        "redirect_away",
        "redirect_loop",
    ],
)
@pytest.mark.parametrize("call", ["account", "voices"])
async def test_hostile_answer_is_invalid_response(
    api: RestApi, hostile: HostileRest, mode: str, call: str
) -> None:
    hostile.mode = mode
    if mode == "huge_number" and call == "account":
        assert (await api.account()).credit == "inf"
        return
    if mode == "huge_number" and call == "voices":
        page = await api.voices()
        assert [voice.id for voice in page.items] == [f"{2:032x}"]
        assert page.total == 2
        return
    with pytest.raises(InvalidResponseError) as info:
        await (api.account() if call == "account" else api.voices())
    _no_secret(info.value)
    if mode == "redirect_away":
        assert "http://203.0.113.9/elsewhere" in str(info.value)
        assert "token" not in str(info.value)
    assert len(hostile.seen_authorization) == 1  # no redirect followed


async def test_voice_list_cut_to_page_and_bad_records_skipped(
    api: RestApi, hostile: HostileRest
) -> None:
    hostile.mode = "many_voices"
    page = await api.voices(page_size=100)
    assert len(page.items) == 98
    assert page.total == 5000


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("retry_nan", None), ("retry_inf", None), ("retry_negative", None), ("retry_ok", 2.5)],
)
async def test_retry_after_only_when_finite(
    api: RestApi, hostile: HostileRest, mode: str, expected: float | None
) -> None:
    hostile.mode = mode
    with pytest.raises(RateLimitError) as info:
        await api.account()
    assert info.value.retry_after == expected
