"""RIFF/WAVE framing for the raw PCM that the live socket sends."""

from __future__ import annotations

from dataclasses import dataclass
import struct

# Unknown length: the largest 32-bit sizes, which decoders read as "until the end".
STREAMING_SIZE = 0xFFFFFFFF
WAV_HEADER_SIZE = 44


@dataclass(frozen=True, slots=True)
class PcmShape:
    """Shape of PCM audio: rate, channels and bytes per sample (8-bit is unsigned).

    `floating`: 4-byte IEEE float samples (WAV format tag 3) rather than integers.
    """

    rate: int
    channels: int = 1
    width: int = 2
    floating: bool = False


def wav_header(
    sample_rate: int,
    data_size: int | None,
    *,
    channels: int = 1,
    sample_width: int = 2,
    floating: bool = False,
) -> bytes:
    """Return a 44-byte WAV header; `data_size=None` gives a streaming header."""
    if data_size is None:
        riff_size = data_size_field = STREAMING_SIZE
    else:
        riff_size = WAV_HEADER_SIZE - 8 + data_size
        data_size_field = data_size
    byte_rate = sample_rate * channels * sample_width
    return b"".join(
        (
            struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE"),
            struct.pack(
                "<4sIHHIIHH",
                b"fmt ",
                16,
                3 if floating else 1,
                channels,
                sample_rate,
                byte_rate,
                channels * sample_width,
                sample_width * 8,
            ),
            struct.pack("<4sI", b"data", data_size_field),
        )
    )


def shape_header(shape: PcmShape, data_size: int | None = None) -> bytes:
    """The WAV header for PCM of `shape`; streaming when `data_size` is None."""
    return wav_header(
        shape.rate,
        data_size,
        channels=shape.channels,
        sample_width=shape.width,
        floating=shape.floating,
    )


def wav_file(pcm: bytes, shape: PcmShape) -> bytes:
    """Wrap a complete PCM buffer into a WAV file with exact sizes."""
    return shape_header(shape, len(pcm)) + pcm
