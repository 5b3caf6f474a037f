"""Config flow: the account (API key and server), and its voices as subentries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from functools import partial
import logging
from pathlib import PurePath
from typing import Any, override
from urllib.parse import urlsplit
from uuid import uuid4

from homeassistant.components.file_upload import process_uploaded_file
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
    OptionsFlowWithReload,
    SubentryFlowResult,
)
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    FileSelector,
    FileSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .compat import async_update_subentry_reload_and_abort
from .const import (
    API_KEYS_URL,
    CONF_CHUNK_LENGTH,
    CONF_CLEAN_TEXT,
    CONF_CLONE_FILE,
    CONF_CLONE_TEXT,
    CONF_FILL_SILENCE,
    CONF_FORMAT,
    CONF_KEEP_WARM,
    CONF_LATENCY,
    CONF_MAX_SESSIONS,
    CONF_MODEL,
    CONF_NORMALIZE,
    CONF_PRECONNECT,
    CONF_REFERENCE_ID,
    CONF_SAMPLE_RATE,
    CONF_SPEED,
    CONF_TEMPERATURE,
    CONF_TITLE,
    CONF_TOP_P,
    CONF_URL,
    CONF_VOLUME,
    DEFAULTS,
    DOMAIN,
    SUBENTRY_TTS,
)
from .fishaudio.client import DEFAULT_MAX_SESSIONS
from .fishaudio.clip_check import (
    CLONE_MAX_BYTES,
    CLONE_MAX_SECONDS,
    CLONE_MIN_SECONDS,
    ClipError,
    read_clip,
    resolve_media_path,
)
from .fishaudio.errors import (
    AuthenticationError,
    FishAudioError,
    InvalidRequestError,
    InvalidResponseError,
    InvalidSettingError,
)
from .fishaudio.models import retirement
from .fishaudio.rest import Account, RestApi, Voice, VoicePage
from .fishaudio.settings import (
    DEFAULT_MODEL,
    LATENCIES,
    MODELS,
    SAMPLE_RATES,
    SynthesisSettings,
    is_voice_id,
    voice_id_from_input,
)
from .fishaudio.urls import DEFAULT_URL, UnsafeUrlError, normalize_url
from .references import async_remove_clip, async_store_clip

_LOGGER = logging.getLogger(__name__)

ENTRY_TITLE = "Fish Audio"
# Key characters shown in the entry title, so two accounts can be told apart.
KEY_SUFFIX_CHARS = 4
CONF_CLONE_AUDIO = "clone_audio"  # an uploaded file (file_upload id)
CONF_MEDIA_PATH = "media_path"  # or a file in HA's media folders
CONF_VOICE_LINK = "voice_link"  # a pasted voice id or fish.audio link, beside the picker
STEP_LIBRARY = "library"
STEP_CLONE = "clone"
# Changing a voice: the same forms as adding one, titled and worded as changes.
STEP_CHANGE_LIBRARY = "change_library"
STEP_CHANGE_CLONE = "change_clone"
CONF_CLONE_NAME = "clone_name"  # the stored clip's file name as the user gave it

# pcm has no container: nothing could play it, so it is not offered here.
FORM_FORMATS = ("mp3", "wav", "opus")
FORM_SAMPLE_RATES = sorted({rate for fmt in FORM_FORMATS for rate in SAMPLE_RATES[fmt]})

# Which form error a client error becomes, first match wins; else cannot_connect.
# On the credit endpoint a 4xx other than 401/403 means the path does not exist:
# whatever answered is not Fish Audio.
_ACCOUNT_ERRORS: tuple[tuple[type[FishAudioError], str], ...] = (
    (AuthenticationError, "invalid_auth"),
    (InvalidRequestError, "not_fish_audio"),
    (InvalidResponseError, "not_fish_audio"),
)
_VOICE_ERRORS: tuple[tuple[type[FishAudioError], str], ...] = (
    (AuthenticationError, "invalid_auth"),
    (InvalidRequestError, "voice_not_found"),
    (InvalidResponseError, "not_fish_audio"),
)
# Longest voice description shown in the picker, in characters.
DESCRIPTION_CHARS = 60
# Settings errors that the form's selectors cannot prevent.
_SETTING_ERRORS = {CONF_MODEL: "model_required", CONF_SAMPLE_RATE: "invalid_sample_rate"}


class _FormError(Exception):
    """A check failed: show `reason` on `field` (or "base") and the form again."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.errors = {field: reason}


def _error_reason(err: FishAudioError, table: tuple[tuple[type[FishAudioError], str], ...]) -> str:
    return next((reason for kind, reason in table if isinstance(err, kind)), "cannot_connect")


def _key(user_input: Mapping[str, Any]) -> str:
    """The API key as typed, without the blanks pasting tends to add."""
    return str(user_input[CONF_API_KEY]).strip()


def _entry_title(url: str, api_key: str) -> str:
    """Title an entry "Fish Audio (key …abcd)", with the host when not Fish's cloud."""
    where = "" if url == DEFAULT_URL else f"{urlsplit(url).netloc}, "
    return f"{ENTRY_TITLE} ({where}key …{api_key[-KEY_SUFFIX_CHARS:]})"


def _rest(hass: HomeAssistant, url: str, api_key: str) -> RestApi:
    return RestApi(async_get_clientsession(hass), url, api_key)


async def _async_check_account(hass: HomeAssistant, url: str, api_key: str) -> tuple[str, Account]:
    """Check the server URL, then the key against it; return the tidied URL and account.

    Raises _FormError when either fails.
    """
    if "://" not in url and url.strip() and not any(char.isspace() for char in url.strip()):
        # "127.0.0.1:8765" would otherwise read as a scheme and be called invalid.
        raise _FormError(CONF_URL, "missing_scheme")
    try:
        # Before any network use: the key must never go to an unsafe URL.
        url = normalize_url(url)
    except UnsafeUrlError as err:
        raise _FormError(CONF_URL, err.reason) from err
    try:
        return url, await _rest(hass, url, api_key).account()
    except FishAudioError as err:
        raise _FormError("base", _error_reason(err, _ACCOUNT_ERRORS)) from err
    except Exception as err:
        _LOGGER.exception("Unexpected error while checking the Fish Audio API key")
        raise _FormError("base", "unknown") from err


def _chosen_voice(user_input: Mapping[str, Any]) -> tuple[str, str]:
    """The field the voice came from and its raw value: a pasted link wins over the list."""
    for field in (CONF_VOICE_LINK, CONF_REFERENCE_ID):
        if raw := str(user_input.get(field) or "").strip():
            return field, raw
    raise _FormError(CONF_REFERENCE_ID, "voice_required")


async def _async_check_voice(api: RestApi, user_input: Mapping[str, Any]) -> Voice:
    """Look up the chosen voice (picked, or pasted as an id or voice page URL)."""
    field, raw = _chosen_voice(user_input)
    voice_id = voice_id_from_input(raw)
    if not is_voice_id(voice_id):
        # Not even shaped like an id: no need to ask the server.
        raise _FormError(
            field, "invalid_voice_link" if field == CONF_VOICE_LINK else "voice_not_found"
        )
    try:
        voice = await api.voice(voice_id)
    except FishAudioError as err:
        reason = _error_reason(err, _VOICE_ERRORS)
        raise _FormError(field if reason == "voice_not_found" else "base", reason) from err
    except Exception as err:
        _LOGGER.exception("Unexpected error while looking up a Fish Audio voice")
        raise _FormError("base", "unknown") from err
    if not voice.can_speak:
        raise _FormError(field, "voice_not_ready")
    return voice


def _check_model(model: str, confirmed: str | None) -> None:
    """Ask once about a model name we do not know.

    Fish speaks an unknown name with its fallback model and bills that, so a typo
    would go unnoticed; the same name submitted again is taken as meant.
    """
    if retirement(model) is not None:
        # Fish serves a retired name with another model and bills that: never stored anew.
        raise _FormError(CONF_MODEL, "retired_model")
    if model not in MODELS and model != confirmed:
        raise _FormError(CONF_MODEL, "unknown_model")


def _voice_label(voice: Voice, *, own: bool) -> str:
    """What the picker shows: the name, its languages, and a short description."""
    details = [", ".join(voice.languages)] if voice.languages else []
    if own:
        details.append("your voice")
    label = f"{voice.title} ({'; '.join(details)})" if details else voice.title
    if description := " ".join(voice.description.split()):
        if len(description) > DESCRIPTION_CHARS:
            description = description[: DESCRIPTION_CHARS - 1].rstrip() + "…"
        label = f"{label}: {description}"
    return label


async def _async_voice_options(
    api: RestApi, known: Mapping[str, str] | None = None
) -> tuple[list[SelectOptionDict], str | None]:
    """The account's own voices, then popular public ones, as select options.

    Also returns the id of the account's first own voice (None without one).
    Only voices that can speak are offered. A failed listing only leaves the
    list shorter: a pasted id or link still works.
    """
    pages = await asyncio.gather(
        api.voices(own=True, page_size=100),
        api.voices(own=False, sort_by="task_count", page_size=20),
        return_exceptions=True,
    )
    labels = dict(known or {})
    first_own: str | None = None
    for own, page in zip((True, False), pages, strict=True):
        if not isinstance(page, VoicePage):
            _LOGGER.debug("Could not list Fish Audio voices: %r", page)
            continue
        for voice in page.items:
            if not voice.can_speak:
                continue
            if own and first_own is None:
                first_own = voice.id
            labels.setdefault(voice.id, _voice_label(voice, own=own))
    options = [SelectOptionDict(value=voice_id, label=label) for voice_id, label in labels.items()]
    return options, first_own


def _schema(fields: dict[vol.Marker, Any]) -> Any:
    """A form schema, typed Any on purpose.

    HA 2026.10+ annotates its flow API with probatio's Schema, which is what
    `voluptuous` is at run time there (HA installs a shim); older releases use
    voluptuous itself. The static types of the two packages never match.
    """
    return vol.Schema(fields)


def _select(
    options: list[str] | list[SelectOptionDict],
    *,
    translation_key: str | None = None,
    custom_value: bool = False,
) -> SelectSelector:
    config = SelectSelectorConfig(
        options=options, mode=SelectSelectorMode.DROPDOWN, custom_value=custom_value
    )
    if translation_key:
        config["translation_key"] = translation_key
    return SelectSelector(config)


def _slider(low: float, high: float, step: float, unit: str | None = None) -> NumberSelector:
    config = NumberSelectorConfig(min=low, max=high, step=step, mode=NumberSelectorMode.SLIDER)
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def _model_field() -> dict[vol.Marker, Any]:
    return {
        vol.Required(CONF_MODEL, default=DEFAULT_MODEL): _select(list(MODELS), custom_value=True)
    }


def _voice_fields(options: list[SelectOptionDict]) -> dict[vol.Marker, Any]:
    """The picker (names only, no typed values) and a field to paste an id or link.

    Optional on purpose: the frontend fills a required select with its first
    option, a voice the user never chose.
    """
    return {
        vol.Optional(CONF_REFERENCE_ID): _select(options),
        vol.Optional(CONF_VOICE_LINK): TextSelector(),
    }


def _settings_fields() -> dict[vol.Marker, Any]:
    """Every synthesis setting of a voice, defaults from const.DEFAULTS."""
    return {
        **_model_field(),
        vol.Required(CONF_LATENCY, default=DEFAULTS[CONF_LATENCY]): _select(
            list(LATENCIES), translation_key=CONF_LATENCY
        ),
        vol.Required(CONF_FORMAT, default=DEFAULTS[CONF_FORMAT]): _select(
            list(FORM_FORMATS), translation_key=CONF_FORMAT
        ),
        # Optional: left empty, the format's own default rate is used.
        vol.Optional(CONF_SAMPLE_RATE): _select(
            [str(rate) for rate in FORM_SAMPLE_RATES], translation_key=CONF_SAMPLE_RATE
        ),
        vol.Required(CONF_SPEED, default=DEFAULTS[CONF_SPEED]): _slider(0.5, 2.0, 0.05),
        vol.Required(CONF_VOLUME, default=DEFAULTS[CONF_VOLUME]): _slider(-20, 20, 1, "dB"),
        vol.Required(CONF_TEMPERATURE, default=DEFAULTS[CONF_TEMPERATURE]): _slider(0, 1, 0.05),
        vol.Required(CONF_TOP_P, default=DEFAULTS[CONF_TOP_P]): _slider(0, 1, 0.05),
        vol.Required(CONF_CHUNK_LENGTH, default=DEFAULTS[CONF_CHUNK_LENGTH]): _slider(100, 300, 10),
        vol.Required(CONF_NORMALIZE, default=DEFAULTS[CONF_NORMALIZE]): BooleanSelector(),
    }


def _clone_fields() -> dict[vol.Marker, Any]:
    """The clip (uploaded, or a media file), its transcript and a name."""
    return {
        vol.Optional(CONF_CLONE_AUDIO): FileSelector(FileSelectorConfig(accept="audio/*")),
        vol.Optional(CONF_MEDIA_PATH): TextSelector(),
        vol.Required(CONF_CLONE_TEXT): TextSelector(TextSelectorConfig(multiline=True)),
        vol.Required(CONF_TITLE): TextSelector(),
    }


def _settings_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as stored: plain numbers, the sample rate an int or absent."""
    data: dict[str, Any] = {
        CONF_MODEL: str(user_input[CONF_MODEL]).strip(),
        CONF_LATENCY: user_input[CONF_LATENCY],
        CONF_FORMAT: user_input[CONF_FORMAT],
        CONF_SPEED: float(user_input[CONF_SPEED]),
        CONF_VOLUME: float(user_input[CONF_VOLUME]),
        CONF_TEMPERATURE: float(user_input[CONF_TEMPERATURE]),
        CONF_TOP_P: float(user_input[CONF_TOP_P]),
        CONF_CHUNK_LENGTH: int(user_input[CONF_CHUNK_LENGTH]),
        CONF_NORMALIZE: bool(user_input[CONF_NORMALIZE]),
    }
    if rate := user_input.get(CONF_SAMPLE_RATE):
        data[CONF_SAMPLE_RATE] = int(rate)
    try:
        # The very checks a session runs, so a saved voice always works.
        SynthesisSettings(
            model=data[CONF_MODEL],
            format=data[CONF_FORMAT],
            sample_rate=data.get(CONF_SAMPLE_RATE),
            latency=data[CONF_LATENCY],
            chunk_length=data[CONF_CHUNK_LENGTH],
            speed=data[CONF_SPEED],
            volume=data[CONF_VOLUME],
            temperature=data[CONF_TEMPERATURE],
            top_p=data[CONF_TOP_P],
            normalize=data[CONF_NORMALIZE],
        ).validate()
    except InvalidSettingError as err:
        raise _FormError(err.field, _SETTING_ERRORS.get(err.field, "invalid_setting")) from err
    return data


def _warned(errors: Mapping[str, str], user_input: Mapping[str, Any]) -> str | None:
    """The model name just warned about, so the next submit of it is taken as meant."""
    if errors.get(CONF_MODEL) == "unknown_model":
        return str(user_input.get(CONF_MODEL, "")).strip()
    return None


def _form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored values as the form shows them (the rate select holds strings)."""
    values = dict(data)
    if values.get(CONF_SAMPLE_RATE) is not None:
        values[CONF_SAMPLE_RATE] = str(values[CONF_SAMPLE_RATE])
    return values


def _read_upload(hass: HomeAssistant, file_id: str) -> tuple[str, bytes]:
    """Read and check an uploaded clip (executor); the upload is deleted after."""
    try:
        with process_uploaded_file(hass, file_id) as path:
            return path.name, read_clip(path)
    except ValueError as err:  # the upload is gone: used already, or HA restarted
        raise ClipError("clip_unreadable") from err


def _read_media(media_dirs: list[str], raw: str) -> tuple[str, bytes]:
    """Read and check a clip from HA's media folders (executor)."""
    return PurePath(raw).name, read_clip(resolve_media_path(media_dirs, raw))


class FishAudioLiveConfigFlow(ConfigFlow, domain=DOMAIN):
    """Connect an account: key and server, then a first voice."""

    VERSION = 1

    def __init__(self) -> None:
        """Nothing is stored until the whole flow succeeds."""
        self._data: dict[str, str] = {}
        self._voice_options: list[SelectOptionDict] | None = None
        self._own_voice: str | None = None
        self._warned_model: str | None = None

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Voices are subentries: one TTS entity each."""
        return {SUBENTRY_TTS: VoiceSubentryFlow}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Account-wide options."""
        return AccountOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the API key and the server."""
        errors: dict[str, str] = {}
        if user_input is not None:
            api_key = _key(user_input)
            try:
                url, account = await _async_check_account(self.hass, user_input[CONF_URL], api_key)
            except _FormError as err:
                errors = err.errors
            else:
                # Not raise_on_progress: a flow left at the voice step (tab closed)
                # must not lock the account out; whichever finishes first wins and
                # HA aborts the other.
                await self.async_set_unique_id(account.user_id, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                self._data = {CONF_API_KEY: api_key, CONF_URL: url}
                return await self.async_step_voice()
        schema = _schema(
            {
                vol.Required(CONF_API_KEY): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
                vol.Required(CONF_URL, default=DEFAULT_URL): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.URL)
                ),
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={"api_keys_url": API_KEYS_URL},
        )

    async def async_step_voice(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the first voice, so one pass gives a working entity."""
        api = _rest(self.hass, self._data[CONF_URL], self._data[CONF_API_KEY])
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                # Only the model is asked here; the same check as the full form.
                model = _settings_data({**DEFAULTS, **user_input})[CONF_MODEL]
                voice = await _async_check_voice(api, user_input)
                _check_model(model, self._warned_model)
            except _FormError as err:
                errors = err.errors
                self._warned_model = _warned(errors, user_input) or self._warned_model
            else:
                voice_data = {
                    **DEFAULTS,
                    CONF_REFERENCE_ID: voice.id,
                    CONF_TITLE: voice.title,
                    CONF_MODEL: model,
                }
                return self.async_create_entry(
                    title=_entry_title(self._data[CONF_URL], self._data[CONF_API_KEY]),
                    data=self._data,
                    subentries=[
                        ConfigSubentryData(
                            subentry_type=SUBENTRY_TTS,
                            data=voice_data,
                            title=voice.title,
                            unique_id=None,
                        )
                    ],
                )
        if self._voice_options is None:
            self._voice_options, self._own_voice = await _async_voice_options(api)
        schema = _schema({**_voice_fields(self._voice_options), **_model_field()})
        # The user's own first voice, when there is one: never a voice not chosen.
        shown = user_input or ({CONF_REFERENCE_ID: self._own_voice} if self._own_voice else {})
        return self.async_show_form(
            step_id="voice",
            data_schema=self.add_suggested_values_to_schema(schema, shown),
            errors=errors,
        )

    async def _async_update_account(
        self, entry: ConfigEntry, url: str, api_key: str
    ) -> ConfigFlowResult:
        """Check key and server (_FormError if bad); same account only; save and reload."""
        checked_url, account = await _async_check_account(self.hass, url, api_key)
        await self.async_set_unique_id(account.user_id)
        self._abort_if_unique_id_mismatch(reason="wrong_account")
        # The reason named, so HA shows our text rather than its generic one.
        return self.async_update_reload_and_abort(
            entry,
            data_updates={CONF_API_KEY: api_key, CONF_URL: checked_url},
            reason="reconfigure_successful"
            if self.source == SOURCE_RECONFIGURE
            else "reauth_successful",
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The key was rejected: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Check a new key of the same account, then reload."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            url = entry.data.get(CONF_URL, DEFAULT_URL)
            try:
                return await self._async_update_account(entry, url, _key(user_input))
            except _FormError as err:
                errors = err.errors
        schema = _schema(
            {
                vol.Required(CONF_API_KEY): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                )
            }
        )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={"title": entry.title, "api_keys_url": API_KEYS_URL},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the key or the server; the account must stay the same."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            # A blank key keeps the stored one: it is never sent back to the browser.
            api_key = (
                _key({CONF_API_KEY: user_input.get(CONF_API_KEY, "")}) or entry.data[CONF_API_KEY]
            )
            try:
                return await self._async_update_account(entry, user_input[CONF_URL], api_key)
            except _FormError as err:
                errors = err.errors
        schema = _schema(
            {
                vol.Optional(CONF_API_KEY): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
                vol.Required(CONF_URL): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
            }
        )
        # After an error the form keeps what was typed, the new key included, so
        # fixing only the URL cannot silently keep the old key. The stored key is
        # never sent to the browser.
        current = {CONF_URL: entry.data.get(CONF_URL)} if user_input is None else user_input
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, current),
            errors=errors,
            description_placeholders={"api_keys_url": API_KEYS_URL},
        )


class VoiceSubentryFlow(ConfigSubentryFlow):
    """Add or change a voice: one from Fish's library, or an instant clone."""

    def __init__(self) -> None:
        """The voice list is fetched once per flow."""
        self._voice_options: list[SelectOptionDict] | None = None
        self._own_voice: str | None = None
        self._warned_model: str | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Ask: a library voice, or an instant clone."""
        return self.async_show_menu(step_id="user", menu_options=[STEP_LIBRARY, STEP_CLONE])

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Edit the voice with the form it was made with."""
        if self._current().get(CONF_CLONE_FILE):
            return await self.async_step_change_clone()
        return await self.async_step_change_library()

    async def async_step_change_library(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a library voice."""
        return await self._async_library(user_input, STEP_CHANGE_LIBRARY)

    async def async_step_change_clone(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change an instant clone."""
        return await self._async_clone(user_input, STEP_CHANGE_CLONE)

    async def async_step_library(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """A voice of Fish's library (own or public), with its settings."""
        return await self._async_library(user_input, STEP_LIBRARY)

    async def _async_library(
        self, user_input: dict[str, Any] | None, step_id: str
    ) -> SubentryFlowResult:
        current = self._current()
        api = self._api()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                settings = _settings_data(user_input)
                voice = await _async_check_voice(api, user_input)
                self._check_model(settings)
            except _FormError as err:
                errors = err.errors
                self._warned_model = _warned(errors, user_input) or self._warned_model
            else:
                data = self._merged(settings) | {
                    CONF_REFERENCE_ID: voice.id,
                    CONF_TITLE: voice.title,
                }
                return await self._async_finish(data, voice.title)
        if self._voice_options is None:
            known = {}
            if ref := current.get(CONF_REFERENCE_ID):
                known[ref] = current.get(CONF_TITLE) or ref
            self._voice_options, self._own_voice = await _async_voice_options(api, known)
        schema = _schema({**_voice_fields(self._voice_options), **_settings_fields()})
        if user_input is None:
            # The voice being changed, else the user's own first voice: never
            # one the user did not choose.
            own = {CONF_REFERENCE_ID: self._own_voice} if self._own_voice else {}
            user_input = own | _form_values(current)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    async def async_step_clone(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """An instant clone: a short clip of the voice and what is said in it."""
        return await self._async_clone(user_input, STEP_CLONE)

    async def _async_clone(
        self, user_input: dict[str, Any] | None, step_id: str
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                data = await self._async_clone_data(user_input)
            except _FormError as err:
                errors = err.errors
                self._warned_model = _warned(errors, user_input) or self._warned_model
            else:
                return await self._async_finish(data, data[CONF_TITLE])
        schema = _schema({**_clone_fields(), **_settings_fields()})
        shown = dict(user_input or {})
        if CONF_CLONE_AUDIO in errors:
            # The upload was read, so it is gone: the user must pick a file anew.
            # After any other error it is still there and stays selected.
            del shown[CONF_CLONE_AUDIO]
        current = self._current()
        placeholders = {
            "min_seconds": f"{CLONE_MIN_SECONDS:g}",
            "max_seconds": f"{CLONE_MAX_SECONDS:g}",
            "max_mb": f"{CLONE_MAX_BYTES / 1024 / 1024:g}",
        }
        if step_id == STEP_CHANGE_CLONE:
            # Clones made before the name was kept show the voice's name.
            placeholders["clip"] = str(current.get(CONF_CLONE_NAME) or current.get(CONF_TITLE))
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, shown or _form_values(current)),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_clone_data(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        """Check the clone form; store a new clip last, when all else is valid."""
        text = str(user_input.get(CONF_CLONE_TEXT) or "").strip()
        if not text:
            raise _FormError(CONF_CLONE_TEXT, "clone_text_required")
        title = str(user_input.get(CONF_TITLE) or "").strip()
        if not title:
            raise _FormError(CONF_TITLE, "title_required")
        settings = _settings_data(user_input)
        self._check_model(settings)
        data = self._merged(settings) | {CONF_CLONE_TEXT: text, CONF_TITLE: title}
        clip = await self._async_read_clip(user_input)
        if clip is not None:
            shown_name, audio = clip
            name = f"{uuid4().hex}.bin"
            await async_store_clip(self.hass, name, audio)
            data[CONF_CLONE_FILE] = name
            data[CONF_CLONE_NAME] = shown_name
        elif not data.get(CONF_CLONE_FILE):
            raise _FormError("base", "clip_required")
        return data

    async def _async_read_clip(self, user_input: Mapping[str, Any]) -> tuple[str, bytes] | None:
        """The clip given in the form (upload first, else media path) and its name, or None."""
        if file_id := user_input.get(CONF_CLONE_AUDIO):
            return await self._async_load(
                CONF_CLONE_AUDIO, partial(_read_upload, self.hass, file_id)
            )
        if media := str(user_input.get(CONF_MEDIA_PATH) or "").strip():
            dirs = list(self.hass.config.media_dirs.values())
            return await self._async_load(CONF_MEDIA_PATH, partial(_read_media, dirs, media))
        return None

    async def _async_load(
        self, field: str, job: Callable[[], tuple[str, bytes]]
    ) -> tuple[str, bytes]:
        try:
            return await self.hass.async_add_executor_job(job)
        except ClipError as err:
            raise _FormError(field, err.reason) from err

    async def _async_finish(self, data: dict[str, Any], title: str) -> SubentryFlowResult:
        entry = self._get_entry()
        if self.source != SOURCE_RECONFIGURE:
            # No update listener (deprecated with the reload helpers), so adding a
            # subentry reloads nothing by itself. call_soon runs after the flow
            # manager has stored the subentry, then the new entity appears.
            self.hass.loop.call_soon(self.hass.config_entries.async_schedule_reload, entry.entry_id)
            return self.async_create_entry(title=title, data=data)
        subentry = self._get_reconfigure_subentry()
        old_clip = subentry.data.get(CONF_CLONE_FILE)
        # The reason named, so HA shows our "voice updated" text, not its generic one.
        result = async_update_subentry_reload_and_abort(
            self, entry, subentry, data=data, title=title, reason="reconfigure_successful"
        )
        if old_clip and old_clip != data.get(CONF_CLONE_FILE):
            await async_remove_clip(self.hass, old_clip)
        return result

    def _check_model(self, settings: Mapping[str, Any]) -> None:
        """Ask once about an unknown model; the voice's stored model is known to the user."""
        if settings[CONF_MODEL] != self._current().get(CONF_MODEL):
            _check_model(settings[CONF_MODEL], self._warned_model)

    def _current(self) -> Mapping[str, Any]:
        """The voice being reconfigured, or nothing when adding one."""
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_subentry().data
        return {}

    def _merged(self, settings: dict[str, Any]) -> dict[str, Any]:
        """New settings over the stored data; keeps keys the form does not show."""
        data = dict(self._current())
        data.pop(CONF_SAMPLE_RATE, None)  # absent from the form means "format default"
        return data | settings

    def _api(self) -> RestApi:
        """The account's REST API; works whether or not the entry is loaded."""
        entry = self._get_entry()
        return _rest(self.hass, entry.data.get(CONF_URL, DEFAULT_URL), entry.data[CONF_API_KEY])


class AccountOptionsFlow(OptionsFlowWithReload):
    """Account-wide options; the entry reloads when they change."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Connection, text and audio options shared by the account's voices."""
        if user_input is not None:
            return self.async_create_entry(
                data={**user_input, CONF_MAX_SESSIONS: int(user_input[CONF_MAX_SESSIONS])}
            )
        options = self.config_entry.options
        schema = _schema(
            {
                vol.Required(
                    CONF_PRECONNECT, default=options.get(CONF_PRECONNECT, True)
                ): BooleanSelector(),
                vol.Required(
                    CONF_KEEP_WARM, default=options.get(CONF_KEEP_WARM, False)
                ): BooleanSelector(),
                vol.Required(
                    CONF_CLEAN_TEXT, default=options.get(CONF_CLEAN_TEXT, True)
                ): BooleanSelector(),
                vol.Required(
                    CONF_FILL_SILENCE, default=options.get(CONF_FILL_SILENCE, True)
                ): BooleanSelector(),
                vol.Required(
                    CONF_MAX_SESSIONS, default=options.get(CONF_MAX_SESSIONS, DEFAULT_MAX_SESSIONS)
                ): NumberSelector(
                    NumberSelectorConfig(min=1, max=100, step=1, mode=NumberSelectorMode.BOX)
                ),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
