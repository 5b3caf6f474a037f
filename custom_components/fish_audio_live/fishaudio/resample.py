"""Streaming PCM conversion: Fish's rate and shape to the one a caller prefers.

Fish sends signed 16-bit little-endian mono PCM at 8, 16, 24, 32 or 44.1 kHz;
satellites and players may want 22.05 or 48 kHz, two channels, or another
sample width. `PcmConverter` converts chunk by chunk with `audioop` (from the
`audioop-lts` package on Python 3.13+, a dependency of Home Assistant itself),
carrying the resampler's state across chunks, so streamed output is byte for
byte the one-shot conversion. A sample split across two chunks is kept until
its other half arrives.

Resampling is linear interpolation (`audioop.ratecv`): cheap and good enough
for speech, all the more as `best_source_rate` asks Fish for a rate at or
above the one wanted where it can, so it mostly converts down by a little or
up. Rate conversion runs on the fewest channels (down-mix first, up-mix last).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
import struct

import audioop

from .wav import PcmShape

_WIDTHS = (1, 2, 3, 4)


def best_source_rate(wanted: int, offered: tuple[int, ...]) -> int:
    """The rate to ask Fish for: `wanted` if offered, else the next higher, else the highest."""
    if wanted in offered:
        return wanted
    higher = [rate for rate in offered if rate > wanted]
    return min(higher) if higher else max(offered)


class PcmConverter:
    """Converts a PCM stream of one shape into another (8-bit PCM is unsigned, as in WAV)."""

    def __init__(self, source: PcmShape, target: PcmShape) -> None:
        """Convert from `source` (mono or stereo) to `target` (any channel count)."""
        for shape in (source, target):
            if shape.width not in _WIDTHS or shape.rate <= 0 or shape.channels < 1:
                raise ValueError(f"unsupported PCM shape {shape}")
        if source.floating or (target.floating and target.width != 4):
            raise ValueError(f"unsupported float PCM {source} -> {target}")
        if source.channels > 2 or (source.channels == 2 and target.channels > 2):
            raise ValueError(f"cannot convert {source.channels} channels to {target.channels}")
        self.source = source
        self.target = target
        self.passthrough = source == target
        self._frame = source.width * source.channels
        self._mid_channels = min(source.channels, target.channels)
        self._carry = b""
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None

    def feed(self, chunk: bytes) -> bytes:
        """Convert the next chunk; a trailing partial frame waits for the next one."""
        if self.passthrough:
            return chunk
        data = self._carry + chunk if self._carry else chunk
        whole = len(data) - len(data) % self._frame
        self._carry = data[whole:]
        return self._convert(data[:whole]) if whole else b""

    def flush(self) -> bytes:
        """End of the stream: drop a dangling partial frame and reset the state.

        Linear interpolation holds no samples back, so nothing is left to emit.
        """
        self._carry = b""
        self._state = None
        return b""

    def _convert(self, data: bytes) -> bytes:
        source, target = self.source, self.target
        width = source.width
        if width == 1:
            data = audioop.bias(data, 1, -128)  # audioop's 8-bit samples are signed
        if source.channels == 2 and target.channels == 1:
            data = audioop.tomono(data, width, 0.5, 0.5)
        if source.rate != target.rate:
            data, self._state = audioop.ratecv(
                data, width, self._mid_channels, source.rate, target.rate, self._state
            )
        if target.width != width:
            data = audioop.lin2lin(data, width, target.width)
        if self._mid_channels == 1 and target.channels > 1:
            data = _upmix(data, target.width, target.channels)
        if target.width == 1:
            data = audioop.bias(data, 1, 128)
        if target.floating:
            data = _int32_to_float(data)
        return data


def _int32_to_float(data: bytes) -> bytes:
    """32-bit integer samples as 32-bit floats (HA 2026.10's ffmpeg starts on those at once)."""
    count = len(data) // 4
    scale = 1 / 2147483648
    return struct.pack(f"<{count}f", *[v * scale for v in struct.unpack(f"<{count}i", data)])


def _upmix(mono: bytes, width: int, channels: int) -> bytes:
    """Copy each mono sample into every channel of a frame."""
    if channels == 2:
        return audioop.tostereo(mono, width, 1, 1)
    out = bytearray(len(mono) * channels)
    step = width * channels
    for channel in range(channels):
        for byte in range(width):
            out[channel * width + byte :: step] = mono[byte::width]
    return bytes(out)


async def convert_pcm(
    audio: AsyncIterator[bytes], source: PcmShape, target: PcmShape
) -> AsyncGenerator[bytes]:
    """Convert a PCM stream chunk by chunk; empty results are not yielded.

    Closing this generator closes `audio` too (when it can be closed).
    """
    converter = PcmConverter(source, target)
    try:
        async for chunk in audio:
            if out := converter.feed(chunk):
                yield out
    finally:
        converter.flush()
        if isinstance(audio, AsyncGenerator):
            await audio.aclose()
