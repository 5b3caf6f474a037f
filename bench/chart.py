"""The S2 bar chart of the benchmark (docs/bench-s2.png), drawn with matplotlib.

matplotlib is a benchmark-only requirement (requirements_bench.txt, installed by
scripts/bench). The chart is drawn from the JSON document the bench writes, so
`python -m bench.chart [bench-results.json] [docs/bench-s2.png]` redraws it from
committed figures without running the bench.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import json
from pathlib import Path
import sys
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
WIDTH_PX, HEIGHT_PX, DPI = 900, 520, 100
P50, P95, LIMIT, AXIS = "#1f77b4", "#9ecae1", "#d62728", "#5a5a5a"


@dataclass(frozen=True, slots=True)
class Bar:
    """One strategy's figures, in milliseconds."""

    label: str
    p50: float
    p95: float


def s2_bars(s2: Mapping[str, Any]) -> list[Bar]:
    """One bar pair per strategy of the S2 scenario, in the document's order."""
    return [
        Bar(f"({key})", entry["ttfa_ms"]["p50"] or 0, entry["ttfa_ms"]["p95"] or 0)
        for key, entry in s2.items()
    ]


def write_s2_chart(path: Path, document: Mapping[str, Any]) -> None:
    """S2 TTFA per strategy, with the (d) + handshake line, from a bench JSON document."""
    settings = document["settings"]
    s2 = document["scenarios"]["S2"]
    d = s2.get("d", {}).get("ttfa_ms", {}).get("p50")
    write_chart(
        path,
        s2_bars(s2),
        f"S2 Assist stream: time to first audio (ms), {settings['runs']} runs",
        limit=None if d is None else d + settings["handshake_s"] * 1000,
        limit_label="(d) + handshake",
        subtitle=(
            f"Emulator: handshake {settings['handshake_s'] * 1000:g} ms, first audio "
            f"{settings['first_audio_s'] * 1000:g} ms, RTF {settings['rtf']:g}; "
            f"{settings['s2_chars']} chars at {settings['tokens_per_s']:g} deltas/s. "
            "Lower is better."
        ),
    )


def write_chart(
    path: Path,
    bars: Sequence[Bar],
    title: str,
    *,
    limit: float | None = None,
    limit_label: str = "",
    subtitle: str = "",
) -> None:
    """Grouped bars (p50 dark, p95 light) per strategy, optional limit line; PNG at `path`."""
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = range(len(bars))
    width = 0.38
    for offset, name, color in ((-width / 2, "p50", P50), (width / 2, "p95", P95)):
        values = [getattr(bar, name) for bar in bars]
        drawn = axes.bar([x + offset for x in positions], values, width, color=color, label=name)
        axes.bar_label(drawn, fmt="%.0f", fontsize=8, padding=2)
    if limit is not None:
        axes.axhline(limit, color=LIMIT, linestyle="--", linewidth=1.5, label=limit_label)
    axes.set_xticks(list(positions), [bar.label for bar in bars])
    axes.set_ylabel("ms", color=AXIS)
    axes.set_ylim(0, max([bar.p95 for bar in bars] + [limit or 0.0, 1.0]) * 1.15)
    axes.grid(axis="y", color="#e1e1e1")
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="best", frameon=False, ncols=3)
    figure.suptitle(title, x=0.02, ha="left", fontweight="bold")
    axes.set_title(subtitle, loc="left", fontsize=8, color=AXIS)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No software tag: the same figures give the same file.
    figure.savefig(path, format="png", metadata={"Software": None})


def main(argv: Sequence[str]) -> int:
    """Redraw the chart from a bench JSON document (defaults: the committed ones)."""
    source = Path(argv[0]) if argv else ROOT / "bench-results.json"
    target = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "bench-s2.png"
    write_s2_chart(target, json.loads(source.read_text()))
    print(f"wrote {target} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
