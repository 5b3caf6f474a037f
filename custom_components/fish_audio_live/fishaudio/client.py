"""The Fish Audio client: REST calls and live sessions, with a per-account cap."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
import contextlib
import logging
import time

import aiohttp

from .errors import CannotConnectError, ConnectTimeoutError, FishAudioError, RateLimitError
from .live import LiveSession, SessionStats, Timeouts, connect
from .rest import RestApi
from .settings import DEFAULT_MODEL, SynthesisSettings
from .text_policy import FlushPolicy
from .urls import DEFAULT_URL, live_url
from .warm import WarmConnection, WarmSocket
from .wav import wav_file

_LOGGER = logging.getLogger(__name__)

# Fish's smallest tier allows 5 parallel sessions per account.
DEFAULT_MAX_SESSIONS = 5
RETRY_DELAYS = (0.5, 1.0, 2.0)
MAX_RETRY_AFTER = 5.0


class FishAudioClient:
    """Everything the integration asks of Fish Audio, on an injected aiohttp session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api_key: str,
        base_url: str = DEFAULT_URL,
        *,
        timeouts: Timeouts | None = None,
        policy: FlushPolicy | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        retry_delays: tuple[float, ...] | None = None,
        history: int = 20,
        keep_warm: bool = False,
    ) -> None:
        """Set up; nothing is contacted until a method is called."""
        self._http = http
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.rest = RestApi(http, self.base_url, api_key)
        self.timeouts = timeouts or Timeouts()
        self.policy = policy or FlushPolicy()
        self._slots = asyncio.Semaphore(max_sessions)
        self._retry_delays = RETRY_DELAYS if retry_delays is None else retry_delays
        self._active: set[LiveSession] = set()
        self.recent: deque[SessionStats] = deque(maxlen=history)
        self.waiting = 0
        self._closed = False
        self.warm: WarmSocket | None = None
        if keep_warm:
            self.warm = WarmSocket(self._connect, self._slots, DEFAULT_MODEL)

    def start_warm(self, model: str | None = None) -> None:
        """Open the first warm socket (keep_warm only), for the model voices use."""
        if self.warm is not None:
            self.warm.refill(model)

    async def aclose(self) -> None:
        """End open sessions quietly and stop the warm socket."""
        self._closed = True  # requests still waiting for a slot must not open one
        self.cancel_all()
        if self.warm is not None:
            await self.warm.aclose()

    async def _connect(self, model: str) -> aiohttp.ClientWebSocketResponse:
        try:
            async with asyncio.timeout(self.timeouts.connect):
                return await connect(self._http, live_url(self.base_url), self._api_key, model)
        except TimeoutError as err:
            raise ConnectTimeoutError("timed out opening a warm socket") from err

    @property
    def active_sessions(self) -> int:
        """Live sessions open right now."""
        return len(self._active)

    async def stream(
        self, settings: SynthesisSettings, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        """Synthesize streamed text, yielding audio as it comes.

        Waits for a free session slot rather than letting the server answer 429,
        and retries a 429 handshake with backoff before giving up.
        """
        settings.validate()
        warm = await self._take_warm(settings.model)
        if warm is None:
            await self._acquire_slot()
        session = LiveSession(
            self._http,
            live_url(self.base_url),
            self._api_key,
            settings,
            timeouts=self.timeouts,
            policy=self.policy,
        )
        self._active.add(session)
        try:
            if self._closed:
                if warm is not None:
                    await warm.aclose()
                raise CannotConnectError("client closed: the integration is unloading or stopping")
            await self._open(session, warm)
            # Closed here, not by the garbage collector, when the caller stops early.
            async with contextlib.aclosing(session.stream(text)) as audio:
                async for chunk in audio:
                    yield chunk
        except FishAudioError as err:
            session.stats.error = err.kind
            raise
        finally:
            try:
                await session.aclose()
            finally:
                # Even if cleanup itself is cancelled, the slot must come back.
                self._active.discard(session)
                self._slots.release()
                session.stats.ended = session.stats.ended or time.monotonic()
                self.recent.append(session.stats)
                if self.warm is not None:
                    self.warm.refill(settings.model)

    async def synthesize(self, settings: SynthesisSettings, text: str) -> bytes:
        """Synthesize a whole message into one complete file."""
        if settings.format == "wav":
            pcm = await self._collect(settings.with_changes(format="pcm"), text)
            return wav_file(pcm, settings.effective_sample_rate)
        return await self._collect(settings, text)

    def cancel_all(self) -> None:
        """End every open session quietly (the integration is unloading)."""
        for session in self._active:
            session.cancel()

    async def _collect(self, settings: SynthesisSettings, text: str) -> bytes:
        chunks = [chunk async for chunk in self.stream(settings, _once(text))]
        return b"".join(chunks)

    async def _take_warm(self, model: str) -> WarmConnection | None:
        """Use the warm socket; or free its slot if this request would otherwise wait."""
        if self.warm is None:
            return None
        warm = await self.warm.take(model)
        if warm is None and (self._slots.locked() or self.warm.model != model):
            # Free the slot for this request, and warm up for the model now in use.
            await self.warm.release()
        return warm

    async def _acquire_slot(self) -> None:
        self.waiting += 1
        try:
            async with asyncio.timeout(self.timeouts.slot_wait):
                await self._slots.acquire()
        except TimeoutError as err:
            raise RateLimitError("every parallel session stayed busy", status=None) from err
        finally:
            self.waiting -= 1

    async def _open(self, session: LiveSession, warm: WarmConnection | None) -> None:
        """Open the socket, retrying 429 answers within a bound."""
        for delay in (*self._retry_delays, None):
            try:
                if warm is not None:
                    await session.open(warm.ws, warm.pending)
                else:
                    await session.open()
            except RateLimitError as err:
                warm = None
                if delay is None:
                    raise
                wait = min(err.retry_after or delay, MAX_RETRY_AFTER)
                _LOGGER.debug("Rate limited by Fish Audio; retrying in %.1f s", wait)
                await asyncio.sleep(wait)
            else:
                return


async def _once(text: str) -> AsyncIterator[str]:
    yield text


__all__ = ["FishAudioClient"]
