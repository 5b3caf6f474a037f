"""A hostile or broken REST server on 127.0.0.1: each path answers one way Fish never does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import json
from types import TracebackType

from aiohttp import web

CREDIT_PATH = "/wallet/self/api-credit"
ACCOUNT = {"user_id": "user-0001", "credit": "10.0"}
MiB = 1024 * 1024

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _voice(index: int) -> dict[str, object]:
    return {"_id": f"{index:032x}", "title": f"Voice {index}", "type": "tts", "state": "trained"}


class HostileRest:
    """Serves every account and listing request with the answer `mode` names.

    `mode` may be changed between requests; the handler reads it per request.
    """

    def __init__(self, mode: str = "ok") -> None:
        """Start in `mode`; the server listens once entered."""
        self.mode = mode
        self.seen_authorization: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> HostileRest:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop listening."""
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen_authorization.append(request.headers.get("Authorization", ""))
        handler: Handler = getattr(self, "_" + self.mode)
        return await handler(request)

    async def _ok(self, request: web.Request) -> web.StreamResponse:
        if request.path == CREDIT_PATH:
            return web.json_response(ACCOUNT)
        return web.json_response({"total": 1, "items": [_voice(1)]})

    async def _charset(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=json.dumps(ACCOUNT).encode(),
            headers={"Content-Type": "application/json; charset=x-nope"},
        )

    async def _deep(self, request: web.Request) -> web.StreamResponse:
        depth = 200_000
        return web.Response(text="[" * depth + "]" * depth, content_type="application/json")

    async def _huge_number(self, request: web.Request) -> web.StreamResponse:
        good = json.dumps(_voice(2))
        body = '{"total": 1e999, "items": [{"_id": "a", "task_count": 1e999}, ' + good + "]}"
        if request.path == CREDIT_PATH:
            body = '{"user_id": "u", "credit": 1e999}'
        return web.Response(text=body, content_type="application/json")

    async def _array(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="[1, 2, 3]", content_type="application/json")

    async def _html(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    async def _declared_huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(300 * MiB)})
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b"{" * 1024)
        return response

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b" " * (256 * 1024)
        for _ in range(64):  # 16 MiB, well past any cap; a client that stops early is fine
            try:
                await response.write(chunk)
            except (ConnectionResetError, RuntimeError):
                break
        return response

    async def _many_voices(self, request: web.Request) -> web.StreamResponse:
        items: list[object] = [_voice(i) for i in range(5000)]
        items[0] = {"title": "no id"}
        items[1] = "not a record"
        return web.json_response({"total": 5000, "items": items})

    async def _server_error(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "down"}, status=503)

    async def _redirect_away(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("http://203.0.113.9/elsewhere?token=x")

    async def _redirect_loop(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.path)

    async def _retry_nan(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "slow"}, status=429, headers={"Retry-After": "nan"})

    async def _retry_negative(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "slow"}, status=429, headers={"Retry-After": "-5"})

    async def _retry_inf(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "slow"}, status=429, headers={"Retry-After": "inf"})

    async def _retry_ok(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "slow"}, status=429, headers={"Retry-After": "2.5"})
