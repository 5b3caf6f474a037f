"""Fixtures of the client-layer tests: a real aiohttp session, clients on the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from tests.client.common import GOOD, ClientFactory
from tests.conftest import API_KEY
from tests.emulator import FishEmulator


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The client layer needs no Home Assistant instance: skip the root conftest's."""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session, closed at the end of the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def make_client(
    http: aiohttp.ClientSession, emulator: FishEmulator
) -> AsyncIterator[ClientFactory]:
    """Build clients on the emulator (short retry delays); every one is closed at the end."""
    clients: list[FishAudioClient] = []

    def make(**kwargs: Any) -> FishAudioClient:
        api_key = kwargs.pop("api_key", API_KEY)
        base_url = kwargs.pop("base_url", emulator.url)
        kwargs.setdefault("timeouts", GOOD)
        kwargs.setdefault("retry_delays", (0.01, 0.01))
        client = FishAudioClient(http, api_key, base_url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
