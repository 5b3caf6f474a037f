"""RIFF/WAVE framing for the raw PCM that the live socket sends."""

from __future__ import annotations

import struct

# Unknown length: the largest 32-bit sizes, which decoders read as "until the end".
STREAMING_SIZE = 0xFFFFFFFF
_HEADER_SIZE = 44


def wav_header(
    sample_rate: int, data_size: int | None, *, channels: int = 1, sample_width: int = 2
) -> bytes:
    """Return a 44-byte WAV header; `data_size=None` gives a streaming header."""
    if data_size is None:
        riff_size = data_size_field = STREAMING_SIZE
    else:
        riff_size = _HEADER_SIZE - 8 + data_size
        data_size_field = data_size
    byte_rate = sample_rate * channels * sample_width
    return b"".join(
        (
            struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE"),
            struct.pack(
                "<4sIHHIIHH",
                b"fmt ",
                16,
                1,
                channels,
                sample_rate,
                byte_rate,
                channels * sample_width,
                sample_width * 8,
            ),
            struct.pack("<4sI", b"data", data_size_field),
        )
    )


def wav_file(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap a complete PCM buffer into a WAV file with exact sizes."""
    return wav_header(sample_rate, len(pcm)) + pcm
