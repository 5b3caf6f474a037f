"""Statistics, targets and the printed, JSON and PNG report of the benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import platform
import statistics
from typing import Any

from homeassistant import const as ha_const

from bench import chart as bench_chart
from bench.scenarios import Sample, Settings


class LogTally(logging.Handler):
    """Keeps HA's warnings and errors off the console, but counts them for the JSON."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Count by logger and level; keep the first few distinct messages."""
        key = f"{record.levelname} {record.name}"
        self.counts[key] = self.counts.get(key, 0) + 1
        line = f"{key}: {record.getMessage()[:200]}"
        if len(self.samples) < 10 and line not in self.samples:
            self.samples.append(line)


@dataclass(slots=True)
class Results:
    """What the phases found."""

    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    log: LogTally = field(default_factory=LogTally)


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
        "stall_max_ms": ms(max((sample.stall for sample in samples), default=None)),
        "audio_s_mean": round(statistics.fmean([s.audio_s for s in samples]), 2) if samples else 0,
    }


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


def scenario_report(
    keys: Sequence[str],
    samples: dict[str, dict[str, list[Sample]]],
    after_slot: dict[str, list[float]],
    cost: dict[str, dict[str, float | None]],
    segments: dict[str, dict[str, dict[str, float]]],
) -> dict[str, dict[str, Any]]:
    """Per scenario and strategy: summaries, CPU, what the emulator saw."""
    report: dict[str, dict[str, Any]] = {}
    for scenario, by_key in samples.items():
        report[scenario] = {}
        for key in [*keys, *(key for key in by_key if key not in keys)]:
            if key not in by_key:
                continue
            entry = summarize(by_key[key])
            entry["cpu_ms_per_audio_s"] = cost.get(scenario, {}).get(key)
            entry["emulator"] = segments.get(scenario, {}).get(key)
            if scenario == "S3":
                slot = after_slot.get(key, [])
                entry["ttfa_after_slot_ms"] = {
                    "p50": ms(percentile(slot, 0.5)),
                    "p95": ms(percentile(slot, 0.95)),
                }
            report[scenario][key] = entry
    return report


def sweep_report(
    cases: dict[str, dict[str, Any]],
    samples: dict[str, list[Sample]],
    segments: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Per text-policy alternative: its settings and S2 summary."""
    report = {}
    for key, policy in cases.items():
        entry = summarize(samples[key])
        entry["policy"] = policy
        entry["emulator"] = segments.get(key)
        report[key] = entry
    return report


def document(
    settings: dict[str, Any],
    strategies: dict[str, Any],
    results: Results,
    found: list[Target],
) -> dict[str, Any]:
    """Everything, for bench-results.json."""
    return {
        "machine": machine(),
        "settings": settings,
        "strategies": strategies,
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
        "phases_s": results.phases,
        "ha_log": {"counts": results.log.counts, "first": results.log.samples},
    }


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
            "S3 (a) p95 <= 1.5 x single-request p95 [20-session plan]",
            _p(rep, "S3", "a-20", "p95"),
            _scaled(_p(rep, "S1", "a", "p95"), 1.5),
            f"{settings.s3_requests} at once, max_sessions option 20",
        ),
        _at_most(
            "S3 (a) p95 <= 1.5 x single-request p95 [5-session plan, info]",
            _p(rep, "S3", "a", "p95"),
            _scaled(_p(rep, "S1", "a", "p95"), 1.5),
            f"{settings.s3_requests} at once, queued through Fish's smallest cap of 5",
        ),
    ]
    d2t = _p(rep, "S2-think", "d")
    found.append(
        _at_most(
            "S2-think moonshot (a) <= 1.15 x (d)",
            _p(rep, "S2-think", "a"),
            None if d2t is None else round(1.15 * d2t, 1),
            f"(d) {d2t} ms; pipeline start 0.8 s before the first delta",
        )
    )
    plain, flac = _p(rep, "S4", "plain"), _p(rep, "S4", "flac48k")
    found.append(
        _at_most(
            "S4 flac 48 kHz (Voice PE) <= 1.1 x plain + 100 ms",
            flac,
            None if plain is None else round(1.1 * plain + 100, 1),
            f"plain mp3 {plain} ms; first kilobyte through HA's ffmpeg",
        )
    )
    stall = results.scenarios.get("S4", {}).get("stall-wav16k")
    found.append(
        _at_most(
            f"S4 {settings.stall_s:g} s pause: longest gap in a WAV stream <= 1000 ms",
            None if stall is None else stall["stall_max_ms"],
            1000.0,
            "Wyoming-like wav 16 kHz, fill_silence on (default)",
        )
    )
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
        "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
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
        if isinstance(entry, dict) and (emu := entry.get("emulator")):
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


def write_chart(path: Path, document: dict[str, Any]) -> None:
    """S2 TTFA per strategy (docs/bench-s2.png), drawn from the JSON document."""
    bench_chart.write_s2_chart(path, document)
