"""Accounts (API keys, credit) and voices (models) of the emulated service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
import hashlib
from typing import Any, Final

DEFAULT_USER: Final = "emulator-user"
DEFAULT_CREDIT: Final = "10.0"
FALLBACK_MODEL: Final = "s2.1-pro"
FREE_MODEL: Final = "s2.1-pro-free"
FIXED_TIME: Final = "2025-06-01T12:00:00Z"  # fixed so answers are deterministic


@dataclass(slots=True)
class Voice:
    """A TTS voice model as listed by ``GET /model``."""

    id: str
    title: str
    languages: list[str] = field(default_factory=lambda: ["en"])
    description: str = ""
    tags: list[str] = field(default_factory=list)
    visibility: str = "public"
    author_id: str = "fish-audio"
    author_nickname: str = "Fish Audio"
    like_count: int = 0
    mark_count: int = 0
    shared_count: int = 0
    task_count: int = 0
    created_at: str = FIXED_TIME
    cover_image: str = ""


def builtin_voices() -> list[Voice]:
    """The public catalog every emulator starts with (ids are fixed on purpose)."""
    return [
        Voice(
            "f51eeab3f59fb13a6ae9f0a61ba5e87e",
            "Energetic Male",
            ["en"],
            "Upbeat American male voice.",
            ["male", "energetic"],
            like_count=9120,
            task_count=812_000,
            created_at="2024-03-01T09:00:00Z",
        ),
        Voice(
            "47afa85688b3925981fe9bd850d0d5aa",
            "Calm Narrator",
            ["en"],
            "Warm, slow storytelling voice.",
            ["narration", "calm"],
            like_count=15400,
            task_count=420_000,
            created_at="2024-07-15T10:30:00Z",
        ),
        Voice(
            "2a5c028ef5bd0c2b2383013d50f40ef0",
            "温柔女声",
            ["zh"],
            "Gentle Mandarin female voice.",
            ["female", "gentle"],
            like_count=22000,
            task_count=1_250_000,
            created_at="2024-01-20T08:00:00Z",
        ),
        Voice(
            "df1e643903c5a57e157e361b2e567eee",
            "Anime Girl",
            ["ja", "en"],
            "Bright bilingual anime voice.",
            ["anime", "female"],
            like_count=30500,
            task_count=990_000,
            created_at="2025-02-10T16:45:00Z",
        ),
        Voice(
            "8b81510163571bc7a2b65632b158d5e8",
            "Deutscher Sprecher",
            ["de"],
            "Clear German news voice.",
            ["male", "news"],
            like_count=1200,
            task_count=64_000,
            created_at="2025-05-05T07:15:00Z",
        ),
        Voice(
            "d3d3fc3ea2decccc935beb5bdc8746bf",
            "Voix Française",
            ["fr", "en"],
            "Soft French voice that also speaks English.",
            ["female", "soft"],
            like_count=4800,
            task_count=150_000,
            created_at="2025-04-01T11:00:00Z",
        ),
    ]


def model_entity(voice: Voice) -> dict[str, Any]:
    """The ModelEntity JSON object of ``voice``."""
    return {
        "_id": voice.id,
        "type": "tts",
        "title": voice.title,
        "description": voice.description,
        "cover_image": voice.cover_image,
        # openapi.json: POST /model accepts only the constant "fast", so every voice
        # the service holds says "fast" (and Fish's SDK parses nothing else).
        "train_mode": "fast",
        "state": "trained",
        "tags": list(voice.tags),
        "samples": [],
        "created_at": voice.created_at,
        "updated_at": voice.created_at,
        "languages": list(voice.languages),
        "visibility": voice.visibility,
        "lock_visibility": False,
        "default_text": "",
        "like_count": voice.like_count,
        "mark_count": voice.mark_count,
        "shared_count": voice.shared_count,
        "task_count": voice.task_count,
        "liked": False,
        "marked": False,
        "author": {"_id": voice.author_id, "nickname": voice.author_nickname, "avatar": ""},
    }


@dataclass(frozen=True, slots=True)
class ModelQuery:
    """Validated parameters of ``GET /model``."""

    self_only: bool = False
    title: str | None = None
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author_id: str | None = None
    sort_by: str = "score"
    page_size: int = 10
    page_number: int = 1


SORT_KEYS: Final = {
    "score": lambda voice: (-voice.like_count, voice.id),
    "task_count": lambda voice: (-voice.task_count, voice.id),
    "created_at": lambda voice: (_negated(voice.created_at), voice.id),
}


def _negated(text: str) -> tuple[int, ...]:
    """Sort key that orders ISO timestamps newest first."""
    return tuple(-ord(char) for char in text)


class Catalog:
    """Public voices plus each user's own voices."""

    def __init__(self) -> None:
        """Start with the built-in public catalog and no own voices."""
        self.public: list[Voice] = builtin_voices()
        self.owned: dict[str, list[Voice]] = {}

    def add(self, voice: Voice, owner: str | None) -> None:
        """Add a public voice (owner None) or a voice owned by ``owner``."""
        if owner is None:
            self.public.append(voice)
        else:
            self.owned.setdefault(owner, []).append(voice)

    def find(self, voice_id: str, user: str) -> Voice | None:
        """A voice ``user`` may use: public or their own."""
        for voice in [*self.public, *self.owned.get(user, [])]:
            if voice.id == voice_id:
                return voice
        return None

    def search(self, user: str, query: ModelQuery) -> tuple[int, list[Voice]]:
        """Total matches and the requested page."""
        if query.self_only:
            pool: Iterable[Voice] = self.owned.get(user, [])
        else:
            pool = (voice for voice in self.public if voice.visibility == "public")
        matches = sorted(
            (voice for voice in pool if _matches(voice, query)), key=SORT_KEYS[query.sort_by]
        )
        start = (query.page_number - 1) * query.page_size
        return len(matches), matches[start : start + query.page_size]


def _matches(voice: Voice, query: ModelQuery) -> bool:
    """Whether ``voice`` passes every filter of ``query``."""
    if query.title is not None and query.title.casefold() not in voice.title.casefold():
        return False
    if query.languages and not set(query.languages) & set(voice.languages):
        return False
    if query.tags and not set(query.tags) & set(voice.tags):
        return False
    return query.self_only or query.author_id is None or voice.author_id == query.author_id


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Outcome of reading an Authorization header."""

    user: str | None
    problem: str | None = None


class Accounts:
    """API keys and credit balances."""

    def __init__(self, api_keys: dict[str, str] | None, credit: dict[str, str] | None) -> None:
        """``api_keys`` None accepts any non-empty key as ``DEFAULT_USER``."""
        self.api_keys = api_keys
        self.credit: dict[str, str] = credit if credit is not None else {}

    def authenticate(self, header: str | None) -> AuthResult:
        """User behind ``Authorization: Bearer <key>``; a problem when the header is malformed."""
        if header is None:
            return AuthResult(None, "missing Authorization header")
        scheme, _, key = header.partition(" ")
        if scheme != "Bearer" or not key.strip():
            return AuthResult(None, "Authorization header is not 'Bearer <api key>'")
        if self.api_keys is None:
            return AuthResult(DEFAULT_USER)
        return AuthResult(self.api_keys.get(key))

    def balance(self, user: str) -> str:
        """Credit balance string of ``user``."""
        return self.credit.get(user, DEFAULT_CREDIT)

    def may_use(self, user: str, model: str | None) -> bool:
        """Paid models need a positive balance; the free model does not."""
        if model == FREE_MODEL:
            return True
        try:
            return Decimal(self.balance(user)) > 0
        except InvalidOperation:
            return False  # an unreadable balance is treated as empty

    def credit_entity(self, user: str) -> dict[str, Any]:
        """The APICreditEntity JSON object of ``user``."""
        return {
            "_id": hashlib.sha256(user.encode()).hexdigest()[:24],
            "user_id": user,
            "credit": self.balance(user),
            "cumulative_top_up": "0.00",
            "created_at": FIXED_TIME,
            "updated_at": FIXED_TIME,
            "has_phone_sha256": False,
            "has_free_credit": False,
        }
