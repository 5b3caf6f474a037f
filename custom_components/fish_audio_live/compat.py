"""What differs between the Home Assistant releases we support (2026.6.0 to the newest).

A difference in API is detected by the feature itself (a parameter, an attribute), so a
backport or a beta behaves as it should; one in behaviour alone, by the version.
"""

from __future__ import annotations

from collections.abc import Mapping
import inspect
from typing import Any, Final

from awesomeversion import AwesomeVersion
from homeassistant import const as ha_const
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)

from .fishaudio.output import Source, ffmpeg_source

HA_VERSION: Final = AwesomeVersion(ha_const.__version__)

# HA 2026.11: preferred sample rate, channels, width and bitrate that the entity lists in
# supported_options no longer make HA convert with ffmpeg: the entity's audio must honour
# them exactly. Earlier releases convert whenever any of them is given.
HA_CONVERTS_DECLARED_PREFERENCES: Final = AwesomeVersion("2026.11.0b0") > HA_VERSION

# What HA's ffmpeg step starts on soonest on this release (the table in fishaudio/output.py).
HA_FFMPEG_SOURCE: Final[Source] = ffmpeg_source(ha_const.__version__)

# HA 2026.10: a subentry flow's update-reload-and-abort takes the abort reason, and without
# one names Home Assistant's generic text. Before, it always aborts with our translation of
# `reconfigure_successful` and takes no reason.
SUBENTRY_ABORT_TAKES_REASON: Final = (
    "reason" in inspect.signature(ConfigSubentryFlow.async_update_reload_and_abort).parameters
)


def async_update_subentry_reload_and_abort(
    flow: ConfigSubentryFlow,
    entry: ConfigEntry,
    subentry: ConfigSubentry,
    *,
    data: Mapping[str, Any],
    title: str,
    reason: str,
) -> SubentryFlowResult:
    """Update the subentry, reload the entry and end the flow with our own `reason`."""
    if SUBENTRY_ABORT_TAKES_REASON:
        return flow.async_update_reload_and_abort(
            entry, subentry, data=data, title=title, reason=reason
        )
    return update_reload_and_abort_fallback(
        flow, entry, subentry, data=data, title=title, reason=reason
    )


def update_reload_and_abort_fallback(
    flow: ConfigSubentryFlow,
    entry: ConfigEntry,
    subentry: ConfigSubentry,
    *,
    data: Mapping[str, Any],
    title: str,
    reason: str,
) -> SubentryFlowResult:
    """HA 2026.6: the helper's own steps (update, reload always), then our reason."""
    flow.hass.config_entries.async_update_subentry(entry, subentry, data=data, title=title)
    flow.hass.config_entries.async_schedule_reload(entry.entry_id)
    return flow.async_abort(reason=reason)
