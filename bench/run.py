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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
import json
import logging
from pathlib import Path
import re
import sys
import tempfile
import time
import tracemalloc
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# ha_boot is shared with scripts/speak; it also puts the repo root on sys.path.
sys.path.insert(0, str(ROOT / "scripts"))

import ha_boot  # noqa: E402
from homeassistant.components import tts  # noqa: E402
from homeassistant.components.tts.entity import TTSAudioRequest  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402

from bench import ha as bench_ha, report  # noqa: E402
from bench.emulator import Emulator  # noqa: E402
from bench.scenarios import (  # noqa: E402
    MP3,
    MP3_BYTES_PER_S,
    S2_TEXT,
    S4_REQUESTS,
    STREAM_RESPONSE_CHARS,
    Sample,
    Serial,
    Settings,
    Strategy,
    long_text,
    one_shot,
    pieces,
    s1_run,
    s1_text,
    s2_run,
    s3_burst,
    s4_request,
    s4_stall,
)
from custom_components.fish_audio_live.const import CONF_MAX_SESSIONS  # noqa: E402
from custom_components.fish_audio_live.fishaudio.text_policy import FlushPolicy  # noqa: E402

VOICE_ID = "f51eeab3f59fb13a6ae9f0a61ba5e87e"  # first voice of the emulator's catalog
S3_TIER_SESSIONS = 20  # a plan on Fish's 15- or 50-session tier, set in the entry options
THINK_S = 0.8  # S2-think: speech-to-text and the agent's thinking before the first delta
S4_STALL_RUNS = 2


def parse_args(argv: Sequence[str] | None = None) -> tuple[Settings, Path, Path]:
    """Command line: settings, JSON path, chart path."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter long stream")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 20, quick 2)")
    parser.add_argument(
        "--handshake-ms", type=float, default=330.0, help="live handshake (Fish: ~330 cold)"
    )
    parser.add_argument(
        "--first-audio-ms",
        type=float,
        default=300.0,
        help="first audio after a flush or full buffer (Fish: ~300 for latency=balanced)",
    )
    parser.add_argument("--rtf", type=float, default=0.25, help="emulator real-time factor")
    parser.add_argument("--ms-per-char", type=float, default=20.0, help="audio per character")
    parser.add_argument("--tokens-per-s", type=float, default=40.0, help="S2 LLM deltas per s")
    parser.add_argument("--token-chars", type=int, default=4, help="characters per S2 delta")
    parser.add_argument("--s3-requests", type=int, help="S3 burst size (default 20, quick 10)")
    parser.add_argument(
        "--stall-ms", type=float, default=5000.0, help="S4: pause in the reply (a tool call)"
    )
    parser.add_argument("--sweep-runs", type=int, help="runs of the policy sweep (0 = skip)")
    parser.add_argument(
        "--long-minutes",
        type=_minutes,
        help="audio minutes of the short and long memory streams (default 1,10; quick 0.25,1)",
    )
    parser.add_argument(
        "--json", type=Path, help="results (default bench-results.json; quick: a temp file)"
    )
    parser.add_argument(
        "--chart", type=Path, help="S2 chart (default docs/bench-s2.png; quick: a temp file)"
    )
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
        stall_s=args.stall_ms / 1000,
    )
    # A quick run must not overwrite the committed results of a full one.
    out = Path(tempfile.gettempdir()) / "fish-bench-quick" if quick else None
    json_path = args.json or (out / "bench-results.json" if out else ROOT / "bench-results.json")
    chart_path = args.chart or (out / "bench-s2.png" if out else ROOT / "docs" / "bench-s2.png")
    return settings, json_path, chart_path


def _minutes(value: str) -> tuple[float, float]:
    short, long = (float(part) for part in value.split(","))
    return short, long


@dataclass(frozen=True, slots=True)
class SweepCase:
    """A text-policy alternative tried on the streaming path (S2, side by side)."""

    key: str
    policy: FlushPolicy
    warm: bool
    chunk_length: int = 100
    naive: bool = False

    def describe(self) -> dict[str, Any]:
        """The settings, for the JSON."""
        return {
            "first_min_chars": self.policy.first_min_chars,
            "first_max_chars": self.policy.first_max_chars,
            "later_min_chars": self.policy.later_min_chars,
            "chunk_length": self.chunk_length,
            "keep_warm": self.warm,
            "lazy_connect": self.naive,
        }


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


async def setup_strategies(hass: HomeAssistant, url: str) -> tuple[Any, list[Strategy]]:
    """Entries through the config flow for (a) and (a-warm); variants for the rest."""
    shipped = await bench_ha.create_entry(hass, url, api_key("a"), VOICE_ID)
    warm = await bench_ha.create_entry(hass, url, api_key("a-warm"), VOICE_ID, keep_warm=True)
    main = [_shipped(hass, "a", "(a) shipped", shipped)]
    main.append(_shipped(hass, "a-warm", "(a-warm) keep_warm", warm))
    collect = await bench_ha.add_variant(
        hass, shipped, bench_ha.CollectThenSynthesize, api_key=api_key("b")
    )
    naive = await bench_ha.add_variant(
        hass, shipped, bench_ha.NaivePassThrough, api_key=api_key("c"), policy=bench_ha.NEVER_FLUSH
    )
    probe = await bench_ha.add_variant(hass, shipped, bench_ha.SentenceProbe, api_key=api_key("d"))
    # A naive client sends no chunk_length (the seed's example does not), so the server's
    # default of 300 applies; ours is tuned to 100 as part of the shipped policy.
    naive_options = {**MP3, "chunk_length": 300}
    main += [
        Strategy("b", "(b) collect first", collect.entity_id, client=collect.client),
        Strategy("c", "(c) naive", naive.entity_id, client=naive.client, options=naive_options),
        Strategy("d", "(d) limit", probe.entity_id, probe=probe),
    ]
    return shipped, main


async def setup_tier_entry(hass: HomeAssistant, url: str) -> Strategy:
    """(a) on an account whose plan allows 20 parallel sessions (Fish's 15/50 tiers)."""
    entry = await bench_ha.create_entry(
        hass, url, api_key("a-20"), VOICE_ID, options={CONF_MAX_SESSIONS: S3_TIER_SESSIONS}
    )
    return _shipped(hass, "a-20", f"(a) {S3_TIER_SESSIONS} sessions", entry)


def _shipped(hass: HomeAssistant, key: str, label: str, entry: Any) -> Strategy:
    entity = bench_ha.entity_of(hass, entry)
    return Strategy(key, label, entity.entity_id, client=entry.runtime_data.client, entity=entity)


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


def _collect(runs: list[dict[str, Sample]]) -> dict[str, list[Sample]]:
    merged: dict[str, list[Sample]] = {}
    for run in runs:
        for key, sample in run.items():
            merged.setdefault(key, []).append(sample)
    return merged


async def phase_s1(
    hass: HomeAssistant, strategies: list[Strategy], settings: Settings, serial: Serial
) -> dict[str, list[Sample]]:
    """S1, side by side, `runs` times, after one warm-up run that is not counted.

    The warm-up takes one-off costs (first use of code paths and connections
    in this process) out of the figures, as any benchmark does.
    """
    await s1_run(hass, strategies, settings, 0, serial)
    await asyncio.sleep(settings.pause_s)
    runs = []
    for run in range(settings.runs):
        runs.append(await s1_run(hass, strategies, settings, run, serial))
        await asyncio.sleep(settings.pause_s)  # warm sockets refill, as between real requests
    return _collect(runs)


async def phase_s2(
    hass: HomeAssistant,
    strategies: list[Strategy],
    settings: Settings,
    runs: int,
    think_s: float = 0.0,
) -> dict[str, list[Sample]]:
    """S2, side by side, `runs` times; `think_s` between pipeline start and the reply."""
    results = []
    for run in range(runs):
        results.append(await s2_run(hass, strategies, settings, run, 1.0, think_s))
        await asyncio.sleep(settings.pause_s)
    return _collect(results)


async def phase_s4(
    hass: HomeAssistant, shipped: Strategy, settings: Settings, serial: Serial
) -> dict[str, list[Sample]]:
    """S4: satellites' formats one at a time (ffmpeg has the machine), then the stall."""
    samples: dict[str, list[Sample]] = {key: [] for key in S4_REQUESTS}
    for run in range(settings.runs + 1):
        for key, options in S4_REQUESTS.items():
            sample = await s4_request(hass, shipped.entity_id, options, s1_text(serial.next()))
            if run:  # the first round warms up code paths and ffmpeg's page cache
                samples[key].append(sample)
            await asyncio.sleep(settings.pause_s)
    for key in ("wav16k", "plain"):
        samples[f"stall-{key}"] = [
            await s4_stall(hass, shipped.entity_id, S4_REQUESTS[key], settings.stall_s)
            for _ in range(S4_STALL_RUNS)
        ]
    return samples


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
            settings.cost_runs, partial(_s1_single, hass, strategy, settings, serial)
        )
        cost["S2"][strategy.key] = await _cpu_per_audio_s(
            settings.cost_runs, partial(_s2_single, hass, strategy, settings)
        )
    await emulator.set_latency(settings.latency())
    await asyncio.sleep(settings.pause_s)  # warm sockets opened meanwhile are replaced
    return cost


async def _s1_single(
    hass: HomeAssistant, strategy: Strategy, settings: Settings, serial: Serial
) -> Sample:
    return await one_shot(hass, strategy, s1_text(serial.next()), settings.first_audio_s)


async def _s2_single(hass: HomeAssistant, strategy: Strategy, settings: Settings) -> Sample:
    return (await s2_run(hass, [strategy], settings, 0, settings.cost_speedup))[strategy.key]


async def _cpu_per_audio_s(runs: int, job: Callable[[], Awaitable[Sample]]) -> float | None:
    """Process CPU milliseconds per second of audio over `runs` serial requests."""
    cpu = 0.0
    audio = 0.0
    for _ in range(runs):
        before = time.process_time()
        sample = await job()
        cpu += time.process_time() - before
        audio += sample.audio_s
    return round(cpu * 1000 / audio, 2) if audio else None


async def phase_memory(
    hass: HomeAssistant, strategy: Strategy, settings: Settings, emulator: Emulator
) -> dict[str, Any]:
    """tracemalloc peak while one long reply streams, short vs long."""
    entity = strategy.entity
    assert entity is not None
    await emulator.set_latency(settings.latency(rtf=settings.long_rtf))
    result: dict[str, Any] = {}
    for minutes in settings.long_minutes:
        text = long_text(minutes, settings.ms_per_char)
        result[f"{minutes:g}_min"] = {
            "entity": await _peak(partial(_drain_entity, entity, text)),
            "through_ha": await _peak(partial(_drain_ha, hass, strategy, text)),
        }
    await emulator.set_latency(settings.latency())
    return result


async def _drain_entity(entity: Any, text: str) -> int:
    """Our code alone: the entity's stream, each chunk dropped once received."""
    options = {**entity.default_options, **MP3}
    response = await entity.async_stream_tts_audio(TTSAudioRequest("en", options, pieces(text)))
    received = 0
    async for chunk in response.data_gen:
        received += len(chunk)
    return received


async def _drain_ha(hass: HomeAssistant, strategy: Strategy, text: str) -> int:
    """Through HA's tts: its in-memory cache keeps every chunk of a result by design."""
    stream = tts.async_create_stream(hass, engine=strategy.entity_id, options=strategy.options)
    stream.async_set_message_stream(pieces(text))
    received = 0
    async for chunk in stream.async_stream_result():
        received += len(chunk)
    return received


async def _peak(job: Callable[[], Awaitable[int]]) -> dict[str, float]:
    tracemalloc.start(1)
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        started = time.monotonic()
        received = await job()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return {
        "peak_kib": round(peak / 1024, 1),
        "audio_min": round(received / MP3_BYTES_PER_S / 60, 2),
        "wall_s": round(time.monotonic() - started, 2),
    }


async def run_all(settings: Settings) -> tuple[dict[str, Any], report.Results]:
    """Boot everything, run the phases, stop everything."""
    keys = ["a", "a-warm", "a-20", "b", "c", "d", *(case.key for case in SWEEP)]
    api_keys = {api_key(key): f"user-{api_key(key)}" for key in keys}
    emulator = await Emulator.start(settings.latency(), api_keys)
    results = report.Results()
    with tempfile.TemporaryDirectory(prefix="fish-bench-") as config_dir:
        _log_to(results.log)
        hass = await ha_boot.async_boot(Path(config_dir), ("tts",))
        try:
            shipped, strategies = await setup_strategies(hass, emulator.url)
            await run_phases(hass, settings, emulator, shipped, strategies, results)
        finally:
            stopping = time.monotonic()
            await ha_boot.async_shutdown(hass)
            await emulator.stop()
            results.phases["shutdown"] = round(time.monotonic() - stopping, 1)
    labels = {s.key: {"label": s.label, "entity_id": s.entity_id} for s in strategies}
    labels["a-20"] = {"label": f"(a) {S3_TIER_SESSIONS} sessions", "entity_id": ""}
    return labels, results


async def run_phases(
    hass: HomeAssistant,
    settings: Settings,
    emulator: Emulator,
    shipped: Any,
    strategies: list[Strategy],
    results: report.Results,
) -> None:
    """Every phase in turn; the emulator's session records are read after each."""
    await asyncio.sleep(settings.pause_s)  # the warm entry opens its first socket
    await emulator.sessions()
    serial = Serial()
    clock = Clock()
    samples: dict[str, dict[str, list[Sample]]] = {}
    segments: dict[str, dict[str, dict[str, float]]] = {}
    clock.phase("S1: one-shot message", settings.runs)
    samples["S1"] = await phase_s1(hass, strategies, settings, serial)
    segments["S1"] = await _segments(emulator)
    clock.phase("S2: Assist-style stream", settings.runs)
    samples["S2"] = await phase_s2(hass, strategies, settings, settings.runs)
    segments["S2"] = await _segments(emulator)
    clock.phase("S2-think: stream after 0.8 s of STT and thinking", settings.runs)
    samples["S2-think"] = await phase_s2(hass, strategies, settings, settings.runs, THINK_S)
    segments["S2-think"] = await _segments(emulator)
    clock.phase(
        f"S4: satellite formats through ffmpeg, a {settings.stall_s:g} s pause", settings.runs
    )
    samples["S4"] = await phase_s4(hass, strategies[0], settings, serial)
    segments["S4"] = await _segments(emulator)
    clock.phase(f"S3: {settings.s3_requests} one-shot requests at once", 1)
    synthesizing = [s for s in strategies if s.probe is None]
    tier = await setup_tier_entry(hass, emulator.url)
    cpu_before = time.process_time()
    samples["S3"], after_slot = await s3_burst(hass, [*synthesizing, tier], settings, serial)
    s3_cpu = time.process_time() - cpu_before
    segments["S3"] = await _segments(emulator)
    clock.phase("CPU per second of audio (serial, compressed time)", settings.cost_runs)
    cost = await phase_cost(hass, synthesizing, settings, emulator, serial)
    clock.phase("memory of a long stream", 2)
    results.memory = await phase_memory(hass, strategies[0], settings, emulator)
    if settings.sweep_runs:
        clock.phase("text-policy sweep (S2)", settings.sweep_runs)
        results.sweep = await phase_sweep(hass, shipped, settings, emulator)
    clock.done()
    results.phases = clock.phases
    keys = [strategy.key for strategy in strategies] + [tier.key]
    results.scenarios = report.scenario_report(keys, samples, after_slot, cost, segments)
    s3_audio = sum(sample.audio_s for by_key in samples["S3"].values() for sample in by_key)
    results.scenarios["S3"]["cpu_ms_per_audio_s_all"] = round(s3_cpu * 1000 / s3_audio, 2)


async def phase_sweep(
    hass: HomeAssistant, shipped: Any, settings: Settings, emulator: Emulator
) -> dict[str, Any]:
    """S2 with text-policy alternatives, side by side.

    Their entities are only added now: their warm sockets would otherwise add
    background allocations to the memory phase.
    """
    strategies = await _sweep_strategies(hass, shipped)
    await asyncio.sleep(settings.pause_s)  # warm sockets open
    samples = await phase_s2(hass, strategies, settings, settings.sweep_runs)
    cases = {case.key: case.describe() for case in SWEEP}
    return report.sweep_report(cases, samples, await _segments(emulator))


async def _segments(emulator: Emulator) -> dict[str, dict[str, float]]:
    """The emulator's view of the sessions closed since last asked, per strategy key."""
    by_api_key = report.segments_by_key(await emulator.sessions())
    keys = ["a", "a-warm", "a-20", "b", "c", "d", *(case.key for case in SWEEP)]
    return {key: by_api_key[api_key(key)] for key in keys if api_key(key) in by_api_key}


def _log_to(tally: report.LogTally) -> None:
    """HA's log is counted, not printed: the console keeps the report only."""
    root = logging.getLogger()
    root.handlers[:] = [tally]
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (targets are reported, not asserted)."""
    settings, json_path, chart_path = parse_args(argv)
    started = time.monotonic()
    strategies, results = asyncio.run(run_all(settings))
    found = report.targets(results, settings)
    print()
    print(report.table(results, strategies))
    print(report.details(results))
    if results.sweep:
        print("\nText-policy sweep (S2, side by side):")
        print(report.sweep_lines(results.sweep))
    print()
    print(report.target_lines(found))
    duration = round(time.monotonic() - started, 1)
    print(f"\nran in {duration} s; phases: {results.phases}")
    result = report.document(_settings_dict(settings), strategies, results, found)
    result["duration_s"] = duration
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    report.write_chart(chart_path, result)
    print(f"wrote {json_path} and {chart_path}")
    return 0


def _settings_dict(settings: Settings) -> dict[str, Any]:
    values = {name: getattr(settings, name) for name in settings.__slots__}
    values["long_minutes"] = list(settings.long_minutes)
    values["stream_response_chars"] = STREAM_RESPONSE_CHARS
    values["s2_chars"] = len(S2_TEXT)
    values["s1_chars"] = len(s1_text(0))
    values["s1_text"] = s1_text(0)
    values["s2_text"] = S2_TEXT
    return values
