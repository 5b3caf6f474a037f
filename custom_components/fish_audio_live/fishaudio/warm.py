"""A warm socket: one live connection opened ahead of need.

The TLS and WebSocket handshake (about 330 ms to Fish's cloud) is paid before
the text arrives, so first audio waits only for the server's synthesis. The
socket is opened without `start` and replaced after `max_age` seconds, or as
soon as the server closes it. It holds one of the account's parallel-session
slots while idle, and is only opened when a slot is free, so it never makes a
real request wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
import logging

import aiohttp

from .errors import AuthenticationError, FishAudioError, InsufficientCreditError

_LOGGER = logging.getLogger(__name__)

type Connector = Callable[[str], Awaitable[aiohttp.ClientWebSocketResponse]]


@dataclass(frozen=True, slots=True)
class WarmConnection:
    """A handed-over warm socket and the receive that watched it while idle.

    The receive is handed over, not cancelled: cancelling an aiohttp receive
    marks the socket abnormally closed, and its close handshake is then skipped.
    """

    ws: aiohttp.ClientWebSocketResponse
    pending: asyncio.Future[aiohttp.WSMessage]

    async def aclose(self) -> None:
        """Close it unused (its slot is the caller's to release)."""
        await _close(self.ws, self.pending)


DEFAULT_MAX_AGE = 45.0
RETRY_AFTER_FAILURE = 30.0
# A socket the server closes sooner than this was refused, not aged: back off.
MIN_LIFETIME = 10.0
CLOSE_TIMEOUT = 2.0


class WarmSocket:
    """Keeps one pre-opened live socket for one model."""

    def __init__(
        self,
        connect: Connector,
        slots: asyncio.Semaphore,
        model: str,
        *,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        """Nothing is opened until `refill()`."""
        self._connect = connect
        self._slots = slots
        self.model = model
        self._max_age = max_age
        self._ready: aiohttp.ClientWebSocketResponse | None = None
        self._watch: asyncio.Future[aiohttp.WSMessage] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._refused: set[str] = set()
        self._handed_over = False
        self._changed = asyncio.Event()
        self._pause = asyncio.sleep  # the back-off wait, replaceable in tests
        self.opened = 0
        self.used = 0

    @property
    def ready(self) -> bool:
        """Whether a socket is open and waiting."""
        return self._ready is not None

    async def wait_ready(self, *, count: int = 1) -> bool:
        """Wait until the `count`-th socket opened is ready; False if warming stopped."""
        while not self._halted and (self._ready is None or self.opened < count):
            self._changed.clear()
            await self._changed.wait()
        return self._ready is not None and not self._halted

    @property
    def _halted(self) -> bool:
        """Warming stopped for good, or for the current model (no credit for it)."""
        return self._stopped or self.model in self._refused

    def refill(self, model: str | None = None) -> None:
        """Open a warm socket in the background if none is there and a slot is free."""
        idle = self._task is None or self._task.done()
        if model is not None and model != self.model and idle:
            self.model = model
        if self._stopped or (self._task is not None and not self._task.done()):
            return
        if self._slots.locked() or self.model in self._refused:
            return
        self._task = asyncio.create_task(self._keep(), name="fish_audio_live_warm_socket")

    async def take(self, model: str) -> WarmConnection | None:
        """Hand over the warm socket and its slot, if one is open for `model`."""
        ws, watch = self._ready, self._watch
        if ws is None or watch is None or model != self.model or ws.closed or watch.done():
            return None  # a socket the server already spoke on is replaced, not used
        self._ready = self._watch = None
        self._handed_over = True
        await self._stop_task()
        self._handed_over = False
        self.used += 1
        return WarmConnection(ws, watch)

    async def aclose(self) -> None:
        """Stop keeping a socket warm and close the idle one."""
        self._stopped = True
        self._changed.set()
        await self._stop_task()

    async def release(self) -> None:
        """Close the idle socket to free its slot for a request that would wait."""
        await self._stop_task()

    async def _stop_task(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            # Wait without absorbing a cancellation aimed at our caller.
            await asyncio.wait({task})
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise asyncio.CancelledError
        if self._task is task:
            self._task = None

    async def _keep(self) -> None:
        """Hold a slot and an open socket until taken; replace it when it ages or drops."""
        await self._slots.acquire()
        try:
            while True:  # ended by cancellation (take, release, aclose) or a refused key
                ws = await self._open()
                if ws is None:
                    if self._halted:
                        break  # key or model refused: give the slot back now
                    await self._pause(RETRY_AFTER_FAILURE)
                    continue
                self._ready = ws
                self._changed.set()
                opened_at = asyncio.get_running_loop().time()
                dropped = await self._idle(ws)
                if dropped and asyncio.get_running_loop().time() - opened_at < MIN_LIFETIME:
                    await self._pause(RETRY_AFTER_FAILURE)
        finally:
            if not self._handed_over:
                self._slots.release()  # first: the close below may itself be cancelled
            if self._ready is not None:
                # Cancelled by aclose() or release(), not by take(): ours to close.
                ws, self._ready = self._ready, None
                watch, self._watch = self._watch, None
                await _close(ws, watch)

    async def _open(self) -> aiohttp.ClientWebSocketResponse | None:
        try:
            ws = await self._connect(self.model)
        except AuthenticationError as err:
            _LOGGER.debug("Not keeping a socket warm: %s", err.kind)
            self._stopped = True
            self._changed.set()
            return None
        except InsufficientCreditError:
            # No credit for this model (a free account on a paid model): others may work.
            _LOGGER.debug("Not keeping a socket warm for %s: no credit", self.model)
            self._refused.add(self.model)
            self._changed.set()
            return None
        except FishAudioError as err:
            _LOGGER.debug("Could not open a warm socket: %s", err.kind)
            return None
        self.opened += 1
        return ws

    async def _idle(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Wait until the socket ages out or the server speaks; True if the server did."""
        self._watch = asyncio.ensure_future(ws.receive())
        done, _ = await asyncio.wait({self._watch}, timeout=self._max_age)
        self._ready = None
        watch, self._watch = self._watch, None
        await _close(ws, watch)
        return bool(done)


async def _close(
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
