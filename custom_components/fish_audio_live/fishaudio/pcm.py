"""TEMPORARY stubs until the resampler and pacer land."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from .wav import PcmShape


async def convert_pcm(
    audio: AsyncIterator[bytes], source: PcmShape, target: PcmShape
) -> AsyncGenerator[bytes]:
    async for chunk in audio:
        yield chunk


async def keep_flowing(
    audio: AsyncIterator[bytes],
    *,
    byte_rate: int,
    frame_bytes: int,
    idle_limit: float,
    silence: bytes,
) -> AsyncGenerator[bytes]:
    async for chunk in audio:
        yield chunk


def silence_byte(shape: PcmShape) -> bytes:
    return b"\x80" if shape.width == 1 else b"\x00"
