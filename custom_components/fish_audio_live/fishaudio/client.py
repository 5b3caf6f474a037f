"""The Fish Audio client: REST calls and live sessions, with a per-account cap.

Each live session is driven by a task of its own, which owns the session slot
and the socket from start to end: they are freed when the session ends, however
the reader of its audio behaves. A reader that stops reading (Home Assistant
keeps a failed stream's generator around for minutes) costs at most
`Timeouts.consumer_idle` seconds of a slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
import contextlib
import logging
import time

import aiohttp

from .errors import (
    CannotConnectError,
    ConnectTimeoutError,
    FishAudioError,
    RateLimitError,
    ServerError,
)
from .live import LiveSession, SessionStats, Timeouts, connect
from .pacing import keep_flowing
from .resample import convert_pcm
from .rest import RestApi
from .settings import DEFAULT_MODEL, SynthesisSettings
from .slots import SessionSlots
from .standby import DEFAULT_TTL, Standby, WarmConnection
from .text_policy import FlushPolicy
from .urls import DEFAULT_URL, live_url
from .wav import WAV_HEADER_SIZE, shape_header, wav_file

_LOGGER = logging.getLogger(__name__)

# Fish's smallest tier allows 5 parallel sessions per account.
DEFAULT_MAX_SESSIONS = 5
RETRY_DELAYS = (0.5, 1.0, 2.0)
MAX_RETRY_AFTER = 5.0
# How long an always-ready socket (keep_warm) stays open before it is replaced.
KEEP_WARM_MAX_AGE = 45.0
# Silence fill of a stalled WAV stream: kept this far ahead of playback, in blocks
# of this length (seconds); real audio waits behind at most their sum.
FILL_LEAD = 0.15
FILL_BLOCK = 0.05

type _Item = bytes | BaseException | None


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
        preconnect: bool = True,
        standby_ttl: float | None = None,
    ) -> None:
        """Set up; nothing is contacted until a method is called."""
        self._http = http
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.rest = RestApi(http, self.base_url, api_key)
        self.timeouts = timeouts or Timeouts()
        self.policy = policy or FlushPolicy()
        self.slots = SessionSlots(max_sessions)
        self._retry_delays = RETRY_DELAYS if retry_delays is None else retry_delays
        self._runs: set[_SessionRun] = set()
        self.recent: deque[SessionStats] = deque(maxlen=history)
        self._session_listeners: list[Callable[[SessionStats], None]] = []
        self._closed = False
        self.keep_warm = keep_warm
        self.preconnect_enabled = preconnect or keep_warm
        ttl = standby_ttl or (KEEP_WARM_MAX_AGE if keep_warm else DEFAULT_TTL)
        self.standby = Standby(self._connect, self.slots, ttl=ttl, keep=keep_warm)

    @property
    def waiting(self) -> int:
        """Requests waiting for a session slot."""
        return self.slots.waiting

    @property
    def active_sessions(self) -> int:
        """Live sessions holding a slot right now (not those still waiting for one)."""
        return sum(1 for run in self._runs if run.holding)

    def add_session_listener(self, callback: Callable[[SessionStats], None]) -> Callable[[], None]:
        """Call back once per ended session; returns the function that unsubscribes."""
        self._session_listeners.append(callback)
        return lambda: self._session_listeners.remove(callback)

    def start_warm(self, model: str | None = None) -> None:
        """Open the always-ready socket (keep_warm only), for the model voices use."""
        if self.keep_warm and not self._closed:
            self.standby.open(model or DEFAULT_MODEL)

    def preconnect(self, model: str) -> bool:
        """A request for `model` is coming: open its socket now if a slot is free.

        Never waits and never fails; True if a socket started opening.
        """
        if not self.preconnect_enabled or self._closed:
            return False
        return self.standby.open(model)

    async def aclose(self) -> None:
        """End open sessions quietly and close standby sockets."""
        self._closed = True  # requests still waiting for a slot must not open one
        self.cancel_all()
        await self.standby.aclose()
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait until no session runs and every standby clean-up is done."""
        tasks = {run.task for run in self._runs if run.task is not None}
        if tasks:
            await asyncio.wait(tasks)
        await self.standby.settled()

    def cancel_all(self) -> None:
        """End every session now (the integration is unloading): readers get an error."""
        for run in list(self._runs):
            run.stop(CannotConnectError("session closed: the integration is unloading"))

    async def _connect(self, model: str) -> aiohttp.ClientWebSocketResponse:
        try:
            async with asyncio.timeout(self.timeouts.connect):
                return await connect(self._http, live_url(self.base_url), self._api_key, model)
        except TimeoutError as err:
            raise ConnectTimeoutError("timed out opening a standby socket") from err

    async def stream(
        self,
        settings: SynthesisSettings,
        text: AsyncIterable[str],
        *,
        fill_silence: bool = False,
    ) -> AsyncGenerator[bytes]:
        """Synthesize streamed text, yielding audio as it comes.

        WAV is framed here: a streaming header, then Fish's PCM converted to the
        delivered shape; with `fill_silence`, a stalled WAV or PCM stream is
        padded with silence so players do not starve. Waits for a free session slot rather
        than letting the server answer 429, and retries a 429 or 5xx handshake.
        """
        settings.validate()
        if self._closed:
            raise CannotConnectError("client closed: the integration is unloading or stopping")
        run = self._start(settings, text)
        try:
            audio = run.audio()
            if settings.format in ("wav", "pcm"):
                shape = settings.delivered_shape
                if settings.format == "wav":
                    run.handed_out()
                    yield shape_header(shape)
                    run.asked_again()
                audio = convert_pcm(audio, settings.source_shape, shape)
                if fill_silence:
                    audio = keep_flowing(
                        audio,
                        byte_rate=shape.rate * shape.channels * shape.width,
                        frame_bytes=shape.channels * shape.width,
                        idle_limit=self.timeouts.text_idle,
                        silence=b"\x80" if shape.width == 1 else b"\x00",  # 8-bit is unsigned
                        lead=FILL_LEAD,
                        block=FILL_BLOCK,
                    )
            async with contextlib.aclosing(audio):
                async for chunk in audio:
                    # Timed at this outer edge: between here and the next request for
                    # audio, the reader (Home Assistant) holds us.
                    run.handed_out()
                    yield chunk
                    run.asked_again()
        finally:
            await run.close()

    async def synthesize(self, settings: SynthesisSettings, text: str) -> bytes:
        """Synthesize a whole message into one complete file."""
        data = b"".join([chunk async for chunk in self.stream(settings, _once(text))])
        if settings.format == "wav":
            return wav_file(data[WAV_HEADER_SIZE:], settings.delivered_shape)
        return data

    def _start(self, settings: SynthesisSettings, text: AsyncIterable[str]) -> _SessionRun:
        """Start a session's driving task; the run is its mailbox."""
        session = LiveSession(
            self._http,
            live_url(self.base_url),
            self._api_key,
            settings,
            timeouts=self.timeouts,
            policy=self.policy,
        )
        run = _SessionRun(settings, session.stats, self.timeouts.consumer_idle)
        self._runs.add(run)
        run.task = asyncio.create_task(self._drive(run, session, text), name="fish_audio_live")
        run.task.add_done_callback(lambda _: self._ended(run))
        return run

    async def _acquire(self, model: str) -> WarmConnection | None:
        """Take a session slot (and the standby socket for `model`, if there is one)."""
        owned, conn = await self.standby.take(model)
        if owned:
            return conn
        if self.slots.free == 0:
            # A real request takes precedence over an idle standby socket.
            self.standby.release_one()
        try:
            async with asyncio.timeout(self.timeouts.slot_wait):
                await self.slots.acquire()
        except TimeoutError as err:
            raise RateLimitError("every parallel session stayed busy", status=None) from err
        if self._closed:
            self.slots.release()
            raise CannotConnectError("client closed: the integration is unloading or stopping")
        return None

    async def _open(self, session: LiveSession, conn: WarmConnection | None) -> None:
        """Open the socket: 429 is retried with backoff, a 5xx once, a dead standby at once."""
        delays = iter(self._retry_delays)
        server_retried = False
        while True:
            try:
                if conn is not None:
                    await session.open(conn.ws, conn.pending)
                else:
                    await session.open()
            except CannotConnectError:
                if conn is None:
                    raise
                _LOGGER.debug("Standby socket was dead; connecting afresh")
                await conn.aclose()
                conn = None
                continue
            except RateLimitError as err:
                delay = next(delays, None)
                if delay is None:
                    raise
                wait = min(err.retry_after or delay, MAX_RETRY_AFTER)
            except ServerError as err:
                if server_retried or not self._retry_delays:
                    raise
                server_retried = True
                wait = self._retry_delays[0]
                _LOGGER.debug("Fish Audio server error at the handshake (%s)", err.message)
            else:
                return
            conn = None
            _LOGGER.debug("Fish Audio refused the session for now; retrying in %.1f s", wait)
            await asyncio.sleep(wait)

    async def _drive(
        self, run: _SessionRun, session: LiveSession, text: AsyncIterable[str]
    ) -> None:
        """Own one session's slot and socket from start to end, feeding `run`."""
        try:
            conn = await self._acquire(run.settings.model)
            run.holding = True
            # The session's own timings start with its slot: waiting is the account's cap.
            session.stats.started = time.monotonic()
            try:
                await self._open(session, conn)
                async for chunk in session.stream(text):
                    run.put(chunk)
                run.put(None)
            finally:
                try:
                    await session.aclose()
                finally:
                    run.holding = False
                    self.slots.release()  # even when the close itself is cancelled
        except asyncio.CancelledError:
            run.put(CannotConnectError("session cancelled"))  # unless stop() said why
            raise
        except FishAudioError as err:
            session.stats.error = err.kind
            run.put(err)
        except Exception as err:  # noqa: BLE001 - handed to the reader, which raises it
            run.put(err)

    def _ended(self, run: _SessionRun) -> None:
        """Done callback of a session's task, which may be cancelled before it starts."""
        run.finished()
        self._runs.discard(run)
        stats = run.stats
        if run.stopping:
            stats.error = run.stop_error.kind if run.stop_error else "aborted"
        stats.ended = stats.ended or time.monotonic()
        self.recent.append(stats)
        for listener in list(self._session_listeners):
            listener(stats)
        if self.keep_warm and not self._closed:
            self.standby.open(run.settings.model)


class _SessionRun:
    """The mailbox between a session's driving task and the reader of its audio.

    The task runs the session to its end whether or not anyone reads; a reader
    that stops asking for audio for `consumer_idle` seconds is gone, and the
    session ends early.
    """

    def __init__(self, settings: SynthesisSettings, stats: SessionStats, consumer_idle: float):
        self.settings = settings
        self.stats = stats
        self._consumer_idle = consumer_idle
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._unread_timer: asyncio.TimerHandle | None = None
        self.stop_error: FishAudioError | None = None
        self.stopping = False
        self.holding = False  # a session slot
        self.task: asyncio.Task[None] | None = None

    def stop(self, error: FishAudioError | None = None) -> None:
        """End the session early: the reader gets `error` (None: the reader is gone)."""
        if self.task is None or self.task.done() or self.stopping:
            return
        self.stop_error = error
        self.put(error or CannotConnectError("the session ended early"))
        self.stopping = True  # from now on, the task's own errors are noise
        self.task.cancel()

    async def audio(self) -> AsyncGenerator[bytes]:
        """The session's audio, then its error if it failed."""
        try:
            while True:
                item = await self.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self.close()

    async def close(self) -> None:
        """The reader is done: end the session if it still runs, and wait for it."""
        self.stop()
        if self.task is not None:
            await asyncio.wait({self.task})

    def put(self, item: _Item) -> None:
        """Queue audio, the end (None) or an error."""
        if self.stopping and isinstance(item, BaseException):
            return  # stop() already queued the reason
        self.queue.put_nowait(item)

    def finished(self) -> None:
        """The task is over: nothing is left to bound."""
        self.asked_again()

    def handed_out(self) -> None:
        """Audio went to the reader: it must come back for more within the bound."""
        if self.task is not None and not self.task.done() and self._unread_timer is None:
            loop = asyncio.get_running_loop()
            self._unread_timer = loop.call_later(self._consumer_idle, self._reader_gone)

    def asked_again(self) -> None:
        """The reader is back, waiting for audio."""
        if self._unread_timer is not None:
            self._unread_timer.cancel()
            self._unread_timer = None

    def _reader_gone(self) -> None:
        self._unread_timer = None
        _LOGGER.debug("The reader stopped asking for audio; ending the live session")
        self.stop(CannotConnectError("nobody read the audio"))


async def _once(text: str) -> AsyncIterator[str]:
    yield text


__all__ = ["FishAudioClient"]
