"""Diagnostics: the entry, its voices and recent session figures, secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from .const import CONF_CLONE_TEXT
from .runtime import FishAudioConfigEntry

TO_REDACT = {CONF_API_KEY, CONF_CLONE_TEXT, "user_id", "unique_id", "title"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: FishAudioConfigEntry
) -> dict[str, Any]:
    """Return what helps debug a report, and nothing secret."""
    runtime = entry.runtime_data
    client = runtime.client
    return {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
        "account": {"credit": runtime.account.credit, "own_voices": len(runtime.voices)},
        "voices": [
            {
                "subentry_id": subentry.subentry_id,
                "type": subentry.subentry_type,
                "data": async_redact_data(dict(subentry.data), TO_REDACT),
            }
            for subentry in entry.subentries.values()
        ],
        "sessions": {
            "active": client.active_sessions,
            "waiting": client.waiting,
            "free": client.slots.free,
            "recent": [stats.as_dict() for stats in client.recent],
        },
        "standby": {
            "preconnect": client.preconnect_enabled,
            "keep_warm": client.keep_warm,
            "pending_models": client.standby.models,
            **asdict(client.standby.stats),
        },
    }
