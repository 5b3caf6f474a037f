"""Streaming PCM conversion: rates, widths, channels, chunk edges."""

from __future__ import annotations

from collections.abc import AsyncIterator
import itertools
import math
import random
import struct

import pytest

from custom_components.fish_audio_live.fishaudio.resample import (
    PcmConverter,
    best_source_rate,
    convert_pcm,
)
from custom_components.fish_audio_live.fishaudio.settings import SAMPLE_RATES
from custom_components.fish_audio_live.fishaudio.wav import PcmShape

FISH_RATES = (8000, 16000, 24000, 32000, 44100)
WANTED_RATES = (8000, 16000, 22050, 24000, 44100, 48000)


def sine(rate: int, seconds: float = 1.0, freq: float = 440.0, amplitude: int = 12000) -> bytes:
    """Signed 16-bit little-endian mono sine, like Fish's PCM."""
    count = int(rate * seconds)
    return struct.pack(
        f"<{count}h",
        *(round(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(count)),
    )


def samples(pcm: bytes, width: int = 2) -> list[int]:
    fmt = {1: "B", 2: "h", 4: "i"}[width]
    return list(struct.unpack(f"<{len(pcm) // width}{fmt}", pcm))


def zero_crossings(values: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(values) if (a < 0) != (b < 0))


def split(data: bytes, rng: random.Random, largest: int = 1500) -> list[bytes]:
    """Random chunks, most of odd length: samples split across chunk edges."""
    chunks = []
    start = 0
    while start < len(data):
        size = rng.randrange(1, largest)
        chunks.append(data[start : start + size])
        start += size
    return chunks


def stream_convert(converter: PcmConverter, chunks: list[bytes]) -> bytes:
    return b"".join(converter.feed(chunk) for chunk in chunks) + converter.flush()


def test_fish_rates_are_the_ones_assumed() -> None:
    assert tuple(SAMPLE_RATES["pcm"]) == FISH_RATES


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (16000, 16000),
        (44100, 44100),
        (22050, 24000),
        (11025, 16000),
        (6000, 8000),
        (48000, 44100),
        (96000, 44100),
    ],
)
def test_best_source_rate(wanted: int, expected: int) -> None:
    assert best_source_rate(wanted, FISH_RATES) == expected


@pytest.mark.parametrize("source_rate", FISH_RATES)
@pytest.mark.parametrize("target_rate", WANTED_RATES)
def test_length_follows_the_rate_ratio(source_rate: int, target_rate: int) -> None:
    pcm = sine(source_rate, 0.5)
    out = PcmConverter(PcmShape(source_rate), PcmShape(target_rate)).feed(pcm)
    assert len(out) % 2 == 0
    expected = len(pcm) // 2 * target_rate / source_rate
    # Interpolation stops at the last input sample: up to one source period short.
    assert expected - target_rate / source_rate - 1 <= len(out) // 2 <= expected + 1


@pytest.mark.parametrize(
    ("source_rate", "target_rate"), [(24000, 48000), (24000, 22050), (44100, 16000), (16000, 48000)]
)
def test_a_sine_keeps_its_frequency(source_rate: int, target_rate: int) -> None:
    out = PcmConverter(PcmShape(source_rate), PcmShape(target_rate)).feed(sine(source_rate))
    values = samples(out)
    assert abs(len(values) - target_rate) <= 2
    assert abs(zero_crossings(values) - 880) <= 2  # 440 Hz: two crossings a period
    assert max(values) > 11000  # no loss of level


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "target",
    [
        PcmShape(48000),
        PcmShape(22050),
        PcmShape(16000, 2),
        PcmShape(48000, 2, 4),
        PcmShape(8000, 1, 1),
    ],
)
def test_streamed_chunks_equal_the_one_shot_conversion(seed: int, target: PcmShape) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible chunking, not secrets
    pcm = sine(24000, 0.3)
    one_shot = PcmConverter(PcmShape(24000), target).feed(pcm)
    assert stream_convert(PcmConverter(PcmShape(24000), target), split(pcm, rng)) == one_shot


def test_a_sample_split_across_chunks_waits_for_its_other_half() -> None:
    converter = PcmConverter(PcmShape(16000), PcmShape(16000, 1, 4))
    assert converter.feed(b"\x01") == b""
    assert converter.feed(b"\x02\x03") == struct.pack("<i", 0x0201 << 16)
    assert converter.feed(b"\x04") == struct.pack("<i", 0x0403 << 16)


def test_flush_drops_a_dangling_half_sample_and_resets() -> None:
    converter = PcmConverter(PcmShape(16000), PcmShape(48000))
    pcm = sine(16000, 0.1)
    first = converter.feed(pcm + b"\x7f")
    assert converter.flush() == b""
    assert converter.feed(pcm) == first  # a fresh start: same state, no leftover byte


def test_same_shape_passes_through_untouched() -> None:
    converter = PcmConverter(PcmShape(24000), PcmShape(24000))
    assert converter.passthrough
    assert converter.feed(b"\x01") == b"\x01"
    assert converter.feed(b"\x02\x03\x04") == b"\x02\x03\x04"


def test_more_channels_copy_the_mono_sample() -> None:
    pcm = sine(16000, 0.05)
    for channels in (2, 3, 6):
        out = PcmConverter(PcmShape(16000), PcmShape(16000, channels)).feed(pcm)
        assert len(out) == len(pcm) * channels
        frames = samples(out)
        mono = samples(pcm)
        for channel in range(channels):
            assert frames[channel::channels] == mono


def test_stereo_source_is_mixed_down() -> None:
    left = samples(sine(16000, 0.05))
    stereo = struct.pack(f"<{2 * len(left)}h", *(v for s in left for v in (s, s // 2)))
    out = samples(PcmConverter(PcmShape(16000, 2), PcmShape(16000)).feed(stereo))
    assert all(abs(o - (s + s // 2) / 2) <= 1 for o, s in zip(out, left, strict=True))


def test_8_bit_is_unsigned_both_ways() -> None:
    silence16 = bytes(200)
    out = PcmConverter(PcmShape(16000), PcmShape(16000, 1, 1)).feed(silence16)
    assert out == b"\x80" * 100
    back = PcmConverter(PcmShape(16000, 1, 1), PcmShape(16000)).feed(out)
    assert back == silence16
    loud = PcmConverter(PcmShape(16000), PcmShape(16000, 1, 1)).feed(
        struct.pack("<2h", 32767, -32768)
    )
    assert samples(loud, 1) == [255, 0]


def test_24_bit_keeps_the_high_bytes() -> None:
    out = PcmConverter(PcmShape(16000), PcmShape(16000, 1, 3)).feed(struct.pack("<2h", 0x1234, -2))
    assert out == b"\x00\x34\x12" + b"\x00\xfe\xff"


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (PcmShape(16000, 1, 5), PcmShape(16000)),
        (PcmShape(16000), PcmShape(0)),
        (PcmShape(16000), PcmShape(16000, 0)),
        (PcmShape(16000, 6), PcmShape(16000)),
        (PcmShape(16000, 2), PcmShape(16000, 6)),
    ],
)
def test_unsupported_shapes_are_refused(source: PcmShape, target: PcmShape) -> None:
    with pytest.raises(ValueError, match=r"unsupported|cannot convert"):
        PcmConverter(source, target)


async def test_convert_pcm_streams_and_closes_its_source() -> None:
    closed = False

    async def audio() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            yield b"\x00"
            yield b"\x00" * 3
            yield b""
            yield b"\x00" * 100
        finally:
            closed = True

    out = [chunk async for chunk in convert_pcm(audio(), PcmShape(16000), PcmShape(32000))]
    assert all(out)  # no empty chunks
    assert b"".join(out) == PcmConverter(PcmShape(16000), PcmShape(32000)).feed(bytes(104))
    assert closed

    closed = False
    early = convert_pcm(audio(), PcmShape(16000), PcmShape(32000))
    assert await anext(early)
    await early.aclose()
    assert closed


async def test_convert_pcm_takes_any_async_iterator() -> None:
    class Chunks:
        def __init__(self) -> None:
            self.left = [b"\x00\x01", b"\x02"]

        def __aiter__(self) -> Chunks:
            return self

        async def __anext__(self) -> bytes:
            if not self.left:
                raise StopAsyncIteration
            return self.left.pop(0)

    out = [chunk async for chunk in convert_pcm(Chunks(), PcmShape(16000), PcmShape(16000, 2))]
    assert out == [b"\x00\x01\x00\x01"]
