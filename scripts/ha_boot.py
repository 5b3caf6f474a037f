"""Boot a real, minimal Home Assistant core from this checkout (for scripts).

The same steps ``hass`` itself takes (``homeassistant.bootstrap``), minus the
default integrations (no frontend, recorder, ...): a ``HomeAssistant`` object on
a configuration folder, its registries and config entries, the ``homeassistant``
core integration, the core configuration, then only the components asked for,
set up with ``async_setup_component`` and then started.

The repo root is put on ``sys.path``, so ``custom_components`` (a namespace
package) resolves to this checkout's ``custom_components/``: the integration is
loaded straight from the working tree, nothing is copied or linked into the
configuration folder. ``async_integration_dir`` tells where HA really found it.

API (kept small on purpose; used by ``speak.py`` and benchmarks)::

    from ha_boot import running_hass            # scripts/ on sys.path (the default
                                                # when running scripts/<name>.py)
    async with running_hass() as hass:          # temporary config folder, tts set up
        ...                                     # stopped cleanly on exit
    # or step by step
    hass = await async_boot(config_dir, components=("tts",))   # BootError if it fails
    ...
    await async_shutdown(hass)
    folder = await async_integration_dir(hass, "fish_audio_live")  # where HA found it

Logging is left to the caller: without a handler, Python prints HA's warnings
(e.g. "FFmpeg fails": ffmpeg is not installed; harmless unless conversion is
needed) on stderr.

``http`` (a dependency of ``tts``) always binds to 127.0.0.1 on a free port, so
several booted cores never collide with each other or with ``scripts/develop``.
Pip installs are skipped: the venv provides every requirement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
import socket
import sys
import tempfile
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Home Assistant is imported after the path is set: its loader imports
# `custom_components` from sys.path.
from homeassistant import bootstrap, loader  # noqa: E402
from homeassistant.config_entries import ConfigEntries  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402
from homeassistant.core_config import async_process_ha_core_config  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402

__all__ = [
    "REPO_ROOT",
    "BootError",
    "async_boot",
    "async_integration_dir",
    "async_shutdown",
    "free_port",
    "running_hass",
]

CORE_CONFIG: dict[str, Any] = {
    "name": "Fish Audio Live (scripts)",
    "latitude": 52.37,
    "longitude": 4.89,
    "elevation": 0,
    "unit_system": "metric",
    "time_zone": "UTC",
    "language": "en",
    "country": "NL",
    "currency": "EUR",
}


class BootError(RuntimeError):
    """Home Assistant did not come up (a registry or component failed)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def async_boot(
    config_dir: Path,
    components: Sequence[str] = ("tts",),
    *,
    http_port: int | None = None,
) -> HomeAssistant:
    """Start a Home Assistant core on ``config_dir`` with ``components`` set up.

    Raises BootError when a component fails to set up (the core is stopped
    first). The caller must ``await async_shutdown(hass)`` when done.
    """
    hass = HomeAssistant(str(config_dir))
    loader.async_setup(hass)
    hass.config.skip_pip = True
    hass.config_entries = ConfigEntries(hass, {})
    try:
        await loader.async_get_custom_components(hass)
        if not await bootstrap.async_load_base_functionality(hass):
            raise BootError("Home Assistant could not load its registries")
        config: dict[str, Any] = {
            "homeassistant": CORE_CONFIG,
            "http": {"server_host": ["127.0.0.1"], "server_port": http_port or free_port()},
        }
        for domain in ("homeassistant", "persistent_notification"):
            await _async_setup(hass, domain, config)
        await async_process_ha_core_config(hass, CORE_CONFIG)
        for domain in components:
            await _async_setup(hass, domain, config)
        await hass.async_start()
    except BaseException:
        await async_shutdown(hass)
        raise
    return hass


async def _async_setup(hass: HomeAssistant, domain: str, config: dict[str, Any]) -> None:
    if not await async_setup_component(hass, domain, config):
        raise BootError(f"Home Assistant could not set up {domain}")


async def async_shutdown(hass: HomeAssistant) -> None:
    """Stop the core cleanly: unload entries, stop http, join the executor."""
    await hass.async_stop()


@asynccontextmanager
async def running_hass(
    config_dir: Path | None = None,
    components: Sequence[str] = ("tts",),
) -> AsyncIterator[HomeAssistant]:
    """A booted core for the ``async with`` block; a temporary folder by default."""
    temporary = tempfile.TemporaryDirectory(prefix="fish-ha-") if config_dir is None else None
    with temporary or nullcontext(str(config_dir)) as folder:
        hass = await async_boot(Path(folder), components)
        try:
            yield hass
        finally:
            await async_shutdown(hass)


async def async_integration_dir(hass: HomeAssistant, domain: str) -> Path:
    """The folder HA loaded ``domain`` from (e.g. to check it is this checkout)."""
    integration = await loader.async_get_integration(hass, domain)
    return Path(integration.file_path)
