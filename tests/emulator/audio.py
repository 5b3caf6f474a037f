"""Audio the emulator streams, one continuous stream per session and format.

Every stream is deterministic and really decodable:

* ``pcm``: signed 16-bit little-endian mono at the session's sample rate. Each
  character is a square tone whose pitch depends on the character, so the
  audio is never silent and any mix-up of segments changes the bytes. A fixed
  noise floor rides on it, so that lossless encoders (FLAC in Home Assistant's
  ffmpeg step) compress it about as little as speech: a bare square tone packs
  twenty times smaller, which made "time to the first kilobyte" wait for audio
  that real speech would not need.
* ``wav``: one 44-byte RIFF/WAVE header (RIFF and data sizes are the
  streaming placeholder 0xFFFFFFFF) in front of the same pcm.
* ``mp3``: silent MPEG-1 Layer III mono frames (side info all zeros) at the
  requested bitrate and 44100/32000 Hz; the frame count is rounded up, so the
  stream is at most one 1152-sample frame longer than the text.
* ``opus``: one Ogg Opus stream (OpusHead, OpusTags, then pages of 20 ms
  silent CELT packets). A pre-skip of 312 samples is counted in, and the last
  packet is held back until the next segment or the end of the stream, where
  it goes out in an end-of-stream page whose granule position trims the
  stream to the exact text duration. That final page is an extra audio event
  sent after the last segment, before ``finish``.

Durations are computed on one session timeline in milliseconds, so the
rounding of one segment never accumulates into the next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
import math
import struct
from typing import Final

import audioop

PCM_RATES: Final = frozenset({8000, 16000, 24000, 32000, 44100})
MP3_RATES: Final = frozenset({32000, 44100})
OPUS_RATES: Final = frozenset({48000})
DEFAULT_RATE: Final = {"pcm": 44100, "wav": 44100, "mp3": 44100, "opus": 48000}

AMPLITUDE: Final = 6000
PLACEHOLDER_SIZE: Final = 0xFFFFFFFF
WAV_HEADER_SIZE: Final = 44

MP3_FRAME_SAMPLES: Final = 1152
MP3_BITRATE_INDEX: Final = {64: 5, 128: 9, 192: 11}
MP3_RATE_INDEX: Final = {44100: 0, 32000: 2}
MP3_MONO_SIDE_INFO: Final = 17

OPUS_PACKET: Final = b"\xf8\xff\xfe"  # TOC: CELT fullband 20 ms mono; body decodes to silence
OPUS_PACKET_SAMPLES: Final = 960  # 20 ms at 48 kHz
OPUS_PRE_SKIP: Final = 312
OGG_SERIAL: Final = 0x46495348  # "FISH": any fixed value keeps streams deterministic
OGG_MAX_SEGMENTS: Final = 255


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Bytes of one audio event and the audio duration they carry."""

    data: bytes
    duration_ms: float


def chunk_bounds(duration_ms: float, chunk_ms: int) -> list[tuple[float, float]]:
    """Split ``[0, duration_ms)`` into pieces of ``chunk_ms`` (the last one shorter)."""
    count = math.ceil(duration_ms / chunk_ms) if duration_ms > 0 else 0
    return [(i * chunk_ms, min((i + 1) * chunk_ms, duration_ms)) for i in range(count)]


class AudioStream(ABC):
    """One session's stream: segments in, chunks of encoded bytes out."""

    def __init__(self, sample_rate: int) -> None:
        """Start the session timeline at 0 ms."""
        self.sample_rate = sample_rate
        self.position_ms = 0.0
        self.started = False

    def segment(self, text: str, ms_per_char: float, chunk_ms: int) -> list[AudioChunk]:
        """Encode ``text`` as the continuation of the stream, cut in chunks."""
        start = self.position_ms
        chunks = []
        for begin, end in chunk_bounds(len(text) * ms_per_char, chunk_ms):
            header = self.open()  # first, so that Ogg page numbers stay in order
            data = self.encode(text, ms_per_char, start, start + begin, start + end)
            chunks.append(AudioChunk(header + data, end - begin))
        self.position_ms = start + len(text) * ms_per_char
        return chunks

    def samples_at(self, ms: float) -> int:
        """Index of the sample at ``ms`` on the session timeline."""
        return round(ms * self.sample_rate / 1000)

    def open(self) -> bytes:
        """The stream header the first time, nothing afterwards."""
        if self.started:
            return b""
        self.started = True
        return self.header()

    def header(self) -> bytes:
        """Bytes opening the stream (none for headerless formats)."""
        return b""

    def finish(self) -> bytes:
        """Bytes closing the stream; nothing when no audio was ever sent."""
        return b""

    def pad(self, data: bytes, size: int) -> bytes:
        """Pad ``data`` with silence up to ``size`` bytes; only raw formats can."""
        return data

    @abstractmethod
    def encode(
        self, text: str, ms_per_char: float, segment_ms: float, begin_ms: float, end_ms: float
    ) -> bytes:
        """Bytes for ``[begin_ms, end_ms)`` of the segment starting at ``segment_ms``."""


class PcmStream(AudioStream):
    """Raw s16le mono tones, one pitch per character."""

    def __init__(self, sample_rate: int) -> None:
        """Cache one period of each character's tone."""
        super().__init__(sample_rate)
        self._periods: dict[str, bytes] = {}

    def encode(
        self, text: str, ms_per_char: float, segment_ms: float, begin_ms: float, end_ms: float
    ) -> bytes:
        """Concatenate the tones of the characters overlapping the chunk."""
        first = self.samples_at(begin_ms)
        last = self.samples_at(end_ms)
        parts = []
        for index, char in enumerate(text):
            char_start = self.samples_at(segment_ms + index * ms_per_char)
            char_end = self.samples_at(segment_ms + (index + 1) * ms_per_char)
            low, high = max(first, char_start), min(last, char_end)
            if low < high:
                parts.append(self._tone(char, low, high - low))
        return b"".join(parts)

    def pad(self, data: bytes, size: int) -> bytes:
        """Append zero samples (digital silence)."""
        return data + bytes(max(0, size - len(data)))

    def _tone(self, char: str, first_sample: int, count: int) -> bytes:
        """``count`` samples of the character's square wave from ``first_sample`` on.

        The wave is a function of the absolute sample index, so a character
        split across two chunks continues without a click.
        """
        period = self._period(char)
        samples = len(period) // 2
        offset = first_sample % samples
        repeats = (offset + count) // samples + 1
        square = (period * repeats)[offset * 2 : (offset + count) * 2]
        return audioop.add(square, _noise(first_sample, count), 2)

    def _period(self, char: str) -> bytes:
        """One period of the character's square wave (pitch 220..840 Hz)."""
        cached = self._periods.get(char)
        if cached is None:
            frequency = 220 + (ord(char) % 32) * 20
            samples = max(2, round(self.sample_rate / frequency))
            high = samples // 2
            cached = struct.pack("<h", AMPLITUDE) * high + struct.pack("<h", -AMPLITUDE) * (
                samples - high
            )
            self._periods[char] = cached
        return cached


# Pseudo-random noise, a function of the absolute sample index; its period is a
# prime larger than a FLAC block, so no encoder finds the repetition.
NOISE_SAMPLES: Final = 4099
NOISE_AMPLITUDE: Final = 4000


def _noise_table() -> bytes:
    state, values = 12345, []
    for _ in range(NOISE_SAMPLES):
        state = (1103515245 * state + 12345) % 2**31
        values.append(state % (2 * NOISE_AMPLITUDE + 1) - NOISE_AMPLITUDE)
    return struct.pack(f"<{NOISE_SAMPLES}h", *values)


_NOISE: Final = _noise_table()


def _noise(first_sample: int, count: int) -> bytes:
    """``count`` noise samples from absolute sample ``first_sample`` on."""
    offset = first_sample % NOISE_SAMPLES
    repeats = (offset + count) // NOISE_SAMPLES + 1
    return (_NOISE * repeats)[offset * 2 : (offset + count) * 2]


class WavStream(PcmStream):
    """The pcm stream behind one streaming WAV header."""

    def header(self) -> bytes:
        """RIFF/WAVE header with placeholder sizes, as streaming servers send."""
        return wav_header(self.sample_rate)


def wav_header(sample_rate: int) -> bytes:
    """44-byte PCM WAV header for 16-bit mono with unknown (placeholder) sizes."""
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", PLACEHOLDER_SIZE)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", PLACEHOLDER_SIZE)
    )


class Mp3Stream(AudioStream):
    """Silent constant-bitrate MPEG-1 Layer III frames."""

    def __init__(self, sample_rate: int, bitrate_kbps: int) -> None:
        """Prepare the frame geometry; padding follows the standard rhythm."""
        super().__init__(sample_rate)
        self.bitrate_kbps = bitrate_kbps
        self.frames_sent = 0
        self._slot_bytes, self._slot_rest = divmod(144 * bitrate_kbps * 1000, sample_rate)
        self._padding_acc = 0

    def encode(
        self, text: str, ms_per_char: float, segment_ms: float, begin_ms: float, end_ms: float
    ) -> bytes:
        """Frames needed so the stream covers ``end_ms`` (rounded up to whole frames)."""
        needed = -(-self.samples_at(end_ms) // MP3_FRAME_SAMPLES)
        frames = [self._frame() for _ in range(needed - self.frames_sent)]
        self.frames_sent = max(self.frames_sent, needed)
        return b"".join(frames)

    def _frame(self) -> bytes:
        """One frame; a padding byte is added whenever the fractional size adds up."""
        self._padding_acc += self._slot_rest
        padding = self._padding_acc >= self.sample_rate
        if padding:
            self._padding_acc -= self.sample_rate
        header = mp3_header(self.bitrate_kbps, self.sample_rate, padding=padding)
        return header + bytes(self._slot_bytes + int(padding) - len(header))


def mp3_header(bitrate_kbps: int, sample_rate: int, *, padding: bool) -> bytes:
    """4-byte MPEG-1 Layer III header: no CRC, mono, not copyrighted."""
    second = 0xFB  # sync low bits, MPEG-1, Layer III, no CRC
    third = (MP3_BITRATE_INDEX[bitrate_kbps] << 4) | (MP3_RATE_INDEX[sample_rate] << 2)
    third |= int(padding) << 1
    fourth = 0xC0  # channel mode 3 = mono
    return bytes((0xFF, second, third, fourth))


class OpusStream(AudioStream):
    """Ogg Opus stream of silent 20 ms packets with exact end trimming."""

    def __init__(self) -> None:
        """Opus always runs at 48 kHz."""
        super().__init__(48000)
        self.packets_sent = 0
        self._sequence = 0

    def header(self) -> bytes:
        """OpusHead (beginning-of-stream page) and OpusTags pages."""
        head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, OPUS_PRE_SKIP, 48000, 0, 0)
        vendor = b"fish-audio-emulator"
        tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
        return self._page([head], granule=0, flags=0x02) + self._page([tags], granule=0)

    def encode(
        self, text: str, ms_per_char: float, segment_ms: float, begin_ms: float, end_ms: float
    ) -> bytes:
        """Packets up to ``end_ms``, holding the last one back for the final page."""
        count = self._packets_for(end_ms) - 1 - self.packets_sent
        return self._pages(count, flags=0, granule=None)

    def finish(self) -> bytes:
        """End-of-stream page whose granule position trims to the exact duration."""
        if not self.started:
            return b""
        count = max(1, self._packets_for(self.position_ms) - self.packets_sent)
        granule = OPUS_PRE_SKIP + self.samples_at(self.position_ms)
        return self._pages(count, flags=0x04, granule=granule)

    def _packets_for(self, ms: float) -> int:
        """Packets needed so that pre-skip plus ``ms`` of audio decode."""
        return -(-(OPUS_PRE_SKIP + self.samples_at(ms)) // OPUS_PACKET_SAMPLES)

    def _pages(self, count: int, *, flags: int, granule: int | None) -> bytes:
        """``count`` packets in as few pages as allowed; flags go on the last page."""
        pages = []
        while count > 0:
            batch = min(count, OGG_MAX_SEGMENTS)
            count -= batch
            self.packets_sent += batch
            full = self.packets_sent * OPUS_PACKET_SAMPLES
            last = count == 0
            page_granule = granule if last and granule is not None else full
            pages.append(
                self._page([OPUS_PACKET] * batch, page_granule, flags=flags if last else 0)
            )
        return b"".join(pages)

    def _page(self, packets: list[bytes], granule: int, flags: int = 0) -> bytes:
        """One Ogg page with a valid CRC; packets must each fit one page."""
        page = ogg_page(packets, granule=granule, sequence=self._sequence, flags=flags)
        self._sequence += 1
        return page


def ogg_page(packets: list[bytes], *, granule: int, sequence: int, flags: int) -> bytes:
    """Assemble an Ogg page (RFC 3533) holding whole ``packets``."""
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes((len(packet) % 255,))
    header = struct.pack(
        "<4sBBqIIIB", b"OggS", 0, flags, granule, OGG_SERIAL, sequence, 0, len(lacing)
    )
    page = header + bytes(lacing) + b"".join(packets)
    checksum = ogg_crc(page)
    return page[:22] + struct.pack("<I", checksum) + page[26:]


def _crc_table() -> tuple[int, ...]:
    """CRC-32 table for polynomial 0x04C11DB7, unreflected, as Ogg uses."""
    table = []
    for index in range(256):
        value = index << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
        table.append(value & 0xFFFFFFFF)
    return tuple(table)


CRC_TABLE: Final = _crc_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 (initial value 0, no final xor) of ``data``."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def new_stream(request: dict[str, object]) -> AudioStream:
    """Stream for a validated start request (defaults as the service applies them)."""
    audio_format = str(request.get("format", "mp3"))
    rate = request.get("sample_rate")
    sample_rate = rate if isinstance(rate, int) else DEFAULT_RATE[audio_format]
    if audio_format == "pcm":
        return PcmStream(sample_rate)
    if audio_format == "wav":
        return WavStream(sample_rate)
    if audio_format == "mp3":
        bitrate = request.get("mp3_bitrate", 128)
        return Mp3Stream(sample_rate, bitrate if isinstance(bitrate, int) else 128)
    return OpusStream()
