"""One live synthesis session over Fish Audio's WebSocket API.

A writer task feeds text (and flushes, per the text policy) while the caller
reads audio, so audio for early text flows while later text is still coming.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
import contextlib
from dataclasses import dataclass, field
import logging
import math
import time
from typing import Any

import aiohttp

from . import protocol
from .errors import (
    AudioGapTimeoutError,
    CannotConnectError,
    ConnectTimeoutError,
    FirstAudioTimeoutError,
    FishAudioError,
    InvalidResponseError,
    SessionLimitError,
    SynthesisError,
    TextTimeoutError,
    error_for_status,
    server_text,
)
from .settings import SynthesisSettings
from .text_policy import FLUSH, FlushPolicy, TextPlanner

_LOGGER = logging.getLogger(__name__)

LIVE_PATH = "/v1/tts/live"
# What the server may send in one frame; our own `start` (a whole clip) is not bound by it.
MAX_FRAME_BYTES = protocol.MAX_FRAME_BYTES
# Audio the server may send per character of text sent, and before any: far above any
# voice (44.1 kHz PCM is about 9 KB per spoken character), so only a runaway server hits it.
AUDIO_BYTES_PER_CHAR = 64 * 1024
AUDIO_BYTES_BASE = 4 * 1024 * 1024
# Slowest uplink we plan for when sending a large `start` (bytes per second).
MIN_UPLOAD_RATE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Bounds of a live session, in seconds."""

    connect: float = 10.0
    first_audio: float = 20.0
    audio_gap: float = 15.0
    close: float = 2.0
    # A text source that goes quiet this long (a caller that died without ending
    # its stream) gives the session and its slot back. Generous: LLM tool calls.
    text_idle: float = 120.0
    # Longest wait for one of the account's parallel-session slots.
    slot_wait: float = 60.0
    # A reader that stops asking for audio this long is gone (Home Assistant keeps
    # a failed stream's generator for minutes): the session ends, its slot freed.
    # Home Assistant reads eagerly, so a few seconds is generous.
    consumer_idle: float = 5.0
    # Longest a session may take once its text has ended (a server that trickles audio
    # without ever finishing), plus a share per character: Fish speaks about 15
    # characters a second and synthesizes faster than real time.
    after_stop: float = 60.0
    per_char: float = 0.1


@dataclass(slots=True)
class SessionStats:
    """What one session did, for diagnostics and benchmarks."""

    model: str
    format: str
    started: float = field(default_factory=time.monotonic)
    connected: float | None = None
    first_text: float | None = None
    first_audio: float | None = None
    ended: float | None = None
    chars: int = 0
    text_bytes: int = 0  # UTF-8 bytes sent in `text` events: what Fish bills
    audio_bytes: int = 0
    audio_frames: int = 0
    flushes: int = 0
    server_time_ms: float = 0.0
    error: str | None = None

    @property
    def time_to_first_audio(self) -> float | None:
        """Seconds from the session's start to its first audio byte."""
        return None if self.first_audio is None else self.first_audio - self.started

    def as_dict(self) -> dict[str, Any]:
        """A summary without any text or key."""

        def since(moment: float | None) -> float | None:
            return None if moment is None else round(moment - self.started, 4)

        return {
            "model": self.model,
            "format": self.format,
            "connect_s": since(self.connected),
            "first_text_s": since(self.first_text),
            "first_audio_s": since(self.first_audio),
            "total_s": since(self.ended),
            "chars": self.chars,
            "audio_bytes": self.audio_bytes,
            "audio_frames": self.audio_frames,
            "flushes": self.flushes,
            "server_time_ms": round(self.server_time_ms, 2),
            "error": self.error,
        }


class LiveSession:
    """A live session: `stream()` sends text and yields audio, then closes."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ws_url: str,
        api_key: str,
        settings: SynthesisSettings,
        *,
        timeouts: Timeouts | None = None,
        policy: FlushPolicy | None = None,
    ) -> None:
        """Prepare a session; nothing is opened until `stream()` runs."""
        self._http = http
        self._url = ws_url
        self._api_key = api_key
        self.settings = settings
        self._timeouts = timeouts or Timeouts()
        self._planner = TextPlanner(policy)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._writer: asyncio.Task[None] | None = None
        self._writer_error: BaseException | None = None
        self._deadline: asyncio.Timeout | None = None
        self._owed_since: float | None = None
        self._stop_sent_at: float | None = None
        self._last_audio_at: float | None = None
        self._pending: asyncio.Future[aiohttp.WSMessage] | None = None
        self._over_total = False
        self.stats = SessionStats(model=settings.model, format=settings.format)

    async def stream(self, text: AsyncIterable[str]) -> AsyncGenerator[bytes]:
        """Open the socket (unless `open()` did), then yield audio while `text` is fed.

        The audio is the server's, as it arrives (raw PCM for WAV: framing is the
        caller's). Cancelling the task that reads it ends the session.
        """
        try:
            if self._ws is None:
                await self.open()
            self._writer = asyncio.create_task(self._feed(text), name="fish_audio_live_writer")
            async for chunk in self._receive():
                yield chunk
            if self._writer_error is not None:
                raise self._writer_error
        except FishAudioError as err:
            self.stats.error = err.kind
            raise
        except BaseException:
            self.stats.error = self.stats.error or "aborted"
            raise
        finally:
            self.stats.ended = time.monotonic()
            await self.aclose()

    async def aclose(self) -> None:
        """Stop the writer and close the socket; safe to call twice."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._timeouts.close):
                    await self._ws.close()
        if self._pending is not None:
            # A standby socket's receive that was never read: it ended with the close.
            pending, self._pending = self._pending, None
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending

    async def open(
        self,
        ws: aiohttp.ClientWebSocketResponse | None = None,
        pending: asyncio.Future[aiohttp.WSMessage] | None = None,
    ) -> None:
        """Open the socket (or adopt a pre-opened one and its pending receive), send `start`."""
        self._pending = pending
        start = protocol.start_event(
            self.settings.start_request(), debug=_LOGGER.isEnabledFor(logging.DEBUG)
        )
        try:
            async with asyncio.timeout(self._timeouts.connect):
                self._ws = ws or await connect(
                    self._http, self._url, self._api_key, self.settings.model
                )
            # An inline clone clip makes `start` megabytes long: its upload gets its
            # own bound, scaled to its size, not the handshake's.
            async with asyncio.timeout(self._timeouts.connect + len(start) / MIN_UPLOAD_RATE):
                await self._ws.send_bytes(start)
        except TimeoutError as err:
            raise ConnectTimeoutError("timed out opening the live socket") from err
        except (aiohttp.ClientError, OSError) as err:
            raise CannotConnectError(f"cannot connect: {type(err).__name__}") from err
        self.stats.connected = time.monotonic()

    async def _feed(self, text: AsyncIterable[str]) -> None:
        """Writer task: forward text and flushes as the policy says, then stop."""
        assert self._ws is not None
        try:
            pieces = aiter(text)
            while (piece := await self._next_piece(pieces)) is not None:
                if not piece:
                    continue
                if self.stats.first_text is None:
                    self.stats.first_text = time.monotonic()
                for step in self._planner.feed(piece):
                    await self._send_step(step)
            self.stats.chars = self._planner.chars
            await self._send(protocol.STOP_EVENT)
            self._stop_sent_at = time.monotonic()
            self._owe_audio()
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # noqa: BLE001 - handed to the reader, which re-raises it
            self._writer_error = err
            with contextlib.suppress(Exception):
                await self._ws.close()

    async def _next_piece(self, pieces: AsyncIterator[str]) -> str | None:
        """The next piece of text, None at the end; bounded by the text-idle time."""
        try:
            async with asyncio.timeout(self._timeouts.text_idle):
                return await anext(pieces)
        except StopAsyncIteration:
            return None
        except TimeoutError as err:
            raise TextTimeoutError("no more text arrived and the text never ended") from err

    async def _send_step(self, step: str | None) -> None:
        if step is FLUSH:
            await self._send(protocol.FLUSH_EVENT)
            self.stats.flushes += 1
            self._owe_audio()
        else:
            await self._send(protocol.text_event(step))
            self.stats.text_bytes += len(step.encode())

    async def _send(self, frame: bytes) -> None:
        """Send one frame; a dropped connection is a typed error, not aiohttp's."""
        assert self._ws is not None
        try:
            await self._ws.send_bytes(frame)
        except (aiohttp.ClientError, OSError) as err:
            raise CannotConnectError(
                f"connection lost while sending: {type(err).__name__}"
            ) from err

    def _owe_audio(self) -> None:
        """The server now owes audio: arm the reader's deadline."""
        if self._owed_since is None:
            self._owed_since = time.monotonic()
        if self._deadline is not None:
            self._deadline.reschedule(self._next_deadline())

    def _next_deadline(self) -> float | None:
        """Loop time by which the next frame must arrive, or None when nothing is owed.

        After each flush the server owes audio within `first_audio`; once the text has
        ended, every gap is bounded and so is the whole rest of the session.
        """
        now_mono = time.monotonic()
        loop_now = asyncio.get_running_loop().time()
        if self._stop_sent_at is None:
            if self._owed_since is None:
                return None  # waiting for more text is not the server's fault
            return loop_now + (self._owed_since + self._timeouts.first_audio - now_mono)
        if self._last_audio_at is None:
            assert self._owed_since is not None
            due = self._owed_since + self._timeouts.first_audio
        else:
            due = max(self._last_audio_at, self._stop_sent_at) + self._timeouts.audio_gap
        total = self._timeouts.after_stop + self._timeouts.per_char * self._planner.chars
        self._over_total = due > self._stop_sent_at + total
        return loop_now + (min(due, self._stop_sent_at + total) - now_mono)

    async def _receive(self) -> AsyncIterator[bytes]:
        """Yield audio until `finish`; raise a typed error for anything else."""
        assert self._ws is not None
        while True:
            message = await self._next_message()
            if message.type is aiohttp.WSMsgType.BINARY:
                event = protocol.decode(message.data)
                kind = event["event"]
                if kind == "audio":
                    chunk = self._on_audio(event)
                    if chunk:
                        yield chunk
                elif kind == "finish":
                    self._on_finish(event)
                    return
                elif kind == "log":
                    _LOGGER.debug("Fish Audio server log: %s", server_text(event.get("message")))
                # Unknown events are ignored, as the spec asks.
            elif message.type is aiohttp.WSMsgType.TEXT:
                raise SynthesisError("server sent a text frame; the protocol is binary only")
            else:
                self._on_closed(message)

    async def _next_message(self) -> aiohttp.WSMessage:
        assert self._ws is not None
        try:
            async with asyncio.timeout_at(self._next_deadline()) as deadline:
                self._deadline = deadline
                if self._pending is not None:
                    pending, self._pending = self._pending, None
                    return await pending
                return await self._ws.receive()
        except TimeoutError as err:
            if self._over_total:
                raise SessionLimitError("the server did not finish in time") from err
            if self._last_audio_at is None:
                raise FirstAudioTimeoutError("no audio arrived in time") from err
            raise AudioGapTimeoutError("audio stopped arriving") from err
        finally:
            self._deadline = None

    def _on_audio(self, event: dict[str, Any]) -> bytes:
        audio = event.get("audio")
        if not isinstance(audio, bytes):
            raise SynthesisError("audio event without audio bytes")
        now = time.monotonic()
        if self.stats.first_audio is None:
            self.stats.first_audio = now
        self._last_audio_at = now
        self._owed_since = None if self._stop_sent_at is None else self._owed_since
        self.stats.audio_bytes += len(audio)
        if self.stats.audio_bytes > AUDIO_BYTES_BASE + AUDIO_BYTES_PER_CHAR * self._planner.chars:
            raise SessionLimitError("the server sent far more audio than the text asks for")
        self.stats.audio_frames += 1
        server_time = event.get("time")
        if isinstance(server_time, int | float):
            self.stats.server_time_ms += float(server_time)
        return audio

    def _on_finish(self, event: dict[str, Any]) -> None:
        reason = event.get("reason")
        if reason != "stop":
            # Only "stop" says the audio is complete: anything else (an error, a
            # timeout, no reason at all) may have cut it, and a cut clip must not be
            # cached as whole. An error finish may carry no message; users still see one.
            message = server_text(event.get("message"))
            if not message:
                message = (
                    "the server gave no reason"
                    if reason == "error"
                    else f"the server finished with reason {server_text(repr(reason))}"
                )
            raise SynthesisError(message)
        if self._stop_sent_at is None:
            raise SynthesisError("server finished before the text was complete")

    def _on_closed(self, message: aiohttp.WSMessage) -> None:
        if self._writer_error is not None:
            raise self._writer_error
        # A CLOSE frame carries the server's code and reason; later reads only CLOSED.
        data = message.data
        if isinstance(data, aiohttp.WebSocketError) and data.code == 1009:
            # aiohttp refused a frame over the cap unread: say so, not "could not reach".
            raise InvalidResponseError(
                f"the server sent a frame over the {MAX_FRAME_BYTES // 1024 // 1024} MiB limit"
            )
        closing = message.type is aiohttp.WSMsgType.CLOSE
        code = message.data if closing else self._close_code()
        extra = server_text(message.extra) if closing else ""
        reason = f": {extra}" if extra else ""
        _LOGGER.debug("Live socket closed before finish, code %s%s", code, reason)
        raise CannotConnectError(f"connection closed before finish (code {code}{reason})")

    def _close_code(self) -> int | None:
        return None if self._ws is None else self._ws.close_code


async def connect(
    http: aiohttp.ClientSession, url: str, api_key: str, model: str
) -> aiohttp.ClientWebSocketResponse:
    """Open a live socket; handshake statuses become the same errors as REST ones."""
    headers = {"Authorization": f"Bearer {api_key}", "model": model}
    try:
        return await http.ws_connect(
            url, headers=headers, max_msg_size=MAX_FRAME_BYTES, autoping=True
        )
    except aiohttp.WSServerHandshakeError as err:
        # Raised outside this block: aiohttp's error keeps the request's headers,
        # the API key among them, and must not ride along as cause or context.
        refused: FishAudioError
        if err.status == 404:
            # No voice is named at the handshake: a 404 means no live endpoint here
            # (the open-source fish-speech server, for one, has none).
            refused = InvalidResponseError("the server has no live endpoint (HTTP 404)", status=404)
        else:
            refused = error_for_status(err.status, err.message, _retry_after(err))
    except (aiohttp.ClientError, OSError) as err:
        raise CannotConnectError(f"cannot connect: {type(err).__name__}") from err
    raise refused


def _retry_after(err: aiohttp.WSServerHandshakeError) -> float | None:
    value = err.headers.get("Retry-After") if err.headers else None
    try:
        delay = float(value) if value is not None else None
    except ValueError:
        return None
    # "nan", "inf" or a negative delay is no delay we can wait: use our own.
    return delay if delay is not None and math.isfinite(delay) and delay >= 0 else None
