"""Audio that keeps flowing: silence paced in real time while a PCM stream stalls.

A voice satellite plays a stream as it arrives; when the reply pauses (an LLM
tool call, say) the player starves, and some devices give up or lock up.
`keep_flowing` passes the audio through and, once real audio has started,
estimates how far the delivered audio is ahead of playback (bytes delivered at
`byte_rate`, against time since the first byte). When no audio is ready, the
source has been quiet for `min_quiet` and less than `lead` seconds remain
buffered, it sends `block` seconds of silence, topping the buffer up to about
`lead + block` and again each time it drains back to `lead`. Real audio that
arrives goes out at once, behind at most that much queued silence.

* Only raw PCM frames: give it the stream after any WAV header (the caller
  sends the header first). MP3 and Opus must never be padded.
* Silence goes in at frame edges only: a chunk ending inside a frame has its
  partial frame held until the rest arrives (the bytes are untouched).
* It never pads before the first real audio or after the source ends, and
  gives up padding (just waits) after `idle_limit` seconds of one pause.
* `min_quiet` keeps a stream that merely arrives in small real-time chunks
  from being stuttered by the estimate, which cannot see the player's own
  buffer.
* Time is the running loop's clock (`loop.time()`), so a virtual-time loop
  makes it testable without real waits.
* Cancellation-safe: at most one read of the source is pending, as a task
  that is cancelled and awaited when the wrapper is closed or cancelled; the
  source is then closed too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator


async def _next(audio: AsyncIterator[bytes]) -> bytes | None:
    """The next chunk, or None at the end of the stream."""
    try:
        return await anext(audio)
    except StopAsyncIteration:
        return None


async def keep_flowing(
    audio: AsyncIterator[bytes],
    *,
    byte_rate: int,
    frame_bytes: int,
    idle_limit: float,
    silence: bytes = b"\x00",
    lead: float = 0.2,
    block: float = 0.1,
    min_quiet: float | None = None,
) -> AsyncGenerator[bytes]:
    """Pass `audio` (raw PCM) through, padding pauses with paced silence.

    `silence` is the byte pattern of silence (0x80 bytes for unsigned 8-bit),
    repeated to fill whole frames of `frame_bytes`. `min_quiet` defaults to
    `lead`.
    """
    if byte_rate <= 0 or frame_bytes <= 0 or frame_bytes % len(silence):
        raise ValueError("byte_rate and frame_bytes must be positive, frames whole silences")
    quiet = lead if min_quiet is None else min_quiet
    loop = asyncio.get_running_loop()
    pending: asyncio.Task[bytes | None] | None = None
    carry = b""  # the start of a frame whose rest has not arrived
    anchor: float | None = None  # loop time at which playback of byte 0 began
    delivered = 0  # audio bytes sent since the first real byte, silence included
    last_real = 0.0  # loop time of the last real audio
    pause_start: float | None = None  # loop time the current padding began
    try:
        while True:
            if pending is None:
                pending = loop.create_task(_next(audio))
            timeout: float | None = None
            if anchor is not None and (
                pause_start is None or loop.time() - pause_start < idle_limit
            ):
                now = loop.time()
                ahead = delivered / byte_rate - (now - anchor)
                if ahead < 0:
                    # The player ran dry and waited: playback resumes with the next bytes.
                    anchor = now - delivered / byte_rate
                    ahead = 0.0
                timeout = max(ahead - lead, last_real + quiet - now, 0.0)
            # Even with no time to wait, the read gets one turn of the loop.
            await asyncio.wait({pending}, timeout=timeout)
            if pending.done():
                chunk = pending.result()
                pending = None
                if chunk is None:
                    break
                data = carry + chunk if carry else chunk
                whole = len(data) - len(data) % frame_bytes
                carry = data[whole:]
                if not whole:
                    continue
                now = loop.time()
                if anchor is None:
                    anchor = now
                last_real = now
                pause_start = None
                delivered += whole
                yield data[:whole] if carry else data
                continue
            # Nothing ready and the buffer is about to run dry: top it up with silence.
            now = loop.time()
            if pause_start is None:
                pause_start = now
            if anchor is None or now - pause_start >= idle_limit:
                continue  # given up: wait for real audio (or the end) alone
            ahead = max(0.0, delivered / byte_rate - (now - anchor))
            want = int((lead + block - ahead) * byte_rate)
            frames = max(1, -(-want // frame_bytes))
            delivered += frames * frame_bytes
            yield silence * (frames * frame_bytes // len(silence))
        if carry:
            yield carry  # a partial frame at the very end: pass it on untouched
    finally:
        if pending is not None:
            pending.cancel()  # a no-op once it is done
            await asyncio.wait({pending})  # let it finish: no task is left behind
            if not pending.cancelled():
                pending.exception()  # seen: no "exception never retrieved" report
        if isinstance(audio, AsyncGenerator):
            await audio.aclose()
