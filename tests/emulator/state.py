"""State shared by the live socket, the REST endpoints and the test-facing API."""

from __future__ import annotations

import asyncio
from typing import Protocol

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
        self.rest_calls: list[str] = []
        self.live: set[OpenSession] = set()
        self._open: set[int] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def violation(self, record: SessionRecord | None, message: str) -> None:
        """Record a protocol violation (per session when there is one, always globally)."""
        if record is not None:
            record.violations.append(message)
        self.violations.append(message)

    def session_opened(self, record: SessionRecord) -> None:
        """Track ``record`` as an open connection."""
        self.sessions.append(record)
        self._open.add(id(record))
        self._idle.clear()

    def session_closed(self, record: SessionRecord) -> None:
        """Mark ``record`` closed and wake ``wait_all_closed`` when nothing is open."""
        record.closed = True
        record.closed_at = asyncio.get_running_loop().time()
        self._open.discard(id(record))
        if not self._open:
            self._idle.set()

    @property
    def open_sessions(self) -> int:
        """Live connections not closed yet."""
        return len(self._open)

    async def wait_all_closed(self, timeout: float = 5) -> None:  # noqa: ASYNC109 - public API
        """Return once every session is closed; raise TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Error answer shaped like the service's: ``{"status", "message"}``."""
    return web.json_response({"status": status, "message": message}, status=status, headers=headers)
