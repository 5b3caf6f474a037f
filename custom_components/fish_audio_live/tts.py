"""The Fish Audio Live TTS entity: one per configured voice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
import contextlib
import logging
from typing import Any

from homeassistant.components.tts import (
    ATTR_PREFERRED_FORMAT,
    ATTR_PREFERRED_SAMPLE_BYTES,
    ATTR_PREFERRED_SAMPLE_CHANNELS,
    ATTR_PREFERRED_SAMPLE_RATE,
    ATTR_VOICE,
    TextToSpeechEntity,
    TTSAudioResponse,
    TtsAudioType,
    Voice as TtsVoice,
)
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .compat import HA_CONVERTS_DECLARED_PREFERENCES, HA_FFMPEG_SOURCE
from .const import (
    CONF_CHUNK_LENGTH,
    CONF_CLEAN_TEXT,
    CONF_CLONE_FILE,
    CONF_FILL_SILENCE,
    CONF_FORMAT,
    CONF_LATENCY,
    CONF_MODEL,
    CONF_MP3_BITRATE,
    CONF_NORMALIZE,
    CONF_REFERENCE_ID,
    CONF_SAMPLE_RATE,
    CONF_SPEED,
    CONF_TEMPERATURE,
    CONF_TITLE,
    CONF_TOP_P,
    CONF_VOLUME,
    DEFAULTS,
    DOMAIN,
    MANUFACTURER,
    SUBENTRY_TTS,
    SUPPORTED_LANGUAGES,
)
from .fishaudio.errors import (
    EmptyTextError,
    FishAudioError,
    InvalidRequestError,
    InvalidSettingError,
    SynthesisError,
    VoiceNotFoundError,
)
from .fishaudio.output import OutputPlan, plan_output
from .fishaudio.settings import DEFAULT_MODEL, SynthesisSettings, voice_id_from_input
from .fishaudio.text_clean import clean_stream, clean_text
from .references import async_load_references
from .runtime import FishAudioConfigEntry, clear_credit_issue, user_error

_LOGGER = logging.getLogger(__name__)

# The client caps parallel live sessions per account; HA need not serialise.
PARALLEL_UPDATES = 0

# Identifies a clone's clip in the default options, and so in HA's cache key. Not in
# the supported options: a call cannot set it.
OPTION_CLONE = "clone"

# How long to wait for the first words before opening the socket anyway (seconds).
FIRST_WORDS_GRACE = 0.05

# Preferences that, before HA 2026.11, make HA run ffmpeg whatever the entity sends.
_SAMPLE_PREFERENCES = (
    ATTR_PREFERRED_SAMPLE_RATE,
    ATTR_PREFERRED_SAMPLE_CHANNELS,
    ATTR_PREFERRED_SAMPLE_BYTES,
    "preferred_bitrate",
)
# Formats a voice or a call may name: raw PCM has no container HA could convert from.
_ENTITY_FORMATS = ("mp3", "wav", "opus")

_OPTION_FIELDS: dict[str, tuple[str, type]] = {
    CONF_MODEL: ("model", str),
    CONF_LATENCY: ("latency", str),
    CONF_FORMAT: ("format", str),
    CONF_SAMPLE_RATE: ("sample_rate", int),
    CONF_MP3_BITRATE: ("mp3_bitrate", int),
    CONF_SPEED: ("speed", float),
    CONF_VOLUME: ("volume", float),
    CONF_TEMPERATURE: ("temperature", float),
    CONF_TOP_P: ("top_p", float),
    CONF_CHUNK_LENGTH: ("chunk_length", int),
    CONF_NORMALIZE: ("normalize", bool),
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FishAudioConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one entity per voice subentry."""
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_TTS:
            continue
        try:
            references = await async_load_references(hass, subentry)
        except OSError:
            # One lost clip must not take the account's other voices down with it.
            _LOGGER.warning(
                "The clip of voice %s is missing; that voice is skipped", subentry.title
            )
            continue
        async_add_entities(
            [FishAudioTTSEntity(entry, subentry, references)],
            config_subentry_id=subentry.subentry_id,
        )


class FishAudioTTSEntity(TextToSpeechEntity):
    """Speaks through one configured Fish Audio voice over the live socket."""

    # TTS engines must have a name of their own (HA refuses a None engine name), and
    # with has_entity_name that name would be repeated after the device's: the
    # voice's title alone names the entity (tts.<title>) and its device.
    _attr_has_entity_name = False
    _attr_translation_key = "voice"  # for the icon in icons.json
    _attr_supported_languages = SUPPORTED_LANGUAGES
    _attr_supported_options = [
        ATTR_VOICE,
        *_OPTION_FIELDS,
        ATTR_PREFERRED_FORMAT,
        ATTR_PREFERRED_SAMPLE_RATE,
        ATTR_PREFERRED_SAMPLE_CHANNELS,
        ATTR_PREFERRED_SAMPLE_BYTES,
    ]

    def __init__(
        self,
        entry: FishAudioConfigEntry,
        subentry: ConfigSubentry,
        references: tuple[Any, ...],
    ) -> None:
        """Set up from the account entry and the voice subentry."""
        self._entry = entry
        self._subentry = subentry
        self._references = references
        data = subentry.data
        self._attr_unique_id = subentry.subentry_id
        self._attr_name = data.get(CONF_TITLE) or subentry.title
        self._attr_default_language = "en"
        defaults: dict[str, Any] = {**DEFAULTS, CONF_MODEL: DEFAULT_MODEL}
        defaults.update({key: data[key] for key in _OPTION_FIELDS if data.get(key) is not None})
        if data.get(CONF_REFERENCE_ID):
            defaults[ATTR_VOICE] = data[CONF_REFERENCE_ID]
        if data.get(CONF_CLONE_FILE):
            # Part of HA's cache key: a new clip must not replay audio of the old one.
            defaults[OPTION_CLONE] = data[CONF_CLONE_FILE]
        self._attr_default_options = defaults
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=self._attr_name,
            manufacturer=MANUFACTURER,
            model=data.get(CONF_MODEL, DEFAULT_MODEL),
            entry_type=DeviceEntryType.SERVICE,
        )

    async def async_added_to_hass(self) -> None:
        """Default to Home Assistant's language when the voice can speak it."""
        await super().async_added_to_hass()
        if self.hass.config.language in SUPPORTED_LANGUAGES:
            self._attr_default_language = self.hass.config.language

    @callback
    def async_supports_streaming_input(self) -> bool:
        """Yes; and since HA asks as a conversation starts, open the socket now.

        An Assist pipeline creates its speech stream while it prepares, before the
        wake word, speech-to-text and the agent: the handshake is hidden by them.
        """
        model = str((self.default_options or {}).get(CONF_MODEL) or DEFAULT_MODEL)
        self._entry.runtime_data.client.preconnect(model)
        return True

    @callback
    def async_get_supported_voices(self, language: str) -> list[TtsVoice] | None:
        """List this voice and the account's own voices, whatever the language."""
        runtime = self._entry.runtime_data
        voices: dict[str, str] = {}
        if own := self._subentry.data.get(CONF_REFERENCE_ID):
            voices[own] = self._subentry.data.get(CONF_TITLE) or self._subentry.title
        for voice in runtime.voices:
            voices.setdefault(voice.id, voice.title)
        self.hass.async_create_background_task(
            runtime.async_refresh_voices(), "fish_audio_live_refresh_voices"
        )
        return [TtsVoice(voice_id, name) for voice_id, name in voices.items()] or None

    async def async_speak(
        self,
        media_player_entity_id: list[str],
        message: str,
        cache: bool,
        language: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Check the message and options before a media player is asked to play."""
        if not self._clean(message).strip():
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="empty_message")
        self._settings({**(self.default_options or {}), **(options or {})})
        await super().async_speak(media_player_entity_id, message, cache, language, options)

    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> TtsAudioType:
        """Synthesize a whole message into one complete file."""
        if not message.strip():
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="empty_message")
        settings, plan = self._settings(options)
        try:
            data = await self._entry.runtime_data.client.synthesize(settings, self._clean(message))
        except FishAudioError as err:
            raise await self._user_error(err, settings) from err
        clear_credit_issue(self.hass, self._entry)
        return plan.extension, data

    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """Stream: audio flows while the text is still arriving."""
        settings, plan = self._settings(request.options)
        return TTSAudioResponse(plan.extension, self._stream(settings, request.message_gen))

    async def _stream(
        self, settings: SynthesisSettings, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        # Home Assistant's callers hold the first words when they call (a one-shot
        # message, or a pipeline's first 60+ characters), so we wait for them: blank
        # text never opens a session. Text that is slow to start (a caller still
        # thinking) does not wait: the socket opens meanwhile, hiding the handshake.
        # Cleaned first: text that cleans to nothing ("👍") is empty text, found before
        # any socket opens.
        if self._entry.options.get(CONF_CLEAN_TEXT, True):
            text = clean_stream(text)
        pieces = aiter(text)
        first = asyncio.ensure_future(_leading(pieces))
        try:
            done, _ = await asyncio.wait({first}, timeout=FIRST_WORDS_GRACE)
            words = _chain(first.result(), pieces) if done else _later(first, pieces)
            audio = self._entry.runtime_data.client.stream(
                settings, words, fill_silence=self._entry.options.get(CONF_FILL_SILENCE, True)
            )
            async with contextlib.aclosing(audio):
                async for chunk in audio:
                    yield chunk
        except EmptyTextError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="empty_message"
            ) from err
        except FishAudioError as err:
            raise await self._user_error(err, settings) from err
        finally:
            if not first.done():
                first.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await first
        clear_credit_issue(self.hass, self._entry)

    def _settings(self, options: Mapping[str, Any]) -> tuple[SynthesisSettings, OutputPlan]:
        """Validated settings and output plan of a call; ServiceValidationError if bad."""
        values: dict[str, Any] = {}
        try:
            for option, (name, kind) in _OPTION_FIELDS.items():
                if options.get(option) is not None:
                    values[name] = _coerce(option, options[option], kind)
            if values.get("format", "mp3") not in _ENTITY_FORMATS:
                raise InvalidSettingError("format", values["format"], "/".join(_ENTITY_FORMATS))
            SynthesisSettings(**values).validate()  # the stored or asked-for values first
            plan = plan_output(
                values.get("format", "mp3"),
                values.get("sample_rate"),
                preferred_format=_preference(options, ATTR_PREFERRED_FORMAT, str),
                preferred_rate=_preference(options, ATTR_PREFERRED_SAMPLE_RATE, int),
                preferred_channels=_preference(options, ATTR_PREFERRED_SAMPLE_CHANNELS, int),
                preferred_width=_preference(options, ATTR_PREFERRED_SAMPLE_BYTES, int),
                converted_anyway=HA_CONVERTS_DECLARED_PREFERENCES
                and any(options.get(name) is not None for name in _SAMPLE_PREFERENCES),
                source=HA_FFMPEG_SOURCE,
            )
            values.update(self._voice(options))
            values.update(format=plan.format, sample_rate=plan.sample_rate, pcm=plan.pcm)
            return SynthesisSettings(**values).validate(), plan
        except InvalidSettingError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_option",
                translation_placeholders={"option": err.field, "allowed": err.allowed},
            ) from err

    def _clean(self, message: str) -> str:
        return clean_text(message) if self._entry.options.get(CONF_CLEAN_TEXT, True) else message

    def _voice(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The voice of a call: a per-call `voice`, else the configured one or clone."""
        configured = self._subentry.data.get(CONF_REFERENCE_ID)
        voice = options.get(ATTR_VOICE)
        if voice is not None and not isinstance(voice, str):
            raise InvalidSettingError("voice", voice, "a voice id")
        if voice and voice != configured:
            return {"reference_id": voice_id_from_input(voice)}
        if self._references and not configured:
            return {"references": self._references}
        return {"reference_id": configured or None}

    async def _user_error(
        self, err: FishAudioError, settings: SynthesisSettings
    ) -> HomeAssistantError:
        """Translate a failure; say so precisely when the voice does not exist."""
        if isinstance(err, SynthesisError | InvalidRequestError) and settings.reference_id:
            try:
                await self._entry.runtime_data.client.rest.voice(settings.reference_id)
            except VoiceNotFoundError as lookup:
                err = lookup
            except FishAudioError:
                pass
        if isinstance(err, VoiceNotFoundError):
            return HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="voice_not_found",
                translation_placeholders={"voice": str(settings.reference_id)},
            )
        _LOGGER.debug("Synthesis failed: %s (%s)", err.kind, err.message)
        return user_error(self.hass, self._entry, err)


def _coerce(option: str, value: Any, kind: type) -> Any:
    """Accept strings from YAML and the UI; refuse what does not convert."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise InvalidSettingError(option, value, "true or false")
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise InvalidSettingError(option, value, kind.__name__) from err


def _preference[T: (int, str)](options: Mapping[str, Any], name: str, kind: type[T]) -> T | None:
    """A caller's preferred value, or None when absent or unusable (a hint, not an order)."""
    value = options.get(name)
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


async def _leading(pieces: AsyncIterator[str]) -> str:
    """Collect pieces up to the first one that is not blank."""
    head = ""
    async for piece in pieces:
        head += piece
        if piece.strip():
            return head
    raise EmptyTextError("nothing to say")


async def _chain(head: str, rest: AsyncIterator[str]) -> AsyncGenerator[str]:
    yield head
    async for piece in rest:
        yield piece


async def _later(first: asyncio.Future[str], rest: AsyncIterator[str]) -> AsyncGenerator[str]:
    """The slow case: the session is already opening while the first words come."""
    async for piece in _chain(await first, rest):
        yield piece
