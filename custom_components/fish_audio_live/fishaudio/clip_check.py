"""Checks on an instant-clone clip before it is stored (no Home Assistant imports).

Fish Audio accepts the clip inline with every session, so a bad clip would only
show up as a failed synthesis much later; refusing it in the form is kinder.
Durations are measured for WAV only: the other formats would need a decoder
(mutagen is not a runtime dependency here), so for them type and size must do.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
import struct
from typing import Final

# Instant-clone clips: Fish recommends 10 to 30 s; refuse what cannot work.
CLONE_MAX_BYTES: Final = 10 * 1024 * 1024
CLONE_MIN_SECONDS: Final = 3.0
CLONE_MAX_SECONDS: Final = 90.0


class ClipError(Exception):
    """A clip that cannot be used; `reason` is the form's error key."""

    def __init__(self, reason: str) -> None:
        """Keep the translation key of the form error."""
        super().__init__(reason)
        self.reason = reason


def clip_kind(data: bytes) -> str | None:
    """The container by its magic bytes: wav, mp3, flac, ogg, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    # MP3: an ID3v2 tag, or straight into an MPEG frame (11 sync bits set).
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def wav_duration(data: bytes) -> float:
    """Seconds of audio in a RIFF/WAVE file, from its fmt and data chunks.

    Any encoding works (the byte rate is in the header). A streamed WAV may carry
    a placeholder data size, so the size is capped at the bytes actually present.
    """
    byte_rate: int | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            (byte_rate,) = struct.unpack_from("<I", data, body + 8)
        elif chunk_id == b"data":
            if not byte_rate:
                break
            return float(min(size, len(data) - body)) / byte_rate
        # Chunks are padded to an even length.
        offset = body + size + (size & 1)
    raise ClipError("clip_unreadable")


def check_clip(data: bytes, max_bytes: int = CLONE_MAX_BYTES) -> str:
    """Validate a clip's size, type and (for WAV) duration; return its kind."""
    if not data:
        raise ClipError("clip_unreadable")
    if len(data) > max_bytes:
        raise ClipError("clip_too_big")
    kind = clip_kind(data)
    if kind is None:
        raise ClipError("clip_wrong_type")
    if kind == "wav":
        seconds = wav_duration(data)
        if seconds < CLONE_MIN_SECONDS:
            raise ClipError("clip_too_short")
        if seconds > CLONE_MAX_SECONDS:
            raise ClipError("clip_too_long")
    return kind


def read_clip(path: Path, max_bytes: int = CLONE_MAX_BYTES) -> bytes:
    """Read and check a clip file (blocking: run it in the executor).

    The size is checked before reading so a huge file is never loaded.
    """
    try:
        if path.stat().st_size > max_bytes:
            raise ClipError("clip_too_big")
        data = path.read_bytes()
    except OSError as err:
        raise ClipError("clip_unreadable") from err
    check_clip(data, max_bytes)
    return data


def resolve_media_path(media_dirs: Iterable[str], raw: str) -> Path:
    """Find a file inside one of Home Assistant's media folders (blocking).

    `raw` is absolute, or relative to a media folder. Symlinks and `..` are
    resolved first, so nothing outside the media folders can be reached.
    """
    text = raw.strip()
    inside: list[Path] = []
    for folder in media_dirs:
        root = Path(folder).resolve()
        candidate = (root / text).resolve()  # an absolute path replaces root
        if candidate.is_relative_to(root):
            inside.append(candidate)
    if not inside:
        raise ClipError("media_path_outside")
    for candidate in inside:
        if candidate.is_file():
            return candidate
    # Inside the media folders, but no such file: a typo rather than a refusal.
    raise ClipError("clip_unreadable")
