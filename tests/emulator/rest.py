"""REST endpoints: ``/wallet/{user_id}/api-credit``, ``/model`` and ``/model/{id}``.

A bad key answers 401 with a plain-text body on the wallet endpoint (the real
service sometimes does that) and with the JSON ``{"status", "message"}`` shape
on the model endpoints. Invalid query values answer 422 JSON and count as
violations, as do calls to unknown endpoints and missing or malformed
Authorization headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import re
from typing import Final

from aiohttp import web
from multidict import MultiMapping

from .catalog import ModelQuery, model_entity
from .faults import LIVE_PATH
from .state import EmulatorState, json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SORT_BY: Final = ("score", "task_count", "created_at")
SCALAR_PARAMS: Final = ("self", "title", "author_id", "sort_by", "page_size", "page_number")


class QueryError(Exception):
    """An invalid query parameter (answered with 422)."""


def rest_middleware(state: EmulatorState) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Log REST calls, apply latency and REST faults, and answer unknown routes strictly."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        state.handler_started(task)
        try:
            return await _handle(state, request, handler)
        finally:
            state.handler_finished(task)

    return middleware


async def _handle(
    state: EmulatorState, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """REST calls get latency, faults and strict routing; the live socket goes straight through."""
    if request.path == LIVE_PATH:
        return await handler(request)
    state.rest_calls.append(f"{request.method} {request.path_qs}")
    if state.latency.rest_s > 0:
        await asyncio.sleep(state.latency.rest_s)
    fault = state.rest_faults.take(request.path)
    if fault is not None:
        headers = {"Content-Type": fault.content_type}
        return web.Response(status=fault.status, body=fault.body.encode(), headers=headers)
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as err:
        state.violation(None, f"{request.method} {request.path}: no such endpoint")
        return json_error(err.status, err.reason)


def _user(state: EmulatorState, request: web.Request) -> str | None:
    """User behind the request's bearer key; records malformed headers."""
    auth = state.accounts.authenticate(request.headers.get("Authorization"))
    if auth.problem:
        state.violation(None, f"{request.method} {request.path}: {auth.problem}")
    return auth.user


async def api_credit(state: EmulatorState, request: web.Request) -> web.Response:
    """``GET /wallet/{user_id}/api-credit``: the caller's balance."""
    user = _user(state, request)
    if user is None:
        return web.Response(status=401, text="Unauthorized: invalid API key")
    if request.match_info["user_id"] not in ("self", user):
        return json_error(403, "Forbidden")
    return web.json_response(state.accounts.credit_entity(user))


async def list_models(state: EmulatorState, request: web.Request) -> web.Response:
    """``GET /model``: public voices, or the caller's own with ``self=true``."""
    user = _user(state, request)
    if user is None:
        return json_error(401, "Invalid API key")
    try:
        query = parse_model_query(request.query)
    except QueryError as err:
        state.violation(None, f"GET /model: {err}")
        return json_error(422, str(err))
    total, voices = state.catalog.search(user, query)
    shown = (query.page_number - 1) * query.page_size + len(voices)
    items = [model_entity(voice) for voice in voices]
    return web.json_response({"total": total, "items": items, "has_more": shown < total})


async def get_model(state: EmulatorState, request: web.Request) -> web.Response:
    """``GET /model/{id}``: one voice the caller may see."""
    user = _user(state, request)
    if user is None:
        return json_error(401, "Invalid API key")
    voice = state.catalog.find(request.match_info["id"], user)
    if voice is None:
        return json_error(404, "Model not found")
    return web.json_response(model_entity(voice))


def parse_model_query(query: MultiMapping[str]) -> ModelQuery:
    """Validate the query of ``GET /model`` like the service's schema does."""
    for name in SCALAR_PARAMS:
        if len(query.getall(name, [])) > 1:
            raise QueryError(f"{name} given more than once")
    sort_by = query.get("sort_by", "score")
    if sort_by not in SORT_BY:
        raise QueryError(f"sort_by must be one of {list(SORT_BY)}")
    return ModelQuery(
        self_only=_boolean(query.get("self", "false"), "self"),
        title=query.get("title"),
        languages=tuple(query.getall("language", [])),
        tags=tuple(query.getall("tag", [])),
        author_id=query.get("author_id"),
        sort_by=sort_by,
        page_size=_integer(query.get("page_size", "10"), "page_size", 1, 100),
        page_number=_integer(query.get("page_number", "1"), "page_number", 1, None),
    )


def _boolean(text: str, name: str) -> bool:
    """``true`` or ``false`` (any case)."""
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise QueryError(f"{name} must be true or false, got {text!r}")
    return lowered == "true"


def _integer(text: str, name: str, low: int, high: int | None) -> int:
    """A decimal integer within ``[low, high]``."""
    if not re.fullmatch(r"-?[0-9]+", text):
        raise QueryError(f"{name} must be an integer, got {text!r}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise QueryError(f"{name} must be in [{low}, {high or 'inf'}], got {value}")
    return value
