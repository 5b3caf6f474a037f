"""A tiny pure-Python PNG bar chart for the benchmark (no matplotlib on purpose).

The project's environment must stay lean, so the chart is drawn on an RGB
canvas with a built-in 5x7 bitmap font and written with zlib and struct.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
import struct
import zlib

type Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
AXIS: Color = (90, 90, 90)
P50: Color = (31, 119, 180)
P95: Color = (158, 202, 225)
LIMIT: Color = (214, 39, 40)

# 5x7 glyphs, one int per row, bit 4 = leftmost pixel. Lower case is drawn
# as upper case: the chart only needs short labels.
GLYPHS: dict[str, tuple[int, ...]] = {
    " ": (0, 0, 0, 0, 0, 0, 0),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "A": (0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    ";": (0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "<": (0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02),
    ">": (0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
    "!": (0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04),
}
GLYPH_W = 5
GLYPH_H = 7


class Canvas:
    """An RGB pixel buffer with the few drawing operations a bar chart needs."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        """Fill a new canvas with the background colour."""
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the rectangle [x0, x1) x [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, label: str, color: Color = BLACK, scale: int = 2) -> None:
        """Draw `label` with its top-left corner at (x, y)."""
        for index, char in enumerate(label.upper()):
            rows = GLYPHS.get(char, GLYPHS["?"])
            left = x + index * (GLYPH_W + 1) * scale
            for row_index, bits in enumerate(rows):
                for col in range(GLYPH_W):
                    if bits & (1 << (GLYPH_W - 1 - col)):
                        top = y + row_index * scale
                        self.rect(
                            left + col * scale, top, left + (col + 1) * scale, top + scale, color
                        )

    def png(self) -> bytes:
        """Encode as an 8-bit RGB PNG."""
        stride = self.width * 3
        # Filter type 0 (none) before each scanline; zlib does the compressing.
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def text_width(label: str, scale: int = 2) -> int:
    """Width in pixels of `label` drawn at `scale`."""
    return len(label) * (GLYPH_W + 1) * scale - scale if label else 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


@dataclass(frozen=True, slots=True)
class Bar:
    """One strategy's figures, in milliseconds."""

    label: str
    p50: float
    p95: float


def _nice_step(top: float, ticks: int = 5) -> float:
    """A round grid step (1, 2 or 5 times a power of ten) giving about `ticks` lines."""
    rough = max(top, 1.0) / ticks
    power = 10.0 ** (len(str(int(rough))) - 1)
    for factor in (1, 2, 5, 10):
        if rough <= factor * power:
            return factor * power
    return 10 * power


def bar_chart(
    bars: Sequence[Bar],
    title: str,
    *,
    limit: float | None = None,
    limit_label: str = "",
    subtitle: str = "",
    width: int = 900,
    height: int = 520,
) -> bytes:
    """Grouped bars (p50 dark, p95 light) per strategy, with an optional limit line."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 90, width - 20, 70, height - 70
    peak = max([b.p95 for b in bars] + [b.p50 for b in bars] + [limit or 0.0, 1.0])
    step = _nice_step(peak * 1.1)
    y_max = step * (int(peak * 1.1 / step) + 1)

    def y_of(value: float) -> int:
        return bottom - round((bottom - top) * value / y_max)

    canvas.text(left, 14, title, scale=2)
    canvas.text(left, 38, subtitle, AXIS, scale=1)
    _draw_grid(canvas, left, right, bottom, step, y_max, y_of)
    slot = (right - left) / max(len(bars), 1)
    bar_w = max(6, int(slot * 0.3))
    for index, bar in enumerate(bars):
        center = left + int(slot * (index + 0.5))
        _draw_bar(canvas, center - bar_w, bar_w, bar.p50, P50, y_of, bottom)
        _draw_bar(canvas, center, bar_w, bar.p95, P95, y_of, bottom)
        canvas.text(center - text_width(bar.label) // 2, bottom + 12, bar.label)
    if limit is not None:
        y = y_of(limit)
        for x in range(left, right, 12):
            canvas.rect(x, y - 1, x + 7, y + 1, LIMIT)
        canvas.text(right - text_width(limit_label), y - 20, limit_label, LIMIT)
    _draw_legend(canvas, left, height - 28, limit_label if limit is not None else "")
    return canvas.png()


def _draw_grid(
    canvas: Canvas,
    left: int,
    right: int,
    bottom: int,
    step: float,
    y_max: float,
    y_of: Callable[[float], int],
) -> None:
    value = 0.0
    while value <= y_max + 1e-9:
        y = y_of(value)
        canvas.rect(left, y, right, y + 1, GRID)
        label = f"{value:g}"
        canvas.text(left - 10 - text_width(label), y - 7, label, AXIS)
        value += step
    canvas.rect(left, bottom, right, bottom + 2, AXIS)
    canvas.rect(left - 2, y_of(y_max), left, bottom + 2, AXIS)
    canvas.text(8, y_of(y_max) - 30, "MS", AXIS)


def _draw_bar(
    canvas: Canvas,
    x: int,
    bar_w: int,
    value: float,
    color: Color,
    y_of: Callable[[float], int],
    bottom: int,
) -> None:
    y = y_of(value)
    canvas.rect(x, y, x + bar_w, bottom, color)
    label = f"{value:.0f}"
    canvas.text(x + (bar_w - text_width(label, 1)) // 2, y - 10, label, BLACK, scale=1)


def _draw_legend(canvas: Canvas, x: int, y: int, limit_label: str) -> None:
    entries = [(P50, "P50"), (P95, "P95")] + ([(LIMIT, limit_label)] if limit_label else [])
    for color, label in entries:
        canvas.rect(x, y, x + 16, y + 14, color)
        canvas.text(x + 22, y, label)
        x += 22 + text_width(label) + 30


def write_chart(
    path: Path,
    bars: Sequence[Bar],
    title: str,
    *,
    limit: float | None = None,
    limit_label: str = "",
    subtitle: str = "",
) -> None:
    """Draw the chart and write it to `path` (parent folders are created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chart = bar_chart(bars, title, limit=limit, limit_label=limit_label, subtitle=subtitle)
    path.write_bytes(chart)
