"""The benchmark runs end to end and reports every scenario and strategy.

The bench boots its own Home Assistant core and emulator process, so it runs
as a subprocess: that keeps it clear of this plugin's `hass` fixture, socket
guard and leak checks. Short latencies and one run keep it to seconds.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
import struct
import subprocess
import sys
from typing import Any

from PIL import Image

from bench import chart as bench_chart

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ("a", "a-warm", "b", "c", "d")


def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    """One bench run (a few seconds of work), checked from several sides.

    A single test on purpose: with pytest-xdist, a module fixture would run
    the bench once per worker.
    """
    report, chart, output = _run_bench(tmp_path)
    _check_scenarios(report)
    _check_memory_sweep_targets(report, output)
    _check_chart(chart.read_bytes())


def _run_bench(out: Path) -> tuple[dict[str, Any], Path, str]:
    """A quick bench with tiny latencies: its JSON, chart path and console output."""
    json_path, chart_path = out / "bench.json", out / "s2.png"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--runs=1",
        "--s3-requests=6",
        "--sweep-runs=1",
        "--handshake-ms=40",
        "--first-audio-ms=40",
        "--rtf=0.02",
        "--tokens-per-s=400",
        "--long-minutes=0.1,0.3",
        "--stall-ms=300",
        f"--json={json_path}",
        f"--chart={chart_path}",
    ]
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        command, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(json_path.read_text()), chart_path, done.stdout


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_scenarios(report: dict[str, Any]) -> None:
    """Every scenario and strategy has figures, and streaming beats collecting."""
    for scenario in ("S1", "S2", "S2-think", "S3"):
        expected = STRATEGIES if scenario != "S3" else STRATEGIES[:-1]
        entries = report["scenarios"][scenario]
        for key in expected:
            entry = entries[key]
            assert entry["errors"] == [], (scenario, key, entry["errors"])
            assert _number(entry["ttfa_ms"]["p50"]), (scenario, key)
            assert _number(entry["ttfa_ms"]["p95"]), (scenario, key)
            assert _number(entry["total_ms"]["p50"]), (scenario, key)
            if key != "d":
                assert entry["audio_s_mean"] > 0, (scenario, key)
        if scenario in ("S1", "S2"):
            for key in expected[:-1]:
                assert _number(entries[key]["cpu_ms_per_audio_s"]), (scenario, key)
    assert _number(report["scenarios"]["S3"]["cpu_ms_per_audio_s_all"])
    for key in ("plain", "wav16k", "flac48k", "stall-wav16k", "stall-plain"):
        entry = report["scenarios"]["S4"][key]
        assert entry["errors"] == [], (key, entry["errors"])
        assert _number(entry["ttfa_ms"]["p50"]), key
        assert _number(entry["stall_max_ms"]), key
    # Even with tiny latencies, (b) waits for the whole reply and (a) does not.
    s2 = report["scenarios"]["S2"]
    assert s2["b"]["ttfa_ms"]["p50"] > s2["a"]["ttfa_ms"]["p50"]


def _check_memory_sweep_targets(report: dict[str, Any], output: str) -> None:
    for length in ("0.1_min", "0.3_min"):
        for path in ("entity", "through_ha"):
            assert _number(report["memory"][length][path]["peak_kib"])
    assert len(report["sweep"]) >= 5
    assert all(_number(entry["ttfa_ms"]["p50"]) for entry in report["sweep"].values())
    assert len(report["targets"]) == 12
    assert _number(report["scenarios"]["S3"]["a-20"]["ttfa_ms"]["p95"])
    assert all(target["pass"] in (True, False) for target in report["targets"])
    assert report["machine"]["home_assistant"]
    assert report["machine"]["cpu_count"]
    assert report["settings"]["stream_response_chars"] == 60
    assert "PASS" in output or "FAIL" in output


def _check_chart(data: bytes) -> None:
    """A PNG of the expected size that decodes whole."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (900, 520)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.size == (900, 520)


def test_chart_redraws_from_committed_results(tmp_path: Path) -> None:
    """docs/bench-s2.png can be redrawn from bench-results.json without a bench run."""
    target = tmp_path / "s2.png"
    assert bench_chart.main([str(ROOT / "bench-results.json"), str(target)]) == 0
    _check_chart(target.read_bytes())


def test_bench_requirements_are_in_the_test_environment() -> None:
    """The bench runs in the tests too, so the test venv carries the same pins."""
    test_lines = (ROOT / "requirements_test.txt").read_text().splitlines()
    for line in (ROOT / "requirements_bench.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert line in test_lines
