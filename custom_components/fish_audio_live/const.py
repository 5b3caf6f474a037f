"""Constants of the Fish Audio Live integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "fish_audio_live"
MANUFACTURER: Final = "Fish Audio"

CONF_URL: Final = "url"
CONF_KEEP_WARM: Final = "keep_warm"  # entry option: keep a live socket open ahead of need
CONF_MAX_SESSIONS: Final = "max_sessions"  # entry option: the account's parallel-session tier
CONF_PRECONNECT: Final = "preconnect"  # entry option: open the socket when a conversation starts
CONF_CLEAN_TEXT: Final = "clean_text"  # entry option: drop Markdown, URLs and emoji before speech
CONF_FILL_SILENCE: Final = "fill_silence"  # entry option: pad stalled WAV streams with silence
SUBENTRY_TTS: Final = "tts"

# Voice (subentry) settings; the keys double as tts option names.
CONF_VOICE: Final = "voice"  # per-call option: a reference_id
CONF_REFERENCE_ID: Final = "reference_id"
CONF_TITLE: Final = "title"
CONF_MODEL: Final = "model"
CONF_LATENCY: Final = "latency"
CONF_FORMAT: Final = "format"
CONF_SAMPLE_RATE: Final = "sample_rate"
CONF_SPEED: Final = "speed"
CONF_VOLUME: Final = "volume"
CONF_TEMPERATURE: Final = "temperature"
CONF_TOP_P: Final = "top_p"
CONF_CHUNK_LENGTH: Final = "chunk_length"
CONF_NORMALIZE: Final = "normalize"
CONF_MP3_BITRATE: Final = "mp3_bitrate"
CONF_CLONE_FILE: Final = "clone_file"  # stored clip of an instant clone
CONF_CLONE_TEXT: Final = "clone_text"  # its transcript

DEFAULTS: Final[dict[str, object]] = {
    CONF_LATENCY: "balanced",
    CONF_FORMAT: "mp3",
    CONF_SPEED: 1.0,
    CONF_VOLUME: 0.0,
    CONF_TEMPERATURE: 0.7,
    CONF_TOP_P: 0.7,
    CONF_CHUNK_LENGTH: 100,
    CONF_NORMALIZE: True,
    CONF_MP3_BITRATE: 128,
}

CLONE_STORAGE_DIR: Final = "fish_audio_live"

# The account's voices are refreshed at most this often (seconds).
VOICE_REFRESH_INTERVAL: Final = 6 * 3600

BILLING_URL: Final = "https://fish.audio/app/billing/"
API_KEYS_URL: Final = "https://fish.audio/app/api-keys/"
ISSUE_NO_CREDIT: Final = "no_credit"

# Languages the S2 model family speaks (Fish lists 80+); bare ISO 639-1 codes
# plus the regional tags pipelines commonly use.
SUPPORTED_LANGUAGES: Final = sorted(
    {
        *[
            "af",
            "am",
            "ar",
            "as",
            "az",
            "be",
            "bg",
            "bn",
            "bs",
            "ca",
            "cs",
            "cy",
            "da",
            "de",
            "el",
            "en",
            "es",
            "et",
            "eu",
            "fa",
            "fi",
            "fil",
            "fr",
            "ga",
            "gl",
            "gu",
            "ha",
            "he",
            "hi",
            "hr",
            "hu",
            "hy",
            "id",
            "is",
            "it",
            "ja",
            "jv",
            "ka",
            "kk",
            "km",
            "kn",
            "ko",
            "ky",
            "lb",
            "lo",
            "lt",
            "lv",
            "mk",
            "ml",
            "mn",
            "mr",
            "ms",
            "mt",
            "my",
            "nb",
            "ne",
            "nl",
            "nn",
            "no",
            "or",
            "pa",
            "pl",
            "ps",
            "pt",
            "ro",
            "ru",
            "sd",
            "si",
            "sk",
            "sl",
            "so",
            "sq",
            "sr",
            "su",
            "sv",
            "sw",
            "ta",
            "te",
            "tg",
            "th",
            "tk",
            "tl",
            "tr",
            "uk",
            "ur",
            "uz",
            "vi",
            "yo",
            "yue",
            "zh",
            "zu",
        ],
        *[
            "en-US",
            "en-GB",
            "en-AU",
            "en-CA",
            "en-IN",
            "es-ES",
            "es-MX",
            "es-419",
            "fr-FR",
            "fr-CA",
            "de-DE",
            "de-AT",
            "de-CH",
            "it-IT",
            "ja-JP",
            "ko-KR",
            "nl-NL",
            "nl-BE",
            "pt-BR",
            "pt-PT",
            "ru-RU",
            "zh-CN",
            "zh-TW",
            "zh-HK",
            "sv-SE",
            "da-DK",
            "nb-NO",
            "fi-FI",
            "pl-PL",
            "tr-TR",
            "ar-SA",
            "he-IL",
            "hi-IN",
            "id-ID",
            "th-TH",
            "vi-VN",
            "uk-UA",
            "cs-CZ",
        ],
    }
)
