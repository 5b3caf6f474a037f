"""Fish Audio Live: text-to-speech through Fish Audio's live WebSocket API."""

from __future__ import annotations

from homeassistant.const import CONF_API_KEY, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import (
    CONF_CLONE_FILE,
    CONF_KEEP_WARM,
    CONF_MAX_SESSIONS,
    CONF_MODEL,
    CONF_PRECONNECT,
    CONF_URL,
    DOMAIN,
)
from .fishaudio.client import DEFAULT_MAX_SESSIONS, FishAudioClient
from .fishaudio.errors import AuthenticationError, FishAudioError
from .fishaudio.urls import DEFAULT_URL
from .references import async_prune_clips
from .runtime import FishAudioConfigEntry, FishAudioRuntime

PLATFORMS: list[Platform] = [Platform.TTS]


async def async_setup_entry(hass: HomeAssistant, entry: FishAudioConfigEntry) -> bool:
    """Check the key, then set up one TTS entity per voice."""
    client = FishAudioClient(
        async_get_clientsession(hass),
        entry.data[CONF_API_KEY],
        entry.data.get(CONF_URL, DEFAULT_URL),
        keep_warm=entry.options.get(CONF_KEEP_WARM, False),
        preconnect=entry.options.get(CONF_PRECONNECT, True),
        max_sessions=int(entry.options.get(CONF_MAX_SESSIONS, DEFAULT_MAX_SESSIONS)),
    )
    try:
        account = await client.rest.account()
    except AuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="invalid_auth_setup"
        ) from err
    except FishAudioError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect_setup",
            translation_placeholders={"error": err.kind},
        ) from err
    await async_prune_clips(hass, _clips_in_use(hass))
    runtime = FishAudioRuntime(client=client, account=account)
    await runtime.async_refresh_voices(force=True)
    entry.runtime_data = runtime
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    client.start_warm(_first_model(entry))

    async def _on_stop(_: Event) -> None:
        # Streams end quietly and sockets close before HA's final shutdown stage.
        await client.aclose()

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _on_stop))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: FishAudioConfigEntry) -> bool:
    """Unload; running streams end quietly and their sockets close."""
    client = entry.runtime_data.client
    client.cancel_all()  # running streams end now, not when their text does
    if not await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        return False
    await client.aclose()
    return True


async def async_remove_entry(hass: HomeAssistant, entry: FishAudioConfigEntry) -> None:
    """Removing the account removes its clone clips too."""
    await async_prune_clips(hass, _clips_in_use(hass, without=entry.entry_id))


def _clips_in_use(hass: HomeAssistant, without: str | None = None) -> set[str]:
    """Clip files referenced by any voice of any account."""
    return {
        subentry.data[CONF_CLONE_FILE]
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.entry_id != without
        for subentry in entry.subentries.values()
        if subentry.data.get(CONF_CLONE_FILE)
    }


def _first_model(entry: FishAudioConfigEntry) -> str | None:
    """The model of the account's first voice: the one to keep a socket ready for."""
    for subentry in entry.subentries.values():
        if model := subentry.data.get(CONF_MODEL):
            return str(model)
    return None
