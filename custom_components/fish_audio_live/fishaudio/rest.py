"""Fish Audio's REST endpoints: the account check and the voice library."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
from typing import Any

import aiohttp

from .errors import CannotConnectError, FishAudioError, InvalidResponseError, error_for_status

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
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InvalidResponseError("unexpected voice record") from err


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
        except (KeyError, TypeError) as err:
            raise InvalidResponseError("unexpected account record") from err

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
        try:
            items = tuple(Voice.from_entity(item) for item in data["items"])
            return VoicePage(total=int(data["total"]), items=items)
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidResponseError("unexpected voice listing") from err

    async def voice(self, voice_id: str) -> Voice:
        """One voice: GET /model/{id}; VoiceNotFoundError when unknown."""
        return Voice.from_entity(await self._get(f"/model/{voice_id}"))

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            async with (
                asyncio.timeout(REST_TIMEOUT),
                self._http.get(self._base + path, params=params, headers=headers) as resp,
            ):
                body = await resp.text()
                if resp.status >= 400:
                    raise error_for_status(resp.status, _message(body), _retry_after(resp.headers))
                return _json_object(body, resp.content_type)
        except FishAudioError:
            raise
        except TimeoutError as err:
            raise CannotConnectError("timed out waiting for the server") from err
        except UnicodeDecodeError as err:
            raise InvalidResponseError("the answer is not text in its declared charset") from err
        except (aiohttp.ClientError, OSError) as err:
            raise CannotConnectError(f"cannot reach the server: {type(err).__name__}") from err


def _json_object(body: str, content_type: str) -> dict[str, Any]:
    """Parse a JSON object; anything else means the server is not Fish Audio."""
    try:
        data = json.loads(body)
    except ValueError as err:
        raise InvalidResponseError(f"expected JSON, got {content_type or 'unknown'}") from err
    if not isinstance(data, dict):
        raise InvalidResponseError("expected a JSON object")
    return data


def _message(body: str) -> str:
    """The server's error message: JSON `message`, or the start of a text body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str):
        return message[:200]
    return body.strip()[:200]


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
