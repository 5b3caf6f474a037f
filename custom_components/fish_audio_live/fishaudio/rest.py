"""Fish Audio's REST endpoints: the account check and the voice library."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
import math
from typing import Any

import aiohttp
import yarl

from .errors import CannotConnectError, FishAudioError, InvalidResponseError, error_for_status
from .limits import MAX_JSON_DEPTH, MAX_REST_BODY

REST_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Account:
    """What the credit endpoint says about the key's account."""

    user_id: str
    credit: str

    @property
    def has_credit(self) -> bool:
        """Tell whether the balance is above zero (unparsable counts as yes)."""
        try:
            return float(self.credit) > 0
        except ValueError:
            return True


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice model of Fish's library."""

    id: str
    title: str
    languages: tuple[str, ...] = ()
    author: str | None = None
    state: str = "trained"
    visibility: str = "public"
    task_count: int = 0
    type: str = "tts"  # "svc" models convert voices and cannot speak text
    description: str = ""

    @property
    def can_speak(self) -> bool:
        """Tell whether the voice can be used for text to speech now."""
        return self.type == "tts" and self.state == "trained"

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> Voice:
        """Build from a ModelEntity map; raises InvalidResponseError when it is not one."""
        try:
            author = entity.get("author") or {}
            return cls(
                id=str(entity["_id"]),
                title=str(entity.get("title") or entity["_id"]),
                languages=tuple(str(lang) for lang in entity.get("languages") or ()),
                author=author.get("nickname") if isinstance(author, dict) else None,
                state=str(entity.get("state", "trained")),
                visibility=str(entity.get("visibility", "public")),
                task_count=int(entity.get("task_count") or 0),
                type=str(entity.get("type", "tts")),
                description=str(entity.get("description") or ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            raise InvalidResponseError("unexpected voice record") from None


@dataclass(frozen=True, slots=True)
class VoicePage:
    """One page of a voice listing."""

    total: int
    items: tuple[Voice, ...]


class RestApi:
    """Authenticated calls to the REST API on an injected aiohttp session."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        """Keep the session, the base URL (no trailing slash) and the key."""
        self._http = http
        self._base = base_url.rstrip("/")
        self._api_key = api_key

    async def account(self) -> Account:
        """Check the key: GET /wallet/self/api-credit."""
        data = await self._get("/wallet/self/api-credit")
        try:
            return Account(user_id=str(data["user_id"]), credit=str(data["credit"]))
        except (KeyError, TypeError):
            raise InvalidResponseError("unexpected account record") from None

    async def voices(
        self,
        *,
        own: bool = False,
        title: str | None = None,
        language: str | None = None,
        sort_by: str = "score",
        page_size: int = 20,
        page_number: int = 1,
    ) -> VoicePage:
        """List voices: the account's own (`own=True`) or the public library."""
        params = {
            "self": "true" if own else "false",
            "sort_by": sort_by,
            "page_size": str(page_size),
            "page_number": str(page_number),
        }
        if title:
            params["title"] = title
        if language:
            params["language"] = language
        data = await self._get("/model", params)
        records = data.get("items")
        if not isinstance(records, list):
            raise InvalidResponseError("unexpected voice listing")
        # A server may send more than asked: the page is cut, and one bad record
        # costs only itself.
        items = tuple(voice for record in records[:page_size] if (voice := _voice_or_none(record)))
        return VoicePage(total=_count(data.get("total"), len(records)), items=items)

    async def voice(self, voice_id: str) -> Voice:
        """One voice: GET /model/{id}; VoiceNotFoundError when unknown."""
        return Voice.from_entity(await self._get(f"/model/{voice_id}"))

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._api_key}"}
        url = self._base + path
        # Every cause below is dropped (`from None`): aiohttp's errors can hold the
        # request, and so its Authorization header.
        try:
            async with (
                asyncio.timeout(REST_TIMEOUT),
                self._http.get(url, params=params, headers=headers, allow_redirects=False) as resp,
            ):
                if 300 <= resp.status < 400:
                    raise RedirectError(_location(resp))
                body = _decode(await _read_capped(resp), resp.charset)
                if resp.status >= 400:
                    raise error_for_status(resp.status, _message(body), _retry_after(resp.headers))
                return _json_object(body, resp.content_type)
        except FishAudioError:
            raise
        except TimeoutError:
            raise CannotConnectError("timed out waiting for the server") from None
        except (aiohttp.ClientError, OSError) as err:
            name = type(err).__name__
            raise CannotConnectError(f"cannot reach the server: {name}") from None


class RedirectError(InvalidResponseError):
    """The server redirected: redirects are not followed, the key stays here."""

    def __init__(self, location: str) -> None:
        """`location` is the URL the server pointed to: the one to configure instead."""
        super().__init__(f"the server redirects to {location or 'another URL'}; configure that URL")
        self.location = location


def _location(resp: aiohttp.ClientResponse) -> str:
    """The redirect target without query or credentials, short enough to show."""
    value = resp.headers.get("Location", "")
    try:
        target = resp.url.join(yarl.URL(value)) if value else resp.url
    except ValueError:
        return ""
    return str(target.with_query(None).with_fragment(None).with_user(None))[:200]


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    """The body, refused above MAX_REST_BODY whether declared or streamed."""
    if resp.content_length is not None and resp.content_length > MAX_REST_BODY:
        raise InvalidResponseError(f"the answer is larger than {MAX_REST_BODY} bytes")
    body = await resp.content.read(MAX_REST_BODY + 1)
    while len(body) <= MAX_REST_BODY and (more := await resp.content.read(MAX_REST_BODY + 1)):
        body += more
    if len(body) > MAX_REST_BODY:
        raise InvalidResponseError(f"the answer is larger than {MAX_REST_BODY} bytes")
    return body


def _decode(body: bytes, charset: str | None) -> str:
    """Text of the body in its declared charset (UTF-8 when none)."""
    try:
        return body.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise InvalidResponseError("the answer is not text in its declared charset") from None


def _voice_or_none(record: object) -> Voice | None:
    if not isinstance(record, dict):
        return None
    try:
        return Voice.from_entity(record)
    except InvalidResponseError:
        return None


def _count(value: object, fallback: int) -> int:
    """A count field; what was received when it is missing or not a sane number."""
    try:
        count = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return fallback
    return count if count >= 0 else fallback


def _json_object(body: str, content_type: str) -> dict[str, Any]:
    """Parse a JSON object; anything else means the server is not Fish Audio."""
    data = _parse(body)
    if data is _NOT_JSON:
        raise InvalidResponseError(f"expected JSON, got {content_type or 'unknown'}")
    if not isinstance(data, dict):
        raise InvalidResponseError("expected a JSON object")
    return data


_NOT_JSON = object()


def _parse(body: str) -> Any:
    """JSON of a body, or _NOT_JSON: never a raw parser error (deep nesting included)."""
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        return _NOT_JSON
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _depth_exceeds(body: str, limit: int) -> bool:
    """Tell whether brackets nest deeper than `limit`.

    Brackets inside strings count too: a cheap, safe over-estimate, since no Fish
    answer comes near the limit.
    """
    depth = 0
    for char in body:
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _message(body: str) -> str:
    """The server's error message: JSON `message`, or the start of a text body."""
    data = _parse(body)
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str):
        return message[:200]
    return body.strip()[:200]


def _retry_after(headers: Any) -> float | None:
    """Retry-After in seconds when it is a finite, non-negative number; else None."""
    try:
        value = float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None
