"""Home Assistant side of the benchmark: entries, and the strategies it compares.

The core itself is booted by scripts/ha_boot.py (bootstrap's steps, minus the
default integrations). Entries are created through the integration's own
config flow, so the entity under test is exactly what a user gets.

Strategies other than the shipped entity are subclasses of it, added to the
integration's own entity platform, so every request goes through Home
Assistant's `tts` component in the same way.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
import re
import time
from typing import Any

from homeassistant import config_entries
from homeassistant.components.tts import TTSAudioResponse
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_platform
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from custom_components.fish_audio_live.const import (
    CONF_KEEP_WARM,
    CONF_MODEL,
    CONF_REFERENCE_ID,
    CONF_URL,
    DOMAIN,
)
from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.fishaudio.settings import SynthesisSettings
from custom_components.fish_audio_live.fishaudio.text_policy import FlushPolicy
from custom_components.fish_audio_live.tts import FishAudioTTSEntity

# Policy of the naive strategy: never flush; only `stop` or the server's own
# chunk_length cut make it speak.
NEVER_FLUSH = FlushPolicy(first_min_chars=10**9, first_max_chars=10**9, later_min_chars=10**9)

# Two silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, mono): the
# smallest clip mutagen accepts when HA writes its ID3 tags.
SILENT_MP3 = (b"\xff\xfb\x90\xc4" + bytes(413)) * 2

# A sentence is known to be complete once its end mark is followed by white
# space (a bare "." may still become "3.5"), as in text_policy; unlike the
# policy, ";" and ":" do not count: they end clauses, not sentences.
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|[。！？]")  # noqa: RUF001 - CJK full stops


async def create_entry(
    hass: HomeAssistant,
    url: str,
    api_key: str,
    voice_id: str,
    *,
    keep_warm: bool = False,
    options: dict[str, Any] | None = None,
) -> config_entries.ConfigEntry[Any]:
    """Add an account through the config flow (as a user would), then set its options."""
    flow = hass.config_entries.flow
    result = await flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    result = await flow.async_configure(result["flow_id"], {CONF_API_KEY: api_key, CONF_URL: url})
    result = await flow.async_configure(
        result["flow_id"], {CONF_REFERENCE_ID: voice_id, CONF_MODEL: "s2.1-pro"}
    )
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        raise RuntimeError(f"config flow did not create an entry: {result}")
    entry = result["result"]
    options = {**(options or {}), **({CONF_KEEP_WARM: True} if keep_warm else {})}
    if options:
        hass.config_entries.async_update_entry(entry, options=options)
        await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def entity_of(hass: HomeAssistant, entry: config_entries.ConfigEntry[Any]) -> FishAudioTTSEntity:
    """The shipped TTS entity of `entry`."""
    platform = _platform(hass, entry)
    entity = next(iter(platform.entities.values()))
    assert isinstance(entity, FishAudioTTSEntity)
    return entity


def _platform(
    hass: HomeAssistant, entry: config_entries.ConfigEntry[Any]
) -> entity_platform.EntityPlatform:
    # The platform that holds the entity: after a reload HA 2026.6 may list an empty one first.
    for platform in reversed(entity_platform.async_get_platforms(hass, DOMAIN)):
        if platform.domain == "tts" and platform.config_entry is entry and platform.entities:
            return platform
    raise RuntimeError("the integration's tts platform is not loaded")


class _Variant(FishAudioTTSEntity):
    """A strategy under test: the shipped entity with another way to stream."""

    key = "variant"

    def __init__(
        self, entry: Any, subentry: ConfigSubentry, client: FishAudioClient, name: str
    ) -> None:
        """Same entry, voice and defaults as the shipped entity; its own client."""
        super().__init__(entry, subentry, ())
        self.client = client
        self._attr_unique_id = f"{subentry.subentry_id}_{name}"
        self._attr_device_info = None
        self._attr_has_entity_name = False
        self._attr_name = f"bench {name}"
        self.entity_id = f"tts.bench_{name}"

    def async_supports_streaming_input(self) -> bool:
        """Streaming, but no pre-connect: the variants stand for other clients."""
        return True

    async def async_will_remove_from_hass(self) -> None:
        """Close the client's warm socket, if any, with the entity."""
        await super().async_will_remove_from_hass()
        await self.client.aclose()


class CollectThenSynthesize(_Variant):
    """(b) Wait for the whole reply, then one request: what core's fish_audio does."""

    key = "collect"

    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """Join all text before opening anything."""
        settings, plan = self._settings(request.options)
        return TTSAudioResponse(plan.extension, self._collect(settings, request.message_gen))

    async def _collect(
        self, settings: SynthesisSettings, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        whole = "".join([piece async for piece in text])
        async for chunk in self.client.stream(settings, _once(whole)):
            yield chunk


class NaivePassThrough(_Variant):
    """(c) Forward deltas as they come, connect on the first text, flush only at stop."""

    key = "naive"

    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """Connect lazily: only once the first text is there."""
        settings, plan = self._settings(request.options)
        return TTSAudioResponse(plan.extension, self._lazy(settings, request.message_gen))

    async def _lazy(
        self, settings: SynthesisSettings, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        pieces = aiter(text)
        first = await anext(pieces)
        async for chunk in self.client.stream(settings, _prepend(first, pieces)):
            yield chunk


class SentenceProbe(_Variant):
    """(d) No synthesis: records when the entity holds the first complete sentence."""

    key = "limit"

    def __init__(
        self, entry: Any, subentry: ConfigSubentry, client: FishAudioClient, name: str
    ) -> None:
        """No socket is ever opened; the client is unused."""
        super().__init__(entry, subentry, client, name)
        self.sentence_at: list[float] = []

    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """Read the text like a synthesizer would; yield only a silent clip."""
        return TTSAudioResponse("mp3", self._watch(request.message_gen))

    async def _watch(self, text: AsyncIterable[str]) -> AsyncGenerator[bytes]:
        held = ""
        seen = False
        async for piece in text:
            held += piece
            if not seen and _SENTENCE_END.search(held):
                self.sentence_at.append(time.monotonic())
                seen = True
        if not seen:  # the whole text is one sentence: complete when it ends
            self.sentence_at.append(time.monotonic())
        # A valid (silent) clip, so HA's file cache can tag it like any other.
        yield SILENT_MP3


class PolicyVariant(_Variant):
    """The shipped streaming path with another text policy (for the tuning sweep)."""

    key = "policy"

    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """As shipped: open at once, feed text while audio flows."""
        settings, plan = self._settings(request.options)
        return TTSAudioResponse(plan.extension, self._stream_now(settings, request.message_gen))

    async def _stream_now(
        self, settings: SynthesisSettings, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        async for chunk in self.client.stream(settings, text):
            yield chunk


async def add_variant[V: _Variant](
    hass: HomeAssistant,
    entry: config_entries.ConfigEntry[Any],
    kind: type[V],
    *,
    api_key: str,
    policy: FlushPolicy | None = None,
    keep_warm: bool = False,
    suffix: str | None = None,
) -> V:
    """Add a strategy entity next to the shipped one, with its own client and account."""
    subentry = next(iter(entry.subentries.values()))
    client = FishAudioClient(
        async_get_clientsession(hass),
        api_key,
        entry.data[CONF_URL],
        policy=policy,
        keep_warm=keep_warm,
    )
    entity = kind(entry, subentry, client, suffix or kind.key)
    await _platform(hass, entry).async_add_entities([entity])
    client.start_warm()
    return entity


async def _once(text: str) -> AsyncIterator[str]:
    yield text


async def _prepend(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for piece in rest:
        yield piece
