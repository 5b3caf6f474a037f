"""The scenarios of the benchmark: what one request or run does, and what it measures.

Every request goes through Home Assistant's `tts` component: a result stream
is created with `tts.async_create_stream`, given its text with
`async_set_message` (one-shot) or `async_set_message_stream` (streamed), and
read with `async_stream_result()` the way a media player would read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
import itertools
from pathlib import Path
import re
import time
from typing import Any

from homeassistant.components import tts
from homeassistant.core import HomeAssistant

from bench import ha as bench_ha
from custom_components.fish_audio_live.fishaudio.client import FishAudioClient
from custom_components.fish_audio_live.tts import FishAudioTTSEntity

MP3 = {"preferred_format": "mp3"}


MP3_BYTES_PER_S = 128_000 / 8  # the entities' default: 128 kbit/s CBR


def _stream_response_chars() -> int:
    """HA's STREAM_RESPONSE_CHARS, read from its source (assist_pipeline needs hassil to import)."""
    folder = Path(tts.__file__).parent.parent / "assist_pipeline"
    # default_pipeline.py since HA 2026.10; pipeline.py up to 2026.9.
    sources = [folder / name for name in ("default_pipeline.py", "pipeline.py")]
    text = "".join(source.read_text() for source in sources if source.exists())
    match = re.search(r"^STREAM_RESPONSE_CHARS = (\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else 60


STREAM_RESPONSE_CHARS = _stream_response_chars()


# S1: about 200 characters, as a tts.speak notification. The clock value makes
# each message unique: HA caches one-shot results by message text.
S1_TEXT = (
    "Good morning! It is {clock} and 14 degrees outside, with light rain expected around "
    "noon. Your first meeting starts at nine, and the dishwasher finished its cycle a few "
    "minutes ago. Have a good day."
)


# S2: an LLM reply of about 600 characters, several sentences; its first
# sentence ends after 85 characters.
S2_TEXT = (
    "It's currently 14 degrees and cloudy in Amsterdam, with a light breeze from the west. "
    "Rain is expected to start around four this afternoon and should last into the evening, "
    "so yes, I'd take an umbrella if you're heading out later. Tomorrow looks brighter: "
    "mostly sunny with a high of 18 degrees and almost no chance of rain. The weekend is "
    "mixed, with showers likely on Saturday morning and clearer skies by Sunday afternoon. "
    "I've also turned on the porch light and set the thermostat to 20 degrees for when you "
    "get back. Is there anything else you'd like me to do before you leave?"
)


def s1_text(serial: int) -> str:
    """S1's message, made unique by a clock value of constant width."""
    # 540 distinct values: HA answers a repeated one-shot message from its cache.
    return S1_TEXT.format(clock=f"{1 + serial // 60 % 9}:{serial % 60:02d}")


def tokens(text: str, size: int) -> list[str]:
    """LLM deltas: fixed-size pieces, not aligned to words (as HA passes them on)."""
    return [text[index : index + size] for index in range(0, len(text), size)]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run depends on; recorded in the JSON."""

    quick: bool
    runs: int
    handshake_s: float
    first_audio_s: float
    rtf: float
    ms_per_char: float
    chunk_ms: int
    tokens_per_s: float
    token_chars: int
    s3_requests: int
    cost_runs: int
    cost_speedup: float
    long_minutes: tuple[float, float]
    long_rtf: float
    sweep_runs: int
    pause_s: float
    stall_s: float = 5.0

    def latency(self, *, rtf: float | None = None, delays: bool = True) -> dict[str, float]:
        """The emulator's LatencyModel fields; `delays=False` drops handshake and first audio."""
        return {
            "handshake_s": self.handshake_s if delays else 0.0,
            "first_audio_s": self.first_audio_s if delays else 0.0,
            "rtf": self.rtf if rtf is None else rtf,
            "ms_per_char": self.ms_per_char,
            "chunk_ms": self.chunk_ms,
        }


@dataclass(slots=True)
class Sample:
    """One request as the consumer saw it: times in seconds from the hand-over."""

    ttfa: float | None
    total: float
    audio_bytes: int
    stall: float
    error: str | None = None

    @property
    def audio_s(self) -> float:
        """Seconds of audio received."""
        return self.audio_bytes / MP3_BYTES_PER_S


def stall_time(start: float, arrivals: Sequence[tuple[float, int]]) -> float:
    """Seconds a player starting at the first byte would have starved, after that byte."""
    if not arrivals:
        return 0.0
    played_until = arrivals[0][0]
    stalled = 0.0
    for moment, size in arrivals:
        stalled += max(0.0, moment - played_until)
        played_until = max(played_until, moment) + size / MP3_BYTES_PER_S
    del start
    return stalled


async def read(stream: tts.ResultStream, handed_over: float) -> Sample:
    """Read a result stream like a media player would; TTFA is from `handed_over`."""
    arrivals: list[tuple[float, int]] = []
    error = None
    try:
        async for chunk in stream.async_stream_result():
            if chunk:  # empty chunks carry no audio; a loop keeps what came before an error
                arrivals.append((time.monotonic(), len(chunk)))  # noqa: PERF401
    except Exception as err:  # noqa: BLE001 - a failed request is a result, reported
        error = f"{type(err).__name__}: {err}"
    end = time.monotonic()
    return Sample(
        ttfa=arrivals[0][0] - handed_over if arrivals else None,
        total=end - handed_over,
        audio_bytes=sum(size for _, size in arrivals),
        stall=stall_time(handed_over, arrivals),
        error=error,
    )


@dataclass(slots=True)
class Strategy:
    """One way of speaking, reachable as a HA tts entity."""

    key: str
    label: str
    entity_id: str
    client: FishAudioClient | None = None
    probe: bench_ha.SentenceProbe | None = None
    entity: FishAudioTTSEntity | None = None
    options: dict[str, Any] = field(default_factory=lambda: dict(MP3))


class AssistFeed:
    """One strategy's side of an Assist pipeline run, mirroring default_pipeline.py.

    The tts stream exists before the LLM starts; deltas are queued until more
    than STREAM_RESPONSE_CHARS have arrived; then the queue is joined into the
    first chunk and `async_set_message_stream` is called: that moment is the
    hand-over TTFA is measured from. Later deltas are passed on as they come.
    """

    def __init__(self, hass: HomeAssistant, strategy: Strategy) -> None:
        """Create the tts stream, as the pipeline does when it starts."""
        self.strategy = strategy
        self.stream = tts.async_create_stream(
            hass, engine=strategy.entity_id, options=strategy.options
        )
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.count = 0
        self.handed_over: float | None = None
        self.reader: asyncio.Task[Sample] | None = None

    def delta(self, content: str) -> None:
        """One LLM delta (chat_log_delta_listener)."""
        self.queue.put_nowait(content)
        if self.handed_over is not None:
            return
        self.count += len(content)
        if self.count <= STREAM_RESPONSE_CHARS:
            return
        parts: list[str] = []
        while not self.queue.empty():
            part = self.queue.get_nowait()
            assert part is not None
            parts.append(part)
        self.queue.put_nowait("".join(parts))
        self.handed_over = time.monotonic()
        self.stream.async_set_message_stream(self._text())
        self.reader = asyncio.create_task(read(self.stream, self.handed_over))

    def end(self) -> None:
        """The agent finished: the pipeline ends the text stream."""
        if self.handed_over is None:
            raise RuntimeError("the reply was too short to be streamed")
        self.queue.put_nowait(None)

    async def _text(self) -> AsyncGenerator[str]:
        while (piece := await self.queue.get()) is not None:
            yield piece


async def sleep_until(moment: float) -> None:
    """Sleep until a time.monotonic() moment (a schedule that does not drift)."""
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def llm_reply(feeds: Sequence[AssistFeed], pieces: Sequence[str], rate: float) -> None:
    """Send the same deltas to every feed at `rate` deltas per second."""
    start = time.monotonic()
    for index, piece in enumerate(pieces):
        await sleep_until(start + index / rate)
        for feed in feeds:
            feed.delta(piece)
    for feed in feeds:
        feed.end()


def rotated[T](items: Sequence[T], by: int) -> list[T]:
    """Rotate the order strategies are served in, so none is always first."""
    shift = by % len(items)
    return [*items[shift:], *items[:shift]]


def limit_sample(strategy: Strategy, handed_over: float, first_audio_s: float) -> Sample:
    """(d): first complete sentence at the entity, plus the server's first-audio delay."""
    assert strategy.probe is not None
    held = strategy.probe.sentence_at[-1] - handed_over
    return Sample(ttfa=held + first_audio_s, total=held + first_audio_s, audio_bytes=0, stall=0.0)


async def s2_run(
    hass: HomeAssistant,
    strategies: Sequence[Strategy],
    settings: Settings,
    run: int,
    speed: float,
    think_s: float = 0.0,
) -> dict[str, Sample]:
    """One Assist-style reply streamed to every strategy at once.

    `think_s` is the time between the pipeline's start (its tts stream is
    created) and the first delta: speech-to-text and the agent thinking.
    """
    feeds = [AssistFeed(hass, strategy) for strategy in rotated(strategies, run)]
    if think_s:
        await asyncio.sleep(think_s)
    pieces = tokens(S2_TEXT, settings.token_chars)
    await llm_reply(feeds, pieces, settings.tokens_per_s * speed)
    results: dict[str, Sample] = {}
    for feed in feeds:
        assert feed.reader is not None
        assert feed.handed_over is not None
        sample = await feed.reader
        if feed.strategy.probe is not None:
            sample = limit_sample(feed.strategy, feed.handed_over, settings.first_audio_s)
        results[feed.strategy.key] = sample
    return results


async def one_shot(
    hass: HomeAssistant, strategy: Strategy, text: str, first_audio_s: float
) -> Sample:
    """A tts.speak-style request: the whole message at once."""
    stream = tts.async_create_stream(hass, engine=strategy.entity_id, options=strategy.options)
    handed_over = time.monotonic()
    stream.async_set_message(text)
    sample = await read(stream, handed_over)
    if strategy.probe is not None:
        sample = limit_sample(strategy, handed_over, first_audio_s)
    return sample


class Serial:
    """Unique message numbers: HA caches one-shot results by their text."""

    def __init__(self) -> None:
        """Start at zero."""
        self.value = 0

    def next(self) -> int:
        """The next number."""
        self.value += 1
        return self.value


async def s1_run(
    hass: HomeAssistant,
    strategies: Sequence[Strategy],
    settings: Settings,
    run: int,
    serial: Serial,
) -> dict[str, Sample]:
    """The same one-shot message to every strategy at once."""
    text = s1_text(serial.next())
    order = rotated(strategies, run)
    samples = await asyncio.gather(
        *(one_shot(hass, strategy, text, settings.first_audio_s) for strategy in order)
    )
    return {strategy.key: sample for strategy, sample in zip(order, samples, strict=True)}


async def s3_burst(
    hass: HomeAssistant, strategies: Sequence[Strategy], settings: Settings, serial: Serial
) -> tuple[dict[str, list[Sample]], dict[str, list[float]]]:
    """`s3_requests` one-shot requests per strategy, all at once (strategies side by side).

    Returns user-visible samples and, per strategy, the TTFA each session had
    once it got one of the account's slots (from the client's own stats).
    """
    for strategy in strategies:
        if strategy.client is not None:
            strategy.client.recent.clear()
    jobs = [
        (strategy.key, one_shot(hass, strategy, s1_text(serial.next()), settings.first_audio_s))
        for _ in range(settings.s3_requests)
        for strategy in strategies
    ]
    samples = await asyncio.gather(*(job for _, job in jobs))
    by_key: dict[str, list[Sample]] = {strategy.key: [] for strategy in strategies}
    for (key, _), sample in zip(jobs, samples, strict=True):
        by_key[key].append(sample)
    after_slot = {
        strategy.key: [
            stats.time_to_first_audio
            for stats in strategy.client.recent
            if stats.time_to_first_audio is not None
        ]
        for strategy in strategies
        if strategy.client is not None
    }
    return by_key, after_slot


def long_text(minutes: float, ms_per_char: float) -> str:
    """The S2 reply repeated, cut at a word end, for `minutes` of audio."""
    chars = int(minutes * 60_000 / ms_per_char)
    text = ((S2_TEXT + " ") * (chars // (len(S2_TEXT) + 1) + 1))[:chars]
    return text.rsplit(" ", 1)[0]


async def pieces(text: str, size: int = 64) -> AsyncGenerator[str]:
    """A long text as fast deltas; sliced lazily so the bench itself holds no copy."""
    for index in range(0, len(text), size):
        yield text[index : index + size]
        await asyncio.sleep(0)


# S4: what voice satellites ask for (HA 2026.10 sources), against the plain path.
SATELLITE_KB = 1024  # TTFA here is the first kilobyte: a WAV header alone is no audio
S4_REQUESTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "wav16k": {
        "preferred_format": "wav",
        "preferred_sample_rate": 16000,
        "preferred_sample_channels": 1,
        "preferred_sample_bytes": 2,
    },
    "flac48k": {
        "preferred_format": "flac",
        "preferred_sample_rate": 48000,
        "preferred_sample_channels": 1,
        "preferred_sample_bytes": 2,
    },
}
S4_FIRST = "Let me check the thermostat for you. "
S4_REST = "It is set to twenty degrees, and the living room is at nineteen right now."


async def read_satellite(stream: tts.ResultStream, handed_over: float) -> Sample:
    """Read like a satellite: TTFA to the first kilobyte; `stall` is the longest gap."""
    arrivals: list[float] = []
    received = 0
    first_kb: float | None = None
    error = None
    try:
        async for chunk in stream.async_stream_result():
            received += len(chunk)
            if chunk and first_kb is not None:
                arrivals.append(time.monotonic())
            if first_kb is None and received >= SATELLITE_KB:
                first_kb = time.monotonic()
                arrivals.append(first_kb)
    except Exception as err:  # noqa: BLE001 - a failed request is a result, reported
        error = f"{type(err).__name__}: {err}"
    end = time.monotonic()
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    return Sample(
        ttfa=None if first_kb is None else first_kb - handed_over,
        total=end - handed_over,
        audio_bytes=received,
        stall=max(gaps, default=0.0),
        error=error,
    )


async def s4_request(
    hass: HomeAssistant, entity_id: str, options: dict[str, Any], text: str
) -> Sample:
    """One tts.speak-style request in a satellite's format."""
    stream = tts.async_create_stream(hass, engine=entity_id, options=options)
    handed_over = time.monotonic()
    stream.async_set_message(text)
    return await read_satellite(stream, handed_over)


async def s4_stall(
    hass: HomeAssistant, entity_id: str, options: dict[str, Any], pause_s: float
) -> Sample:
    """A streamed reply that pauses `pause_s` (an LLM tool call) after its first sentence."""
    stream = tts.async_create_stream(hass, engine=entity_id, options=options)

    async def reply() -> AsyncGenerator[str]:
        yield S4_FIRST
        await asyncio.sleep(pause_s)
        yield S4_REST

    handed_over = time.monotonic()
    stream.async_set_message_stream(reply())
    return await read_satellite(stream, handed_over)
