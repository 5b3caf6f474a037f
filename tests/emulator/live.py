"""The live text-to-speech socket, ``GET /v1/tts/live``.

One ``LiveSession`` per connection: its reader (the request handler) validates
and records every client frame and cuts text into segments; one worker task
per session synthesizes the segments in order, then ends the stream with
``finish`` and a normal close. Faults (see faults.py) hook into three points:
right after start, after the first audio event, and after the last audio.

Handshake order: count the attempt, wait ``handshake_s``, check the bearer key
(401), require a WebSocket upgrade (400), record the session, check credit
(402), take the session's fault (``handshake_status`` answers here), upgrade.

Buffering: the start request's ``text`` (normally "") and every text event are
appended as-is; the whole buffer becomes a segment when it reaches
``chunk_length`` characters, on ``flush`` (when not empty) and on ``stop``.
A violation answers ``finish`` (reason error, message = what was wrong) and
closes with 1000; so does an unknown ``reference_id`` (recorded in
``SessionRecord.errors``, not as a violation). A value outside the spec that
Fish's own SDK sends (spec.TOLERATED) is accepted and recorded in
``SessionRecord.deviations``. All closes are made by the
reading task so that the client gets a full close handshake.
"""

from __future__ import annotations

import asyncio
from asyncio import FIRST_COMPLETED
import logging
from typing import Any, Final

from aiohttp import WebSocketError, WSMessage, WSMsgType, web
import msgpack

from .audio import AudioChunk, AudioStream, new_stream
from .catalog import FALLBACK_MODEL
from .faults import AFTER_START, AFTER_STOP, MID_AUDIO, Fault, reason
from .latency import LatencyModel
from .session import Headers, SessionRecord
from .spec import (
    EventOrder,
    SpecViolationError,
    check_event,
    check_start,
    chunk_length,
    decode_frame,
    voice_ids,
)
from .state import EmulatorState, json_error

_LOGGER = logging.getLogger(__name__)

CLOSE_TIMEOUT_S: Final = 5.0  # how long a server-side close waits for the client's reply
MAX_CLIENT_FRAME: Final = 16 * 1024 * 1024
MALFORMED_FRAME: Final = b"\xc1 this is not MessagePack"  # 0xC1 is never valid MessagePack
SLOW_FACTOR: Final = 10.0
SLOW_MIN_RTF: Final = 0.1


class _HaltError(Exception):
    """A fault ended this session's output."""


async def handle_live(state: EmulatorState, request: web.Request) -> web.StreamResponse:
    """Answer a live handshake, then run the session until the socket closes."""
    state.handshakes += 1
    state.changed()
    latency = state.latency  # one model per session, even if the test swaps it meanwhile
    if latency.handshake_s > 0:
        await asyncio.sleep(latency.handshake_s)
        if request.transport is None or request.transport.is_closing():
            return web.Response(status=499)  # the client gave up waiting: nobody to answer
    auth = state.accounts.authenticate(request.headers.get("Authorization"))
    if auth.problem:
        state.violation(None, f"live handshake: {auth.problem}")
    if auth.user is None:
        return json_error(401, "Invalid API key")
    ws = web.WebSocketResponse(
        timeout=CLOSE_TIMEOUT_S, compress=False, max_msg_size=MAX_CLIENT_FRAME
    )
    if not ws.can_prepare(request).ok:
        state.violation(None, "live handshake: not a WebSocket upgrade request")
        return json_error(400, "Expected a WebSocket upgrade")
    record = SessionRecord(
        headers=Headers(dict(request.headers)), model=request.headers.get("model")
    )
    state.session_opened(record)
    refusal = _refusal(state, record, auth.user)
    fault = state.faults.take() if refusal is None else None
    if fault is not None and fault.kind == "handshake_status":
        refusal = _fault_refusal(fault)
    if refusal is not None:
        record.status = refusal.status
        state.session_closed(record)
        return refusal
    await ws.prepare(request)
    record.connected_at = asyncio.get_running_loop().time()
    session = LiveSession(state, record, ws, auth.user, fault, latency)
    await session.run()
    return ws


def _refusal(state: EmulatorState, record: SessionRecord, user: str) -> web.Response | None:
    """402 when a paid model is asked for without credit; records a missing model header."""
    if record.model is None:
        state.violation(
            record, f"missing 'model' header; the service silently falls back to {FALLBACK_MODEL}"
        )
    if not state.accounts.may_use(user, record.model):
        return json_error(402, "Insufficient credit for this model")
    return None


def _fault_refusal(fault: Fault) -> web.Response:
    """The HTTP answer of a ``handshake_status`` fault."""
    headers = None
    if fault.retry_after is not None:
        headers = {"Retry-After": f"{fault.retry_after:g}"}
    return json_error(fault.http_status, fault.message or reason(fault.http_status), headers)


class LiveSession:
    """Protocol state of one open live socket."""

    def __init__(
        self,
        state: EmulatorState,
        record: SessionRecord,
        ws: web.WebSocketResponse,
        user: str,
        fault: Fault | None,
        latency: LatencyModel,
    ) -> None:
        """Wire the session to its socket, record, fault and timing model."""
        self.state = state
        self.record = record
        self.ws = ws
        self.user = user
        self.fault = fault
        self.latency = latency
        self.order = EventOrder()
        self.buffer = ""
        self.chunk_length = 0
        self.queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
        self.stream: AudioStream | None = None
        self.worker: asyncio.Task[None] | None = None
        self.stalled = False
        self.slowed = False
        self.logs = False
        self.audio_events = 0
        self.synthesized = 0
        self.held: list[bytes] = []
        self.next_audio_at = 0.0
        self.loop = asyncio.get_running_loop()
        self.close_request: asyncio.Future[int] = self.loop.create_future()
        self.close_message = b""  # the reason sent with a fault's close

    def _kind(self, kind: str) -> bool:
        """Whether this session's fault is of ``kind``."""
        return self.fault is not None and self.fault.kind == kind

    # ----- reader side -------------------------------------------------------

    async def run(self) -> None:
        """Read frames until the socket closes, then clean up whatever is left."""
        self.state.live.add(self)
        error: BaseException | None = None
        try:
            await self._read_loop()
        finally:
            error = await self._stop_worker()
            await self.ws.close()
            self.record.close_code = self.ws.close_code
            self.state.live.discard(self)
            self.state.session_closed(self.record)
        if error is not None:
            raise error

    async def _read_loop(self) -> None:
        """Handle frames one by one; close from here when the worker or stop() asks.

        Closing from the reading task (never from another task while it waits in
        receive()) lets aiohttp wait for the client's close reply, so the client
        sees a clean close handshake instead of a dropped connection.
        """
        while not self.ws.closed:
            message = await self._next_message()
            if message is not None and not await self._on_message(message):
                return
            if self.close_request.done():
                await self.ws.close(code=self.close_request.result(), message=self.close_message)

    async def _next_message(self) -> WSMessage | None:
        """The next message from the client, or None when a close was requested first."""
        receiving = asyncio.ensure_future(self.ws.receive())
        waiting: set[asyncio.Future[Any]] = {receiving, self.close_request}
        try:
            await asyncio.wait(waiting, return_when=FIRST_COMPLETED)
        finally:
            if not receiving.done():
                receiving.cancel()  # safe: aiohttp keeps unread frames queued
                await asyncio.wait([receiving])
        return None if receiving.cancelled() else receiving.result()

    async def _on_message(self, message: WSMessage) -> bool:
        """Handle one message from receive(); False once the socket is closed."""
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return False
        if message.type is WSMsgType.ERROR:
            error = self.ws.exception()
            if isinstance(error, WebSocketError):
                self.state.violation(self.record, f"WebSocket protocol error: {error}")
            else:
                self.record.errors.append(f"connection lost: {error!r}")
            return False
        await self._on_frame(message.type, message.data)
        self.state.changed()
        return True

    def _request_close(self, code: int) -> None:
        """Ask the reading task to close the socket with ``code``."""
        if not self.close_request.done():
            self.close_request.set_result(code)

    async def _close(self, code: int = 1000) -> None:
        """Close now when reading is ours to stop, else have the reading task do it."""
        if asyncio.current_task() is self.worker:
            self._request_close(code)
        else:
            await self.ws.close(code=code, message=self.close_message)

    async def shutdown(self) -> None:
        """Close the socket because the emulator stops (1001 going away)."""
        await self._stop_worker()
        self._request_close(1001)

    async def _on_frame(self, kind: WSMsgType, data: Any) -> None:
        """Validate, record and act on one client frame."""
        try:
            value = decode_frame(kind, data)
            if isinstance(value, dict):
                self.record.events.append(value)
            event = check_event(value)
            self.order.accept(event["event"])
            await self._dispatch(event)
        except SpecViolationError as err:
            await self._fail(str(err), violation=True)
        except (_HaltError, ConnectionError):
            pass  # the session's output is over; keep reading until the socket closes

    async def _dispatch(self, event: dict[str, Any]) -> None:
        """Act on a valid event."""
        name = event["event"]
        if name == "start":
            await self._on_start(event)
        elif name == "text":
            self.record.texts.append(event["text"])
            self._append(event["text"])
        elif name == "flush":
            self.record.flushes += 1
            self._cut()
        else:
            self.record.stopped = True
            self._cut()
            self.queue.put_nowait(None)

    async def _on_start(self, event: dict[str, Any]) -> None:
        """Validate the request, check the voices, start the worker, apply after_start."""
        for deviation in check_start(event):
            self.state.deviation(self.record, f"start request: {deviation}")
        request: dict[str, Any] = event["request"]
        self.record.request = request
        self.record.debug = event.get("debug") is True
        self.record.started_at = self.loop.time()
        for voice_id in voice_ids(request):
            if self.state.catalog.find(voice_id, self.user) is None:
                await self._fail(f"reference_id {voice_id} not found", violation=False)
                return
        self.chunk_length = chunk_length(request)
        self.stream = new_stream(request)
        self.logs = self.record.debug or self._kind("log_events")
        self.worker = asyncio.create_task(self._work(), name="fish-emulator-worker")
        await self._phase(AFTER_START)
        await self._log(f"session started: model {self.record.model or FALLBACK_MODEL}")
        self._append(request["text"])  # usually "", but the same TTSRequest would speak it

    def _append(self, text: str) -> None:
        """Buffer text as-is; a full buffer (chunk_length characters) becomes a segment."""
        self.buffer += text
        if len(self.buffer) >= self.chunk_length:
            self._cut()

    def _cut(self) -> None:
        """Queue the whole buffer as one segment (nothing when it is empty)."""
        if self.buffer:
            self.record.segments.append(self.buffer)
            self.queue.put_nowait((self.buffer, self.loop.time()))
            self.buffer = ""

    async def _fail(self, message: str, *, violation: bool) -> None:
        """Finish with an error and close, as a strict server does."""
        if violation:
            self.state.violation(self.record, message)
        else:
            self.record.errors.append(message)
        if self.stalled or self.ws.closed or self.record.finish_reason is not None:
            return  # a stalled server answers nothing; a closed or finished one cannot
        await self._stop_worker()
        await self._finish("error", message)
        await self.ws.close()

    # ----- worker side -------------------------------------------------------

    async def _work(self) -> None:
        """Synthesize segments in order, then end the stream."""
        try:
            while (item := await self.queue.get()) is not None:
                await self._synthesize(*item)
            await self._end_of_stream()
        except (_HaltError, ConnectionError):
            pass  # a fault ended the output, or the client is gone: the reader cleans up

    async def _synthesize(self, text: str, cut_at: float) -> None:
        """Send one segment's audio, paced like the real service."""
        assert self.stream is not None
        self.synthesized += 1
        await self._log(f"synthesizing segment {self.synthesized}: {len(text)} chars")
        chunks = self.stream.segment(text, self.latency.ms_per_char, self.latency.chunk_ms)
        if self._kind("big_frame"):
            self.held.extend(chunk.data for chunk in chunks)
            return
        first_audio = self.latency.first_audio_s * (SLOW_FACTOR if self.slowed else 1.0)
        self.next_audio_at = max(self.next_audio_at, cut_at + first_audio)
        for index, chunk in enumerate(chunks):
            await self._sleep_until(self.next_audio_at)
            generation_ms = first_audio * 1000 if index == 0 else chunk.duration_ms * self._rtf()
            await self._send_audio(chunk.data, generation_ms)
            self.next_audio_at = max(self.next_audio_at, self.loop.time())
            self.next_audio_at += self._pace(chunk)

    def _rtf(self) -> float:
        """Current real-time factor (a slow fault multiplies it)."""
        if self.slowed:
            return max(self.latency.rtf, SLOW_MIN_RTF) * SLOW_FACTOR
        return self.latency.rtf

    def _pace(self, chunk: AudioChunk) -> float:
        """Seconds between this audio event and the next one."""
        return chunk.duration_ms * self._rtf() / 1000

    async def _sleep_until(self, deadline: float) -> None:
        """Sleep only when there is something to wait for, so tests stay instant."""
        delay = deadline - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _end_of_stream(self) -> None:
        """Close the audio stream, apply after_stop, then finish and close."""
        assert self.stream is not None
        if self._kind("big_frame"):
            await self._send_big_frame(self.stream)
        else:
            tail = self.stream.finish()
            if tail:
                await self._send_audio(tail, 0.0)
        await self._phase(AFTER_STOP)
        if self._kind("no_finish"):
            self.stalled = True
            return
        await self._finish("stop")
        await self._close()

    async def _send_big_frame(self, stream: AudioStream) -> None:
        """The whole session's audio as one event, padded to the fault's size."""
        assert self.fault is not None
        data = stream.open() + b"".join(self.held) + stream.finish()
        await self._send_audio(stream.pad(data, self.fault.frame_size), 0.0)

    # ----- sending -----------------------------------------------------------

    async def _send(self, event: dict[str, Any]) -> None:
        """Send one MessagePack event and remember it."""
        await self.ws.send_bytes(msgpack.packb(event, use_bin_type=True))
        self.record.frames_sent.append(event)
        self.state.changed()

    async def _send_audio(self, data: bytes, generation_ms: float) -> None:
        """One audio event; the first one of the session triggers mid_audio faults."""
        if self._kind("unknown_events"):
            await self._send({"event": "mystery", "data": 1})
        await self._send({"event": "audio", "audio": data, "time": round(generation_ms, 3)})
        self.record.add_audio(data)
        self.audio_events += 1
        if self.audio_events == 1:
            self.record.first_audio_at = self.loop.time()
            await self._phase(MID_AUDIO)

    async def _log(self, message: str) -> None:
        """A log event, when debug is on or a log_events fault asks for it."""
        if self.logs:
            await self._send({"event": "log", "message": message})

    async def _finish(self, reason_: str, message: str | None = None) -> None:
        """The finish event; an error finish carries a message only when one is given."""
        event: dict[str, Any] = {"event": "finish", "reason": reason_}
        if message is not None:
            event["message"] = message
        await self._send(event)
        self.record.finish_reason = reason_

    # ----- faults and cleanup ------------------------------------------------

    async def _phase(self, phase: str) -> None:
        """Apply this session's fault if it acts at ``phase``."""
        fault = self.fault
        if fault is None or not fault.fires_at(phase):
            return
        if fault.kind == "malformed":
            await self.ws.send_bytes(MALFORMED_FRAME)
        elif fault.kind == "text_frame":
            await self.ws.send_str('{"event": "text frame from a faulty server"}')
        elif fault.kind == "slow":
            self.slowed = True
        else:
            await self._stop_worker()
            await self._end_by_fault(fault)
            raise _HaltError

    async def _end_by_fault(self, fault: Fault) -> None:
        """close, finish_error and stall: the session sends nothing useful any more."""
        if fault.kind == "stall":
            self.stalled = True
        elif fault.kind == "finish_error":
            await self._finish("error", fault.message)
            await self._close()
        else:
            self.close_message = (fault.message or "").encode()
            await self._close(fault.close_code)

    async def _stop_worker(self) -> BaseException | None:
        """Cancel and await the worker (unless it is the caller); return its crash, if any."""
        task = self.worker
        if task is None or task is asyncio.current_task():
            return None
        task.cancel()
        await asyncio.wait([task])
        if task.cancelled():
            return None
        error = task.exception()
        if error is not None:
            _LOGGER.error("emulator worker crashed", exc_info=error)
        return error
