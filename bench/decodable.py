"""When audio becomes playable: the shortest prefix of a stream that decodes to real samples.

"Time to the first kilobyte" hides what a player waits for: a FLAC or MP3 stream starts
with headers (and ffmpeg may hold input before it writes a frame). Here a stream's
arrivals (time, bytes so far) are kept as it is read, and afterwards ffmpeg decodes
growing prefixes offline to find the first arrival after which `wanted_ms` of audio
decode. The decoder runs after the stream, so it never delays the reading.

`input_needed` measures an ffmpeg conversion the same way, without a clock: it feeds the
input in small steps, giving ffmpeg time to answer after each, and reports how much input
audio had gone in when the output first held decodable audio. That number is a property
of the command line, not of the machine's load (a slow machine only waits longer per step).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
import contextlib
from dataclasses import dataclass

DECODE_RATE = 16000  # decoded to 16 kHz mono s16le: 32 bytes per millisecond


async def decoded_ms(data: bytes, input_format: str | None = None) -> float:
    """Milliseconds of audio ffmpeg decodes from `data` (a stream cut anywhere)."""
    given = ["-f", input_format] if input_format else []
    process = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "quiet",
        *given,
        "-i",
        "pipe:0",
        "-f",
        "s16le",
        "-ac",
        "1",
        "-ar",
        str(DECODE_RATE),
        "pipe:1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    pcm, _ = await process.communicate(data)
    return len(pcm) / (DECODE_RATE * 2 / 1000)


async def first_playable(
    data: bytes,
    sizes: Sequence[int],
    wanted_ms: float = 100.0,
    input_format: str | None = None,
) -> int | None:
    """Index into `sizes` (bytes received so far, increasing) of the first prefix that
    decodes to `wanted_ms`; None if even the whole stream does not."""
    low, high = 0, len(sizes) - 1
    if high < 0 or await decoded_ms(data[: sizes[high]], input_format) < wanted_ms:
        return None
    while low < high:  # decoded length grows with the prefix: bisect
        middle = (low + high) // 2
        if await decoded_ms(data[: sizes[middle]], input_format) >= wanted_ms:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True, slots=True)
class InputNeeded:
    """Input audio (ms) that had gone into a conversion when its output became playable."""

    input_ms: float
    output_bytes: int


type Converter = Callable[[AsyncGenerator[bytes]], AsyncGenerator[bytes]]


async def input_needed(
    convert: Converter,
    header: bytes,
    pcm: bytes,
    byte_rate: int,
    *,
    step_ms: int = 20,
    patience_s: float = 0.25,
    wanted_ms: float = 20.0,
) -> InputNeeded:
    """Feed `header` then `pcm` in `step_ms` steps through `convert`; see the module doc.

    After each step the feeder waits until the converter has written more output or
    `patience_s` passes. Output that arrives is attributed to the input fed so far, so the
    figure can only overstate by one step, and a loaded machine makes it slower, not larger.
    """
    step = max(2, byte_rate * step_ms // 1000 // 2 * 2)
    fed: list[int] = []  # input bytes fed when each output chunk arrived
    sizes: list[int] = []
    received = bytearray()
    grew = asyncio.Event()
    position = 0

    async def source() -> AsyncGenerator[bytes]:
        nonlocal position
        yield header
        for start in range(0, len(pcm), step):
            grew.clear()
            position = start + step
            yield pcm[start : start + step]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(grew.wait(), patience_s)

    async for chunk in convert(source()):
        received += chunk
        fed.append(min(position, len(pcm)))
        sizes.append(len(received))
        grew.set()
    index = await first_playable(bytes(received), sizes, wanted_ms)
    if index is None:
        raise ValueError("the conversion never produced playable audio")
    return InputNeeded(fed[index] / byte_rate * 1000, sizes[index])


def ffmpeg_converter(command: Sequence[str]) -> Converter:
    """A converter running `command` (stdin to stdout), as Home Assistant runs ffmpeg."""

    async def convert(audio: AsyncGenerator[bytes]) -> AsyncGenerator[bytes]:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        stdin = process.stdin

        async def write() -> None:
            try:
                async for chunk in audio:
                    stdin.write(chunk)
                    await stdin.drain()
            finally:
                stdin.close()

        writer = asyncio.ensure_future(write())
        try:
            while chunk := await process.stdout.read(4096):
                yield chunk
        finally:
            await writer
            await process.wait()

    return convert
