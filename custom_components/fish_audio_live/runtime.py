"""Per-entry runtime state, and turning client errors into errors users can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
import time

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from .const import (
    BILLING_URL,
    DOMAIN,
    ISSUE_NO_CREDIT,
    VOICE_REFRESH_INTERVAL,
)
from .fishaudio.client import FishAudioClient
from .fishaudio.errors import (
    AuthenticationError,
    FishAudioError,
    InsufficientCreditError,
    InvalidSettingError,
    RateLimitError,
)
from .fishaudio.rest import Account, Voice
from .fishaudio.settings import FREE_MODEL

_LOGGER = logging.getLogger(__name__)

# After a failed listing, the next one is tried this much later (seconds), not hours.
VOICE_RETRY_AFTER = 60.0

type FishAudioConfigEntry = ConfigEntry[FishAudioRuntime]


@dataclass(slots=True)
class FishAudioRuntime:
    """What a loaded entry holds: the client, the account and its voices."""

    client: FishAudioClient
    account: Account
    voices: list[Voice] = field(default_factory=list)
    voices_fetched: float = 0.0

    async def async_refresh_voices(self, *, force: bool = False) -> None:
        """Fetch the account's own voices, at most every few hours."""
        if not force and time.monotonic() - self.voices_fetched < VOICE_REFRESH_INTERVAL:
            return
        self.voices_fetched = time.monotonic()
        try:
            page = await self.client.rest.voices(own=True, page_size=100)
        except FishAudioError as err:
            _LOGGER.debug("Could not list the account's voices: %s", err.kind)
            self.voices_fetched = time.monotonic() - VOICE_REFRESH_INTERVAL + VOICE_RETRY_AFTER
            return
        self.voices = list(page.items)


def user_error(
    hass: HomeAssistant, entry: FishAudioConfigEntry, err: FishAudioError
) -> HomeAssistantError:
    """Act on a client error (reauth, repair issue) and return a translated error."""
    if isinstance(err, AuthenticationError):
        entry.async_start_reauth(hass)
    elif isinstance(err, InsufficientCreditError):
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"{ISSUE_NO_CREDIT}_{entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_NO_CREDIT,
            translation_placeholders={
                "billing_url": BILLING_URL,
                "free_model": FREE_MODEL,
                "title": entry.title,
            },
        )
    placeholders = {"message": err.message or err.kind}
    if isinstance(err, RateLimitError):
        placeholders["retry_after"] = str(err.retry_after or "")
    if isinstance(err, InvalidSettingError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="invalid_option",
            translation_placeholders={"option": err.field, "allowed": err.allowed},
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=err.kind,
        translation_placeholders=placeholders,
    )


def clear_credit_issue(hass: HomeAssistant, entry: FishAudioConfigEntry) -> None:
    """A synthesis worked: the out-of-credit repair issue no longer applies."""
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_NO_CREDIT}_{entry.entry_id}")
