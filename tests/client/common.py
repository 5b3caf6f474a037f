"""Helpers shared by the client-layer tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.fishaudio.live import Timeouts

GOOD = Timeouts(connect=2, first_audio=2, audio_gap=2, close=1)
FAST = Timeouts(connect=1, first_audio=0.3, audio_gap=0.3, close=0.5)
BOUND = 5  # seconds any single test step may take

type ClientFactory = Callable[..., FishAudioClient]


async def pieces(*parts: str) -> AsyncIterator[str]:
    """A text source yielding `parts` one by one."""
    for part in parts:
        yield part


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    """All audio of a stream, bounded in time."""
    async with asyncio.timeout(BOUND):
        return b"".join([chunk async for chunk in stream])
