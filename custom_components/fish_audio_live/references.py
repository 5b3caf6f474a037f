"""Instant-clone reference clips kept in Home Assistant's storage folder."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import STORAGE_DIR

from .const import CLONE_STORAGE_DIR, CONF_CLONE_FILE, CONF_CLONE_TEXT
from .fishaudio.settings import ReferenceClip

_LOGGER = logging.getLogger(__name__)

# A clone's clip rides along in the `start` of every session: stored as mono
# 24 kHz MP3 at 64 kbit/s (ample for a voice), a 90 s clip is about 0.7 MB
# instead of up to 10 MB. It is not trimmed: Fish wants the exact transcript of
# the whole clip, and a cut clip would no longer match it.
COMPACT_ARGS = ("-ac", "1", "-ar", "24000", "-b:a", "64k", "-f", "mp3")
COMPACT_TIMEOUT = 60.0


def clip_path(hass: HomeAssistant, name: str) -> Path:
    """Where a stored clip lives: <config>/.storage/fish_audio_live/<name>."""
    return Path(hass.config.path(STORAGE_DIR, CLONE_STORAGE_DIR, Path(name).name))


async def async_store_clip(hass: HomeAssistant, name: str, audio: bytes) -> None:
    """Keep a clip in storage, compacted (written in the executor)."""
    audio = await async_compact_clip(hass, audio)
    path = clip_path(hass, name)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(audio)

    await hass.async_add_executor_job(write)


async def async_compact_clip(hass: HomeAssistant, audio: bytes) -> bytes:
    """The clip as mono 24 kHz MP3 through HA's ffmpeg; as it was if that fails or grows."""
    command = (get_ffmpeg_manager(hass).binary, "-hide_banner", "-loglevel", "error")
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            *("-i", "pipe:0", *COMPACT_ARGS, "pipe:1"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as err:
        _LOGGER.debug("Clip kept as uploaded: ffmpeg did not start (%s)", err)
        return audio
    try:
        async with asyncio.timeout(COMPACT_TIMEOUT):
            compact, _ = await process.communicate(audio)
    except TimeoutError:
        process.kill()
        await process.wait()
        compact = b""
    if process.returncode != 0 or not compact or len(compact) >= len(audio):
        _LOGGER.debug("Clip kept as uploaded (ffmpeg exit %s)", process.returncode)
        return audio
    return compact


async def async_remove_clip(hass: HomeAssistant, name: str) -> None:
    """Delete a stored clip, if it is there."""
    path = clip_path(hass, name)
    await hass.async_add_executor_job(lambda: path.unlink(missing_ok=True))


async def async_load_references(
    hass: HomeAssistant, subentry: ConfigSubentry
) -> tuple[ReferenceClip, ...]:
    """The clone clip of a voice subentry, or nothing for a library voice."""
    name = subentry.data.get(CONF_CLONE_FILE)
    if not name:
        return ()
    path = clip_path(hass, name)
    audio = await hass.async_add_executor_job(path.read_bytes)
    return (ReferenceClip(audio=audio, text=subentry.data.get(CONF_CLONE_TEXT, "")),)


async def async_prune_clips(hass: HomeAssistant, keep: set[str]) -> None:
    """Delete stored clips no voice uses any more (a removed clone voice)."""
    folder = Path(hass.config.path(STORAGE_DIR, CLONE_STORAGE_DIR))

    def prune() -> None:
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            if path.is_file() and path.name not in keep:
                path.unlink(missing_ok=True)

    await hass.async_add_executor_job(prune)
