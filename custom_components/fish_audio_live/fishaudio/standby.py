"""Standby sockets: live connections opened before the text arrives.

The TLS and WebSocket handshake (about 330 ms to Fish's cloud) is paid while
the user is still speaking or the agent still thinking, so first audio waits
only for synthesis. A standby socket is opened without `start`, at most one per
model, only when a session slot is free right now (it never makes a request
wait), and it closes unused after `ttl` seconds or as soon as the server
speaks on it.

Ownership is explicit: the standby owns a socket and its slot until `take()`
pops it, synchronously; from then on the taker owns both, even while the
handshake is still running, and a taker cancelled while waiting hands them to
a cleanup task. No flag is shared across tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import logging

import aiohttp

from .errors import AuthenticationError, FishAudioError, InsufficientCreditError
from .slots import SessionSlots

_LOGGER = logging.getLogger(__name__)

type Connector = Callable[[str], Awaitable[aiohttp.ClientWebSocketResponse]]

# A pipeline may wait for a wake word, or fail before it speaks: a pre-opened
# socket nobody takes is closed after this long (seconds).
DEFAULT_TTL = 25.0
CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class WarmConnection:
    """A handed-over socket and the receive that watched it while idle.

    The receive is handed over, not cancelled: cancelling an aiohttp receive
    marks the socket abnormally closed, and its close handshake is then skipped.
    """

    ws: aiohttp.ClientWebSocketResponse
    pending: asyncio.Future[aiohttp.WSMessage]

    async def aclose(self) -> None:
        """Close it unused (its slot is the caller's to release)."""
        await close_socket(self.ws, self.pending)


@dataclass(eq=False, slots=True)
class _Pending:
    """One socket being opened or waiting to be taken."""

    model: str
    task: asyncio.Task[WarmConnection | None] | None = None
    timer: asyncio.TimerHandle | None = None
    taken: bool = False


@dataclass(slots=True)
class StandbyStats:
    """Counters for diagnostics and tests."""

    opened: int = 0
    used: int = 0
    expired: int = 0
    failed: int = 0
    last_error: str | None = field(default=None)


class Standby:
    """At most one pre-opened live socket per model, each holding a session slot."""

    def __init__(
        self,
        connect: Connector,
        slots: SessionSlots,
        *,
        ttl: float = DEFAULT_TTL,
        keep: bool = False,
    ) -> None:
        """`keep` reopens a socket whenever one ages out or is used (always ready)."""
        self._connect = connect
        self._slots = slots
        self.ttl = ttl
        self.keep = keep
        self._pending: dict[str, _Pending] = {}
        self._cleanup: set[asyncio.Task[None]] = set()
        self._refused: set[str] = set()
        self._stopped = False
        self.stats = StandbyStats()

    @property
    def models(self) -> list[str]:
        """Models with a socket opening or waiting."""
        return list(self._pending)

    def open(self, model: str) -> bool:
        """Start opening a socket for `model` unless one is there or no slot is free now."""
        if self._stopped or model in self._pending or model in self._refused:
            return False
        if not self._slots.try_acquire():
            return False
        pending = _Pending(model)
        self._pending[model] = pending
        pending.task = asyncio.create_task(self._handshake(pending), name="fish_audio_live_standby")
        return True

    async def ready(self, model: str) -> bool:
        """Wait for the handshake of `model`'s socket; True if one is open and waiting."""
        pending = self._pending.get(model)
        if pending is None or pending.task is None:
            return False
        await asyncio.wait({pending.task})
        return self._pending.get(model) is pending

    async def take(self, model: str) -> tuple[bool, WarmConnection | None]:
        """Take `model`'s socket and its slot: (slot taken, socket or None if it failed).

        Waits for a handshake still under way rather than opening a second socket.
        """
        pending = self._pending.pop(model, None)
        if pending is None or pending.task is None:
            return False, None
        pending.taken = True
        if pending.timer is not None:
            pending.timer.cancel()
        try:
            await asyncio.wait({pending.task})
        except asyncio.CancelledError:
            self._dispose(pending)  # the slot and socket go back without us
            raise
        conn = _outcome(pending.task)
        if conn is not None and (conn.ws.closed or conn.pending.done()):
            # The server spoke or closed while idle: close it, keep the slot.
            await conn.aclose()
            conn = None
        if conn is not None:
            self.stats.used += 1
        return True, conn

    def release_one(self) -> bool:
        """Close a waiting socket so a real request can have its slot; False if none."""
        for model in list(self._pending):
            self._expire(model, refill=False)
            return True
        return False

    async def aclose(self) -> None:
        """Close every standby socket and stop opening new ones."""
        self._stopped = True
        for model in list(self._pending):
            self._expire(model, refill=False)
        await self.settled()

    async def settled(self) -> None:
        """Wait until every socket being closed is closed and its slot is back."""
        while self._cleanup:
            await asyncio.wait(set(self._cleanup))

    async def _handshake(self, pending: _Pending) -> WarmConnection | None:
        try:
            ws = await self._connect(pending.model)
        except FishAudioError as err:
            self._on_failure(pending, err)
            return None
        self.stats.opened += 1
        watch = asyncio.ensure_future(ws.receive())
        if not pending.taken:
            loop = asyncio.get_running_loop()
            pending.timer = loop.call_later(self.ttl, self._expire, pending.model, self.keep)
            watch.add_done_callback(lambda _: self._on_server_spoke(pending))
        return WarmConnection(ws, watch)

    def _on_failure(self, pending: _Pending, err: FishAudioError) -> None:
        """A failed pre-connect is silent: the real request connects and reports."""
        _LOGGER.debug("Could not open a standby socket: %s", err.kind)
        self.stats.failed += 1
        self.stats.last_error = err.kind
        if isinstance(err, AuthenticationError):
            self._stopped = True  # the key is refused: a reauth will reload us
        elif isinstance(err, InsufficientCreditError):
            self._refused.add(pending.model)  # no credit for this model; others may work
        if not pending.taken and self._pending.get(pending.model) is pending:
            del self._pending[pending.model]
            self._slots.release()

    def _on_server_spoke(self, pending: _Pending) -> None:
        if not pending.taken and self._pending.get(pending.model) is pending:
            self._expire(pending.model, refill=False)

    def _expire(self, model: str, refill: bool) -> None:
        """Close `model`'s untaken socket and free its slot."""
        pending = self._pending.pop(model, None)
        if pending is None:
            return
        self.stats.expired += 1
        self._dispose(pending, refill=refill)

    def _dispose(self, pending: _Pending, *, refill: bool = False) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.create_task(self._close(pending, refill), name="fish_audio_live_standby")
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    async def _close(self, pending: _Pending, refill: bool) -> None:
        try:
            if pending.task is not None:
                if not pending.task.done():
                    pending.task.cancel()
                await asyncio.wait({pending.task})
                if conn := _outcome(pending.task):
                    await conn.aclose()
        finally:
            self._slots.release()
        if refill and self.keep:
            self.open(pending.model)


def _outcome(task: asyncio.Task[WarmConnection | None]) -> WarmConnection | None:
    """The socket a finished handshake gave, None if it failed in any way."""
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()


async def close_socket(
    ws: aiohttp.ClientWebSocketResponse, watch: asyncio.Future[aiohttp.WSMessage] | None
) -> None:
    """Close an idle socket, bounded; the watching receive ends with it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await ws.close()
    if watch is not None:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await watch
