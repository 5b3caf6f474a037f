"""State shared by the live socket, the REST endpoints and the test-facing API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from .catalog import Accounts, Catalog
from .faults import FaultQueue, RestFaults
from .latency import LatencyModel
from .session import SessionRecord


class OpenSession(Protocol):
    """A live session the emulator can shut down when it stops."""

    async def shutdown(self) -> None:
        """Close the session's socket."""


class EmulatorState:
    """Everything the emulator knows; the server reads and updates it."""

    def __init__(
        self,
        latency: LatencyModel | None,
        api_keys: dict[str, str] | None,
        credit: dict[str, str] | None,
    ) -> None:
        """Fresh state: built-in catalog, no faults, no sessions."""
        self.latency = latency if latency is not None else LatencyModel()
        self.accounts = Accounts(api_keys, credit)
        self.catalog = Catalog()
        self.faults = FaultQueue()
        self.rest_faults = RestFaults()
        self.sessions: list[SessionRecord] = []
        self.handshakes = 0
        self.violations: list[str] = []
        self.deviations: list[str] = []
        self.rest_calls: list[str] = []
        self.live: set[OpenSession] = set()
        self.handlers: set[asyncio.Task[Any]] = set()
        self._open: set[int] = set()
        self._waiters: list[asyncio.Future[None]] = []

    def changed(self) -> None:
        """Wake every ``wait_for`` so that it checks its condition again."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for(self, condition: Callable[[], object], timeout: float = 5) -> None:  # noqa: ASYNC109 - public API
        """Return once ``condition()`` is true; it is checked after every emulator event.

        Events are: a request starting or ending, a session opening or closing,
        a client frame handled, a server frame sent, a violation recorded.
        Raises TimeoutError after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while not condition():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

    def violation(self, record: SessionRecord | None, message: str) -> None:
        """Record a protocol violation (per session when there is one, always globally)."""
        if record is not None:
            record.violations.append(message)
        self.violations.append(message)
        self.changed()

    def deviation(self, record: SessionRecord, message: str) -> None:
        """Record a departure from the spec that the real service accepts (not a violation)."""
        record.deviations.append(message)
        self.deviations.append(message)
        self.changed()

    def session_opened(self, record: SessionRecord) -> None:
        """Track ``record`` as an open connection."""
        self.sessions.append(record)
        self._open.add(id(record))
        self.changed()

    def session_closed(self, record: SessionRecord) -> None:
        """Mark ``record`` closed."""
        record.closed = True
        record.closed_at = asyncio.get_running_loop().time()
        self._open.discard(id(record))
        self.changed()

    def handler_started(self, task: asyncio.Task[Any]) -> None:
        """Track a request being handled (so that stop() can cancel stragglers)."""
        self.handlers.add(task)
        self.changed()

    def handler_finished(self, task: asyncio.Task[Any]) -> None:
        """Forget a handled request."""
        self.handlers.discard(task)
        self.changed()

    @property
    def open_sessions(self) -> int:
        """Live connections not closed yet."""
        return len(self._open)

    async def wait_all_closed(self, timeout: float = 5) -> None:  # noqa: ASYNC109 - public API
        """Return once every session is closed; raise TimeoutError otherwise."""
        await self.wait_for(lambda: not self._open, timeout)

    async def wait_idle(self, timeout: float = 5) -> None:  # noqa: ASYNC109 - public API
        """Return once no request is being handled (sessions closed, REST answered)."""
        await self.wait_for(lambda: not self.handlers, timeout)

    async def cancel_handlers(self) -> None:
        """Cancel requests still running, e.g. sleeping in a latency a client gave up on."""
        tasks = set(self.handlers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Error answer shaped like the service's: ``{"status", "message"}``."""
    return web.json_response({"status": status, "message": message}, status=status, headers=headers)
