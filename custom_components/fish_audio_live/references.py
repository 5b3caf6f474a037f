"""Instant-clone reference clips kept in Home Assistant's storage folder."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import STORAGE_DIR

from .const import CLONE_STORAGE_DIR, CONF_CLONE_FILE, CONF_CLONE_TEXT
from .fishaudio.settings import ReferenceClip


def clip_path(hass: HomeAssistant, name: str) -> Path:
    """Where a stored clip lives: <config>/.storage/fish_audio_live/<name>."""
    return Path(hass.config.path(STORAGE_DIR, CLONE_STORAGE_DIR, Path(name).name))


async def async_store_clip(hass: HomeAssistant, name: str, audio: bytes) -> None:
    """Keep a clip in storage (written in the executor)."""
    path = clip_path(hass, name)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(audio)

    await hass.async_add_executor_job(write)


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
