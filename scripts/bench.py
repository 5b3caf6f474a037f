"""Benchmark: time to first audio (TTFA) through Home Assistant's real `tts` component.

A real HA core is booted in a temporary folder; the Fish Audio emulator runs
in a subprocess with a latency model set to Fish's published figures. The
same requests go, side by side, to:

  (a)      this integration as shipped;
  (a-warm) the same with the entry option keep_warm (a pre-opened socket);
  (b)      collect-then-synthesize: all text first, then one request (core fish_audio);
  (c)      naive pass-through: deltas as they come, connect on the first text,
           no flush until stop;
  (d)      the limit: when the entity holds the first complete sentence, plus
           the emulator's first-audio delay (no handshake, no client).

Scenarios: S1 one tts.speak-style message; S2 an Assist-pipeline-style LLM
stream (HA's own 60-character rule decides when the stream starts); S3 many
one-shot requests at once. Run `scripts/bench --help` for the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
import platform
import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_chart  # noqa: E402
import bench_ha  # noqa: E402
import ha_boot  # noqa: E402
from homeassistant import const as ha_const  # noqa: E402
from homeassistant.components import tts  # noqa: E402
from homeassistant.components.tts.entity import TTSAudioRequest  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402

from custom_components.fish_audio_live.client import FishAudioClient  # noqa: E402
from custom_components.fish_audio_live.text_policy import FlushPolicy  # noqa: E402

_LOGGER = logging.getLogger("bench")

MP3 = {"preferred_format": "mp3"}
MP3_BYTES_PER_S = 128_000 / 8  # the entities' default: 128 kbit/s CBR
VOICE_ID = "f51eeab3f59fb13a6ae9f0a61ba5e87e"  # first voice of the emulator's catalog


def _stream_response_chars() -> int:
    """HA's STREAM_RESPONSE_CHARS, read from its source (assist_pipeline needs hassil to import)."""
    source = Path(tts.__file__).parent.parent / "assist_pipeline" / "default_pipeline.py"
    match = re.search(r"^STREAM_RESPONSE_CHARS = (\d+)", source.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 60


STREAM_RESPONSE_CHARS = _stream_response_chars()

# S1: about 200 characters, as a tts.speak notification. The clock value makes
# each message unique: HA caches one-shot results by message text.
S1_TEXT = (
    "Good morning! It is {clock} and 14 degrees outside, with light rain expected around "
    "noon. Your first meeting starts at nine, and the dishwasher finished its cycle a few "
    "minutes ago. Have a good day."
)
# S2: an LLM reply of about 600 characters, several sentences.
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
    return S1_TEXT.format(clock=f"{7 + serial // 60 % 3}:{serial % 60:02d}")


def tokens(text: str, size: int) -> list[str]:
    """LLM deltas: fixed-size pieces, not aligned to words (as HA passes them on)."""
    return [text[index : index + size] for index in range(0, len(text), size)]


# ----- settings ----------------------------------------------------------------


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

    def latency(self, *, rtf: float | None = None, delays: bool = True) -> dict[str, float]:
        """The emulator's LatencyModel fields; `delays=False` drops handshake and first audio."""
        return {
            "handshake_s": self.handshake_s if delays else 0.0,
            "first_audio_s": self.first_audio_s if delays else 0.0,
            "rtf": self.rtf if rtf is None else rtf,
            "ms_per_char": self.ms_per_char,
            "chunk_ms": self.chunk_ms,
        }


def parse_args(argv: Sequence[str] | None = None) -> tuple[Settings, Path, Path]:
    """Command line: settings, JSON path, chart path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter long stream")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 20, quick 2)")
    parser.add_argument("--handshake-ms", type=float, default=330.0)
    parser.add_argument("--first-audio-ms", type=float, default=300.0)
    parser.add_argument("--rtf", type=float, default=0.25, help="emulator real-time factor")
    parser.add_argument("--ms-per-char", type=float, default=20.0, help="audio per character")
    parser.add_argument("--tokens-per-s", type=float, default=40.0)
    parser.add_argument("--token-chars", type=int, default=4)
    parser.add_argument("--s3-requests", type=int, help="S3 burst size (default 20, quick 10)")
    parser.add_argument("--sweep-runs", type=int, help="runs of the policy sweep (0 = skip)")
    parser.add_argument(
        "--long-minutes",
        type=_minutes,
        help="audio minutes of the short and long memory streams (default 1,10; quick 0.25,1)",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results.json")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "bench-s2.png")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    settings = Settings(
        quick=quick,
        runs=args.runs or (2 if quick else 20),
        handshake_s=args.handshake_ms / 1000,
        first_audio_s=args.first_audio_ms / 1000,
        rtf=args.rtf,
        ms_per_char=args.ms_per_char,
        chunk_ms=100,
        tokens_per_s=args.tokens_per_s,
        token_chars=args.token_chars,
        s3_requests=args.s3_requests or (10 if quick else 20),
        cost_runs=1 if quick else 3,
        cost_speedup=10.0,
        long_minutes=args.long_minutes or ((0.25, 1.0) if quick else (1.0, 10.0)),
        long_rtf=0.01,
        sweep_runs=args.sweep_runs if args.sweep_runs is not None else (0 if quick else 10),
        pause_s=args.handshake_ms / 1000 + 0.2,
    )
    return settings, args.json, args.chart


def _minutes(value: str) -> tuple[float, float]:
    short, long = (float(part) for part in value.split(","))
    return short, long


# ----- measurements ------------------------------------------------------------


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

    async def _text(self) -> AsyncIterator[str]:
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
    hass: HomeAssistant, strategies: Sequence[Strategy], settings: Settings, run: int, speed: float
) -> dict[str, Sample]:
    """One Assist-style reply streamed to every strategy at once."""
    feeds = [AssistFeed(hass, strategy) for strategy in rotated(strategies, run)]
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


# ----- statistics --------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float | None:
    """Linear-interpolated percentile (`share` in 0..1); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(value: float | None) -> float | None:
    """Seconds to rounded milliseconds."""
    return None if value is None else round(value * 1000, 1)


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    """p50/p95 of TTFA and totals, and what went wrong."""
    ttfas = [sample.ttfa for sample in samples if sample.ttfa is not None]
    totals = [sample.total for sample in samples if sample.error is None]
    return {
        "runs": len(samples),
        "errors": [sample.error for sample in samples if sample.error],
        "ttfa_ms": {
            "p50": ms(percentile(ttfas, 0.5)),
            "p95": ms(percentile(ttfas, 0.95)),
            "min": ms(min(ttfas, default=None)),
            "max": ms(max(ttfas, default=None)),
            "mean": ms(statistics.fmean(ttfas) if ttfas else None),
        },
        "total_ms": {"p50": ms(percentile(totals, 0.5)), "p95": ms(percentile(totals, 0.95))},
        "stall_ms_p50": ms(percentile([sample.stall for sample in samples], 0.5)),
        "audio_s_mean": round(statistics.fmean([s.audio_s for s in samples]), 2) if samples else 0,
    }


# ----- the emulator process ----------------------------------------------------


class Emulator:
    """The Fish Audio emulator in a subprocess (scripts/bench_emulator.py)."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        """Wrap a started process."""
        self.process = process
        self.url = url

    @classmethod
    async def start(cls, latency: dict[str, float], api_keys: dict[str, str]) -> Emulator:
        """Start the emulator and wait until it listens."""
        config = json.dumps({"latency": latency, "api_keys": api_keys})
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "scripts" / "bench_emulator.py"),
            config,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        emulator = cls(process, "")
        emulator.url = (await emulator._receive())["url"]
        return emulator

    async def set_latency(self, latency: dict[str, float]) -> None:
        """Change the latency model for the sessions that start from now on."""
        await self._ask({"cmd": "latency", "latency": latency})

    async def sessions(self) -> list[dict[str, Any]]:
        """Summaries of the sessions closed since the last call."""
        answer = await self._ask({"cmd": "sessions"})
        return list(answer["sessions"])

    async def stop(self) -> None:
        """Close stdin; the emulator stops."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()

    async def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._receive()

    async def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer


def segments_by_key(sessions: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per API key: sessions, mean segments per session and mean first segment length."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for session in sessions:
        if session["started_at"] is not None:
            grouped.setdefault(session["key"], []).append(session)
    return {
        key: {
            "sessions": len(items),
            "segments_mean": round(statistics.fmean(len(s["segments"]) for s in items), 2),
            "first_segment_chars_mean": round(
                statistics.fmean(s["segments"][0] if s["segments"] else 0 for s in items), 1
            ),
            "mid_sentence_cuts_mean": round(
                statistics.fmean(s["mid_sentence_cuts"] for s in items), 2
            ),
        }
        for key, items in grouped.items()
    }


# ----- the Home Assistant side ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepCase:
    """A text-policy alternative tried on the streaming path (S2, side by side)."""

    key: str
    policy: FlushPolicy
    warm: bool
    chunk_length: int = 100
    naive: bool = False


SWEEP = (
    SweepCase("cold shipped", FlushPolicy(), warm=False),
    SweepCase("cold first_max=60", FlushPolicy(first_max_chars=60), warm=False),
    SweepCase(
        "cold naive chunk=300", bench_ha.NEVER_FLUSH, warm=False, chunk_length=300, naive=True
    ),
    SweepCase("warm shipped", FlushPolicy(), warm=True),
    SweepCase("warm first_max=60", FlushPolicy(first_max_chars=60), warm=True),
    SweepCase("warm later_min=200", FlushPolicy(later_min_chars=200), warm=True),
    SweepCase("warm chunk=200", FlushPolicy(), warm=True, chunk_length=200),
    SweepCase("warm naive", bench_ha.NEVER_FLUSH, warm=True, naive=True),
)


def api_key(key: str) -> str:
    """One emulated account per strategy: sessions can be told apart, caps are separate."""
    return "sk-bench-" + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


async def setup_strategies(
    hass: HomeAssistant, url: str, *, sweep: bool
) -> tuple[list[Strategy], list[Strategy]]:
    """Entries through the config flow for (a) and (a-warm); variants for the rest."""
    shipped = await bench_ha.create_entry(hass, url, api_key("a"), VOICE_ID)
    warm = await bench_ha.create_entry(hass, url, api_key("a-warm"), VOICE_ID, keep_warm=True)
    main = [
        Strategy(
            "a",
            "(a) shipped",
            bench_ha.entity_of(hass, shipped).entity_id,
            client=shipped.runtime_data.client,
        ),
        Strategy(
            "a-warm",
            "(a-warm) keep_warm",
            bench_ha.entity_of(hass, warm).entity_id,
            client=warm.runtime_data.client,
        ),
    ]
    collect = await bench_ha.add_variant(
        hass, shipped, bench_ha.CollectThenSynthesize, api_key=api_key("b")
    )
    naive = await bench_ha.add_variant(
        hass, shipped, bench_ha.NaivePassThrough, api_key=api_key("c"), policy=bench_ha.NEVER_FLUSH
    )
    probe = await bench_ha.add_variant(hass, shipped, bench_ha.SentenceProbe, api_key=api_key("d"))
    main += [
        Strategy("b", "(b) collect first", collect.entity_id, client=collect.client),
        Strategy("c", "(c) naive", naive.entity_id, client=naive.client),
        Strategy("d", "(d) limit", probe.entity_id, probe=probe),
    ]
    extra = await _sweep_strategies(hass, shipped) if sweep else []
    return main, extra


async def _sweep_strategies(hass: HomeAssistant, entry: Any) -> list[Strategy]:
    strategies = []
    for index, case in enumerate(SWEEP):
        kind = bench_ha.NaivePassThrough if case.naive else bench_ha.PolicyVariant
        entity = await bench_ha.add_variant(
            hass,
            entry,
            kind,
            api_key=api_key(case.key),
            policy=case.policy,
            keep_warm=case.warm,
            suffix=f"sweep_{index}",
        )
        options = {**MP3, "chunk_length": case.chunk_length}
        strategies.append(
            Strategy(case.key, case.key, entity.entity_id, client=entity.client, options=options)
        )
    return strategies


# ----- phases --------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    """What the phases found."""

    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)


def _collect(runs: list[dict[str, Sample]]) -> dict[str, list[Sample]]:
    merged: dict[str, list[Sample]] = {}
    for run in runs:
        for key, sample in run.items():
            merged.setdefault(key, []).append(sample)
    return merged


async def phase_s1(
    hass: HomeAssistant, strategies: list[Strategy], settings: Settings, serial: Serial
) -> dict[str, list[Sample]]:
    """S1, side by side, `runs` times."""
    runs = []
    for run in range(settings.runs):
        runs.append(await s1_run(hass, strategies, settings, run, serial))
        await asyncio.sleep(settings.pause_s)  # warm sockets refill, as between real requests
    return _collect(runs)


async def phase_s2(
    hass: HomeAssistant, strategies: list[Strategy], settings: Settings, runs: int
) -> dict[str, list[Sample]]:
    """S2, side by side, `runs` times."""
    results = []
    for run in range(runs):
        results.append(await s2_run(hass, strategies, settings, run, 1.0))
        await asyncio.sleep(settings.pause_s)
    return _collect(results)


async def phase_cost(
    hass: HomeAssistant,
    strategies: list[Strategy],
    settings: Settings,
    emulator: Emulator,
    serial: Serial,
) -> dict[str, dict[str, float | None]]:
    """CPU per second of audio, per strategy, one strategy at a time.

    Time is compressed (faster deltas, faster audio, no handshake or first-audio
    delay) because the CPU cost of a second of audio does not depend on pacing,
    only on the work done: the same text, events and audio bytes.
    """
    compressed = settings.latency(rtf=settings.rtf / settings.cost_speedup, delays=False)
    await emulator.set_latency(compressed)
    cost: dict[str, dict[str, float | None]] = {"S1": {}, "S2": {}}
    for strategy in strategies:
        if strategy.probe is not None:
            continue
        cost["S1"][strategy.key] = await _cpu_per_audio_s(
            settings.cost_runs,
            lambda s=strategy: one_shot(hass, s, s1_text(serial.next()), settings.first_audio_s),
        )
        cost["S2"][strategy.key] = await _cpu_per_audio_s(
            settings.cost_runs,
            lambda s=strategy: _s2_single(hass, s, settings),
        )
    await emulator.set_latency(settings.latency())
    await asyncio.sleep(settings.pause_s)  # warm sockets opened meanwhile are replaced
    return cost


async def _s2_single(hass: HomeAssistant, strategy: Strategy, settings: Settings) -> Sample:
    return (await s2_run(hass, [strategy], settings, 0, settings.cost_speedup))[strategy.key]


async def _cpu_per_audio_s(runs: int, job: Callable[[], Any]) -> float | None:
    """Process CPU milliseconds per second of audio over `runs` serial requests."""
    cpu = 0.0
    audio = 0.0
    for _ in range(runs):
        before = time.process_time()
        sample: Sample = await job()
        cpu += time.process_time() - before
        audio += sample.audio_s
    return round(cpu * 1000 / audio, 2) if audio else None


async def phase_memory(
    hass: HomeAssistant, strategy: Strategy, entity: Any, settings: Settings, emulator: Emulator
) -> dict[str, Any]:
    """tracemalloc peak while one long reply streams, short vs long."""
    await emulator.set_latency(settings.latency(rtf=settings.long_rtf))
    result: dict[str, Any] = {}
    for minutes in settings.long_minutes:
        text = long_text(minutes, settings.ms_per_char)
        result[f"{minutes:g}_min"] = {
            "entity": await _peak(lambda t=text: _drain_entity(entity, t)),
            "through_ha": await _peak(lambda t=text: _drain_ha(hass, strategy, t)),
        }
    await emulator.set_latency(settings.latency())
    return result


def long_text(minutes: float, ms_per_char: float) -> str:
    """The S2 reply repeated, cut at a word end, for `minutes` of audio."""
    chars = int(minutes * 60_000 / ms_per_char)
    text = ((S2_TEXT + " ") * (chars // (len(S2_TEXT) + 1) + 1))[:chars]
    return text.rsplit(" ", 1)[0]


async def _pieces(text: str, size: int = 64) -> AsyncIterator[str]:
    for piece in tokens(text, size):
        yield piece
        await asyncio.sleep(0)


async def _drain_entity(entity: Any, text: str) -> int:
    """Our code alone: the entity's stream, each chunk dropped once received."""
    options = {**entity.default_options, **MP3}
    response = await entity.async_stream_tts_audio(TTSAudioRequest("en", options, _pieces(text)))
    received = 0
    async for chunk in response.data_gen:
        received += len(chunk)
    return received


async def _drain_ha(hass: HomeAssistant, strategy: Strategy, text: str) -> int:
    """Through HA's tts: its in-memory cache keeps every chunk of a result by design."""
    stream = tts.async_create_stream(hass, engine=strategy.entity_id, options=strategy.options)
    stream.async_set_message_stream(_pieces(text))
    received = 0
    async for chunk in stream.async_stream_result():
        received += len(chunk)
    return received


async def _peak(job: Callable[[], Any]) -> dict[str, float]:
    tracemalloc.start(1)
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        started = time.monotonic()
        received: int = await job()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return {
        "peak_kib": round(peak / 1024, 1),
        "audio_min": round(received / MP3_BYTES_PER_S / 60, 2),
        "wall_s": round(time.monotonic() - started, 2),
    }


async def run_all(settings: Settings) -> tuple[dict[str, Any], Results]:
    """Boot everything, run the phases, stop everything."""
    keys = ["a", "a-warm", "b", "c", "d", *(case.key for case in SWEEP)]
    api_keys = {api_key(key): f"user-{api_key(key)}" for key in keys}
    emulator = await Emulator.start(settings.latency(), api_keys)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="fish-bench-") as config_dir:
        _log_to(Path(config_dir) / "bench.log")
        hass = await ha_boot.async_boot(Path(config_dir), ("tts",))
        try:
            info = await _run_phases(hass, settings, emulator, results)
        finally:
            stopping = time.monotonic()
            await ha_boot.async_shutdown(hass)
            await emulator.stop()
            results.phases["shutdown"] = round(time.monotonic() - stopping, 1)
    return info, results


async def _run_phases(
    hass: HomeAssistant, settings: Settings, emulator: Emulator, results: Results
) -> dict[str, Any]:
    strategies, sweep = await setup_strategies(hass, emulator.url, sweep=settings.sweep_runs > 0)
    await asyncio.sleep(settings.pause_s)  # the warm entry opens its first socket
    await emulator.sessions()
    serial = Serial()
    clock = Clock()
    clock.phase("S1: one-shot message", settings.runs)
    s1 = await phase_s1(hass, strategies, settings, serial)
    s1_segments = segments_by_key(await emulator.sessions())
    clock.phase("S2: Assist-style stream", settings.runs)
    s2 = await phase_s2(hass, strategies, settings, settings.runs)
    s2_segments = segments_by_key(await emulator.sessions())
    clock.phase("S3: burst of one-shot requests", 1)
    cpu_before = time.process_time()
    s3, after_slot = await s3_burst(
        hass, [s for s in strategies if s.probe is None], settings, serial
    )
    s3_cpu = time.process_time() - cpu_before
    await emulator.sessions()
    clock.phase("CPU per second of audio (serial, compressed time)", settings.cost_runs)
    cost = await phase_cost(hass, strategies, settings, emulator, serial)
    clock.phase("memory of a long stream", 2)
    entity = bench_ha.entity_of(hass, _entry_of(hass, strategies[0]))
    results.memory = await phase_memory(hass, strategies[0], entity, settings, emulator)
    if sweep:
        clock.phase("text-policy sweep (S2)", settings.sweep_runs)
        sweep_samples = await phase_s2(hass, sweep, settings, settings.sweep_runs)
        results.sweep = _sweep_report(
            sweep, sweep_samples, segments_by_key(await emulator.sessions())
        )
    clock.done()
    results.phases = clock.phases
    results.scenarios = _scenario_report(
        strategies, s1, s2, s3, after_slot, cost, s1_segments, s2_segments
    )
    s3_audio = sum(sample.audio_s for samples in s3.values() for sample in samples)
    results.scenarios["S3"]["cpu_ms_per_audio_s_all"] = round(s3_cpu * 1000 / s3_audio, 2)
    return {"strategies": {s.key: {"label": s.label, "entity_id": s.entity_id} for s in strategies}}


def _entry_of(hass: HomeAssistant, strategy: Strategy) -> Any:
    for entry in hass.config_entries.async_entries(bench_ha.DOMAIN):
        if bench_ha.entity_of(hass, entry).entity_id == strategy.entity_id:
            return entry
    raise RuntimeError(f"no entry for {strategy.entity_id}")


def _scenario_report(
    strategies: list[Strategy],
    s1: dict[str, list[Sample]],
    s2: dict[str, list[Sample]],
    s3: dict[str, list[Sample]],
    after_slot: dict[str, list[float]],
    cost: dict[str, dict[str, float | None]],
    s1_segments: dict[str, dict[str, float]],
    s2_segments: dict[str, dict[str, float]],
) -> dict[str, dict[str, Any]]:
    report: dict[str, dict[str, Any]] = {"S1": {}, "S2": {}, "S3": {}}
    for strategy in strategies:
        key = strategy.key
        for name, samples, segments in (("S1", s1, s1_segments), ("S2", s2, s2_segments)):
            entry = summarize(samples[key])
            entry["cpu_ms_per_audio_s"] = cost[name].get(key)
            entry["emulator"] = segments.get(api_key(key))
            report[name][key] = entry
        if key in s3:
            entry = summarize(s3[key])
            slot = after_slot.get(key, [])
            entry["ttfa_after_slot_ms"] = {
                "p50": ms(percentile(slot, 0.5)),
                "p95": ms(percentile(slot, 0.95)),
            }
            report["S3"][key] = entry
    return report


def _sweep_report(
    strategies: list[Strategy],
    samples: dict[str, list[Sample]],
    segments: dict[str, dict[str, float]],
) -> dict[str, Any]:
    report = {}
    for strategy, case in zip(strategies, SWEEP, strict=True):
        entry = summarize(samples[strategy.key])
        entry["policy"] = {
            "first_min_chars": case.policy.first_min_chars,
            "first_max_chars": case.policy.first_max_chars,
            "later_min_chars": case.policy.later_min_chars,
            "chunk_length": case.chunk_length,
            "keep_warm": case.warm,
            "lazy_connect": case.naive,
        }
        entry["emulator"] = segments.get(api_key(strategy.key))
        report[strategy.key] = entry
    return report


def _log_to(path: Path) -> None:
    """HA's log goes to a file in the temp folder; the console keeps the report only."""
    handler = logging.FileHandler(path)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


class Clock:
    """Announces phases and remembers how long each took."""

    def __init__(self) -> None:
        """No phase yet."""
        self.phases: dict[str, float] = {}
        self._current: tuple[str, float] | None = None

    def phase(self, name: str, runs: int) -> None:
        """Close the previous phase and start `name`."""
        self.done()
        print(f"[bench] {name} ({runs} run{'s' if runs != 1 else ''})", flush=True)
        self._current = (name, time.monotonic())

    def done(self) -> None:
        """Close the current phase."""
        if self._current is not None:
            name, started = self._current
            self.phases[name] = round(time.monotonic() - started, 1)
            self._current = None


# ----- targets and report --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One PASS/FAIL line."""

    name: str
    value: float | None
    bound: float | None
    passed: bool | None
    detail: str


def _p(report: dict[str, Any], scenario: str, key: str, stat: str = "p50") -> float | None:
    entry = report.get(scenario, {}).get(key)
    return None if entry is None else entry["ttfa_ms"][stat]


def _at_least(name: str, value: float | None, bound: float, detail: str) -> Target:
    passed = None if value is None else value >= bound
    return Target(name, value, bound, passed, detail)


def _at_most(name: str, value: float | None, bound: float | None, detail: str) -> Target:
    passed = None if value is None or bound is None else value <= bound
    return Target(name, value, bound, passed, detail)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else round(top / bottom, 2)


def targets(results: Results, settings: Settings) -> list[Target]:
    """The issue's targets, on TTFA p50 unless the name says p95."""
    rep = results.scenarios
    handshake = settings.handshake_s * 1000
    a2, b2, c2, d2 = (_p(rep, "S2", key) for key in ("a", "b", "c", "d"))
    a1, d1 = _p(rep, "S1", "a"), _p(rep, "S1", "d")
    found = [
        _at_least("S2 (b)/(a) >= 3x", _ratio(b2, a2), 3.0, f"(b) {b2} ms / (a) {a2} ms"),
        _at_least("S2 (c)/(a) >= 1.5x", _ratio(c2, a2), 1.5, f"(c) {c2} ms / (a) {a2} ms"),
        _at_most(
            "S2 (a) <= 1.15 x ((d) + handshake)",
            a2,
            None if d2 is None else round(1.15 * (d2 + handshake), 1),
            f"(d) {d2} ms + handshake {handshake:g} ms",
        ),
        _at_most(
            "S2 moonshot (a) <= 1.15 x (d)",
            a2,
            None if d2 is None else round(1.15 * d2, 1),
            f"(d) {d2} ms",
        ),
        _at_most(
            "S2 moonshot (a-warm) <= 1.15 x (d) [info]",
            _p(rep, "S2", "a-warm"),
            None if d2 is None else round(1.15 * d2, 1),
            "keep_warm entry option",
        ),
        _at_most(
            "S1 (a) <= (d) + handshake + 50 ms",
            a1,
            None if d1 is None else round(d1 + handshake + 50, 1),
            f"(d) {d1} ms + handshake {handshake:g} ms + 50 ms",
        ),
        _at_most(
            "S3 (a) p95 <= 1.5 x single-request p95",
            _p(rep, "S3", "a", "p95"),
            _scaled(_p(rep, "S1", "a", "p95"), 1.5),
            f"{settings.s3_requests} at once, 5 parallel sessions per account",
        ),
    ]
    found.append(_memory_target(results.memory, settings))
    return found


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 1)


def _memory_target(memory: dict[str, Any], settings: Settings) -> Target:
    short, long = (f"{minutes:g}_min" for minutes in settings.long_minutes)
    if short not in memory or long not in memory:
        return Target("streaming memory flat", None, None, None, "not measured")
    small = memory[short]["entity"]["peak_kib"]
    large = memory[long]["entity"]["peak_kib"]
    # Flat: a long stream may not cost more than half again the short one's peak.
    return Target(
        f"streaming memory flat ({long} vs {short} peak <= 1.5x)",
        _ratio(large, small),
        1.5,
        large is not None and small is not None and large <= 1.5 * small,
        f"entity stream peak {small} KiB vs {large} KiB",
    )


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "home_assistant": ha_const.__version__,
    }


def table(results: Results, strategies: dict[str, Any]) -> str:
    """The human-readable table."""
    lines = [
        f"{'scenario':<4} {'strategy':<20} {'TTFA p50':>9} {'TTFA p95':>9} {'total p50':>10} "
        f"{'stall p50':>9} {'CPU ms/audio-s':>14} {'runs':>5}",
    ]
    for scenario, entries in results.scenarios.items():
        for key, entry in entries.items():
            if not isinstance(entry, dict):
                continue
            label = strategies.get(key, {}).get("label", key)
            lines.append(_row(scenario, label, entry))
    return "\n".join(lines)


def _row(scenario: str, label: str, entry: dict[str, Any]) -> str:
    def num(value: float | None, width: int) -> str:
        return f"{'-' if value is None else f'{value:.0f}':>{width}}"

    cpu = entry.get("cpu_ms_per_audio_s")
    errors = f"  errors: {len(entry['errors'])}" if entry["errors"] else ""
    return (
        f"{scenario:<4} {label:<20} {num(entry['ttfa_ms']['p50'], 9)} "
        f"{num(entry['ttfa_ms']['p95'], 9)} {num(entry['total_ms']['p50'], 10)} "
        f"{num(entry['stall_ms_p50'], 9)} {'-' if cpu is None else f'{cpu:.2f}':>14} "
        f"{entry['runs']:>5}{errors}"
    )


def details(results: Results) -> str:
    """What the table cannot show: S3 once a slot is free, segments, memory."""
    lines = ["", "S3 TTFA once a session slot is free (client stats), p50/p95 ms:"]
    for key, entry in results.scenarios["S3"].items():
        if isinstance(entry, dict):
            slot = entry["ttfa_after_slot_ms"]
            lines.append(f"  ({key}) {slot['p50']} / {slot['p95']}")
    lines.append("S2 segments per session as the emulator cut them:")
    for key, entry in results.scenarios["S2"].items():
        if emu := entry.get("emulator"):
            lines.append(
                f"  ({key}) {emu['segments_mean']} segments, first {emu['first_segment_chars_mean']}"
                f" chars, {emu['mid_sentence_cuts_mean']} cut mid-sentence"
            )
    lines.append("Peak traced memory while streaming (KiB):")
    for length, entry in results.memory.items():
        lines.append(
            f"  {length}: entity stream {entry['entity']['peak_kib']}, through HA's tts "
            f"{entry['through_ha']['peak_kib']} ({entry['entity']['audio_min']} min of audio)"
        )
    return "\n".join(lines)


def target_lines(found: list[Target]) -> str:
    """PASS/FAIL lines."""
    lines = []
    for target in found:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[target.passed]
        lines.append(
            f"{verdict}  {target.name}: {target.value} vs {target.bound} ({target.detail})"
        )
    return "\n".join(lines)


def sweep_lines(sweep: dict[str, Any]) -> str:
    """The policy sweep, one line per alternative."""
    lines = []
    for key, entry in sweep.items():
        emu = entry.get("emulator") or {}
        lines.append(
            f"  {key:<22} TTFA p50 {entry['ttfa_ms']['p50']} ms, p95 {entry['ttfa_ms']['p95']} ms, "
            f"total p50 {entry['total_ms']['p50']} ms, segments {emu.get('segments_mean')} "
            f"(first {emu.get('first_segment_chars_mean')} chars, "
            f"{emu.get('mid_sentence_cuts_mean')} cut mid-sentence)"
        )
    return "\n".join(lines)


def write_chart(path: Path, results: Results, settings: Settings) -> None:
    """S2 TTFA per strategy, with the (d) + handshake line."""
    s2 = results.scenarios["S2"]
    bars = [
        bench_chart.Bar(f"({key})", entry["ttfa_ms"]["p50"] or 0, entry["ttfa_ms"]["p95"] or 0)
        for key, entry in s2.items()
    ]
    d = s2.get("d", {}).get("ttfa_ms", {}).get("p50")
    bench_chart.write_chart(
        path,
        bars,
        f"S2 ASSIST STREAM: TTFA (MS), {settings.runs} RUNS",
        limit=None if d is None else d + settings.handshake_s * 1000,
        limit_label="(D) + HANDSHAKE",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (targets are reported, not asserted)."""
    settings, json_path, chart_path = parse_args(argv)
    started = time.monotonic()
    info, results = asyncio.run(run_all(settings))
    found = targets(results, settings)
    duration = round(time.monotonic() - started, 1)
    print()
    print(table(results, info["strategies"]))
    print(details(results))
    if results.sweep:
        print("\nText-policy sweep (S2, side by side):")
        print(sweep_lines(results.sweep))
    print()
    print(target_lines(found))
    print(f"\nran in {duration} s; phases: {results.phases}")
    document = {
        "machine": machine(),
        "settings": {**_settings_dict(settings), "s2_text": S2_TEXT, "s1_text": s1_text(0)},
        "strategies": info["strategies"],
        "scenarios": results.scenarios,
        "memory": results.memory,
        "sweep": results.sweep,
        "targets": [
            {
                "name": t.name,
                "value": t.value,
                "bound": t.bound,
                "pass": t.passed,
                "detail": t.detail,
            }
            for t in found
        ],
        "duration_s": duration,
        "phases_s": results.phases,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    write_chart(chart_path, results, settings)
    print(f"wrote {json_path} and {chart_path}")
    return 0


def _settings_dict(settings: Settings) -> dict[str, Any]:
    values = {name: getattr(settings, name) for name in settings.__slots__}
    values["long_minutes"] = list(settings.long_minutes)
    values["stream_response_chars"] = STREAM_RESPONSE_CHARS
    values["s2_chars"] = len(S2_TEXT)
    values["s1_chars"] = len(s1_text(0))
    return values


if __name__ == "__main__":
    sys.exit(main())
