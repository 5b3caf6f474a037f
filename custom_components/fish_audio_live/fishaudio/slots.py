"""The account's parallel-session slots: one per open live socket.

Fish caps parallel sessions per account; the client queues requests instead of
letting the server answer 429. Unlike asyncio.Semaphore, a slot can be taken
without waiting (`try_acquire`), which a pre-connect needs: it must never make
a real request wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class SessionSlots:
    """A counting gate with a synchronous try and first-come waiting."""

    def __init__(self, size: int) -> None:
        """Start with `size` free slots."""
        self.size = size
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._changed = asyncio.Event()

    @property
    def free(self) -> int:
        """Slots free right now."""
        return self._free

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits for it; never blocks."""
        if self._free > 0 and not self.waiting:
            self._free -= 1
            self._changed.set()
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a slot, first come first served."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._changed.set()
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted as we were cancelled: hand it on
            raise
        finally:
            self._waiters.remove(waiter)
            self._changed.set()

    def release(self) -> None:
        """Give a slot back, straight to the longest waiter if there is one."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free = min(self.size, self._free + 1)
        self._changed.set()

    async def wait_until(self, condition: Callable[[SessionSlots], bool]) -> None:
        """Wait until `condition(self)` holds (for diagnostics and tests)."""
        while not condition(self):
            self._changed.clear()
            await self._changed.wait()
