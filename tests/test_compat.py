"""What differs between the Home Assistant releases we support, checked on the installed one.

scripts/test runs the suite on the oldest supported release and on the newest test plugin.
Each shim's native side runs where Home Assistant has the feature, its fallback on every
release; tests whose expectation depends on the release read it from `compat`, they are
never skipped for it.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from pathlib import Path
import shlex
import shutil
import struct
from typing import Any

from awesomeversion import AwesomeVersion
from homeassistant.components import tts
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.fish_audio_live import compat
from custom_components.fish_audio_live.const import CONF_REFERENCE_ID
from tests.emulator import FishEmulator

ENTITY = "tts.test_voice"
SATELLITE = {
    "preferred_format": "wav",
    "preferred_sample_rate": 16000,
    "preferred_sample_channels": 1,
    "preferred_sample_bytes": 2,
}


def test_flags_match_the_installed_release() -> None:
    installed = AwesomeVersion(importlib.metadata.version("homeassistant"))
    assert installed == compat.HA_VERSION
    # Checked in the wheels: 2026.6.0 to 2026.9.0 take no reason, 2026.10.4 and 2026.11.0 do.
    assert compat.SUBENTRY_ABORT_TAKES_REASON is (installed >= AwesomeVersion("2026.10.0b0"))
    assert compat.HA_CONVERTS_DECLARED_PREFERENCES is (AwesomeVersion("2026.11.0b0") > installed)


SUBENTRY_SIDES = [pytest.param(False, id="fallback")] + (
    [pytest.param(True, id="native")] if compat.SUBENTRY_ABORT_TAKES_REASON else []
)


@pytest.mark.parametrize("native", SUBENTRY_SIDES)
async def test_voice_reconfigure_ends_with_our_reason(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    emulator: FishEmulator,
    monkeypatch: pytest.MonkeyPatch,
    native: bool,
) -> None:
    """Saved, reloaded, and the abort names our own text (no other translation domain)."""
    monkeypatch.setattr(compat, "SUBENTRY_ABORT_TAKES_REASON", native)
    entry = setup_integration
    runtime = entry.runtime_data
    (subentry_id,) = entry.subentries
    result = await entry.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["step_id"] == "change_library"
    target = emulator.voices[3]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_REFERENCE_ID: target.id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert result.get("translation_domain") is None
    await hass.async_block_till_done()

    assert entry.subentries[subentry_id].data[CONF_REFERENCE_ID] == target.id
    assert entry.subentries[subentry_id].title == target.title
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime  # reloaded


@pytest.fixture
def ffmpeg_log(tmp_path: Path) -> tuple[Path, Path]:
    """An ffmpeg that records its arguments, then runs the real one."""
    real = shutil.which("ffmpeg")
    if real is None:
        pytest.skip("needs ffmpeg on PATH (scripts/setup provides one)")
    log = tmp_path / "ffmpeg.log"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {shlex.quote(real)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


async def test_declared_preferences_convert_only_before_2026_11(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    ffmpeg_log: tuple[Path, Path],
) -> None:
    """A satellite's request: the voice delivers its shape; HA converts it again only before 2026.11."""
    wrapper, log = ffmpeg_log
    assert await async_setup_component(hass, "ffmpeg", {"ffmpeg": {"ffmpeg_bin": str(wrapper)}})
    assert await async_setup_component(hass, "tts", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    audio = await _speak(hass, SATELLITE)
    conversions = (
        [line for line in log.read_text().splitlines() if line.endswith("pipe:1")]
        if log.exists()
        else []
    )
    assert bool(conversions) is compat.HA_CONVERTS_DECLARED_PREFERENCES
    # Either way the satellite gets what it asked for.
    assert audio[:4] == b"RIFF"
    assert audio[8:16] == b"WAVEfmt "
    channels, rate = struct.unpack_from("<HI", audio, 22)
    (bits,) = struct.unpack_from("<H", audio, 34)
    assert (rate, channels, bits) == (16000, 1, 16)


async def _speak(hass: HomeAssistant, options: dict[str, Any]) -> bytes:
    stream = tts.async_create_stream(hass, ENTITY, "en", options)
    stream.async_set_message("A satellite asks for its own format.")
    async with asyncio.timeout(10):
        return b"".join([chunk async for chunk in stream.async_stream_result()])
