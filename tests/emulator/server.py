"""``FishEmulator``: the aiohttp server tests start and drive."""

from __future__ import annotations

import contextlib
from functools import partial
import ipaddress
from types import TracebackType
from typing import Final, Self

from aiohttp import web

from .catalog import Voice
from .faults import LIVE_PATH, Fault, RestFault, default_rest_body
from .latency import LatencyModel
from .live import CLOSE_TIMEOUT_S, handle_live
from .rest import api_credit, get_model, list_models, rest_middleware
from .state import EmulatorState

SHUTDOWN_TIMEOUT_S: Final = 5.0


def check_loopback(host: str) -> None:
    """Refuse to listen anywhere but on the loopback interface."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"refusing to listen on {host!r}: loopback addresses only")


def base_url(host: str, port: int) -> str:
    """``http://host:port``, with IPv6 literals in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class FishEmulator(EmulatorState):
    """Fish Audio's live TTS socket and REST endpoints on 127.0.0.1, strict and deterministic."""

    def __init__(
        self,
        latency: LatencyModel | None = None,
        api_keys: dict[str, str] | None = None,
        credit: dict[str, str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        """Configure; nothing listens before ``start()``.

        ``api_keys`` maps key -> user_id (None accepts any non-empty key as
        ``emulator-user``); ``credit`` maps user_id -> balance (default "10.0").
        """
        check_loopback(host)
        super().__init__(latency, api_keys, credit)
        self.host = host
        self.port = port
        self._bind_port = port  # kept so that a restart binds what was asked, not the last port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765`` (the live socket is ``/v1/tts/live``)."""
        if self._runner is None:
            raise RuntimeError("FishEmulator is not started")
        return base_url(self.host, self.port)

    @property
    def credit(self) -> dict[str, str]:
        """Balances by user_id; users not listed have "10.0"."""
        return self.accounts.credit

    @credit.setter
    def credit(self, value: dict[str, str]) -> None:
        self.accounts.credit = value

    @property
    def voices(self) -> list[Voice]:
        """The public voice catalog."""
        return self.catalog.public

    @voices.setter
    def voices(self, value: list[Voice]) -> None:
        self.catalog.public = value

    def add_voice(self, voice: Voice, owner: str | None = None) -> None:
        """Add a public voice, or one owned by the user ``owner``."""
        self.catalog.add(voice, owner)

    def add_fault(self, fault: Fault) -> None:
        """Queue a live fault for the next session (see faults.py)."""
        self.faults.add(fault)

    def clear_faults(self) -> None:
        """Drop every queued live fault, sticky ones included."""
        self.faults.clear()

    def add_rest_fault(
        self,
        path: str,
        status: int,
        body: str | None = None,
        content_type: str = "application/json",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status`` and ``body``.

        ``body`` defaults to the service's JSON error shape for ``status``.
        """
        text = body if body is not None else default_rest_body(status)
        self.rest_faults.add(RestFault(path, status, text, content_type, times))

    def clear_rest_faults(self) -> None:
        """Drop every pending REST fault."""
        self.rest_faults.clear()

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one, see ``url``)."""
        if self._runner is not None:
            raise RuntimeError("FishEmulator is already started")
        runner = web.AppRunner(
            self._app(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._bind_port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Close every open socket (1001 going away) and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for session in list(self.live):
            await session.shutdown()
        with contextlib.suppress(TimeoutError):
            # Each session waits for its client's close reply at most CLOSE_TIMEOUT_S.
            await self.wait_all_closed(CLOSE_TIMEOUT_S + 1)
        await self.cancel_handlers()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        """Start the emulator."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the emulator."""
        await self.stop()

    def _app(self) -> web.Application:
        """Routes of the live socket and the REST endpoints."""
        app = web.Application(middlewares=[rest_middleware(self)])
        app.router.add_get(LIVE_PATH, partial(handle_live, self))
        app.router.add_get("/wallet/{user_id}/api-credit", partial(api_credit, self))
        app.router.add_get("/model", partial(list_models, self))
        app.router.add_get("/model/{id}", partial(get_model, self))
        return app
