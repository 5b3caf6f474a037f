"""Develop speaker: a media player that stores each clip it is sent.

Only for scripts/develop, so that `tts.speak` can be tried without a real
speaker. Each clip is saved to the media folder as develop_speaker/last.<ext>
(Media > My media plays it in the browser) and its size shows in the state.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from homeassistant.components import media_source, tts
from homeassistant.components.media_player import MediaPlayerEntity
from homeassistant.components.media_player.browse_media import BrowseMedia
from homeassistant.components.media_player.const import (
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.typing import ConfigType, DiscoveryInfoType

_LOGGER = logging.getLogger(__name__)
FOLDER = "develop_speaker"


async def async_setup_platform(
    hass: HomeAssistant,
    config: ConfigType,
    async_add_entities: AddEntitiesCallback,
    discovery_info: DiscoveryInfoType | None = None,
) -> None:
    """Add the one speaker."""
    async_add_entities([DevelopSpeaker()])


def _save(folder: Path, extension: str, audio: bytes) -> Path:
    """Write the clip (executor)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"last.{extension}"
    path.write_bytes(audio)
    return path


class DevelopSpeaker(MediaPlayerEntity):
    """Receives speech like a real speaker and keeps the last clip."""

    _attr_name = "Develop speaker"
    _attr_unique_id = "develop_speaker"
    _attr_state = MediaPlayerState.IDLE
    _attr_supported_features = (
        MediaPlayerEntityFeature.PLAY_MEDIA
        | MediaPlayerEntityFeature.BROWSE_MEDIA
        | MediaPlayerEntityFeature.MEDIA_ANNOUNCE
        | MediaPlayerEntityFeature.STOP
    )

    async def async_play_media(
        self, media_type: MediaType | str, media_id: str, **kwargs: Any
    ) -> None:
        """Fetch the clip as a real player would, store it and show its size."""
        if not media_id.startswith("media-source://tts/"):
            _LOGGER.info("Develop speaker was sent %s (not speech: not stored)", media_id)
            self._attr_media_title = media_id
        else:
            extension, audio = await tts.async_get_media_source_audio(self.hass, media_id)
            media = self.hass.config.media_dirs.get("local") or self.hass.config.path("media")
            path = await self.hass.async_add_executor_job(
                _save, Path(media) / FOLDER, extension, audio
            )
            _LOGGER.info("Develop speaker received %d bytes of %s: %s", len(audio), extension, path)
            self._attr_media_title = f"Speech: {len(audio) / 1024:.0f} kB {extension}, kept"
        self._attr_media_content_id = media_id
        self._attr_media_content_type = MediaType.MUSIC
        self._attr_state = MediaPlayerState.PLAYING
        self.async_write_ha_state()

    async def async_media_stop(self) -> None:
        """Back to idle."""
        self._attr_state = MediaPlayerState.IDLE
        self.async_write_ha_state()

    async def async_browse_media(
        self, media_content_type: MediaType | str | None = None, media_content_id: str | None = None
    ) -> BrowseMedia:
        """Offer HA's media sources, text to speech included."""
        return await media_source.async_browse_media(self.hass, media_content_id)
