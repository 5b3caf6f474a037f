"""Draw the Fish Audio Live brand icon and write it as PNG files.

Our own design: a white fish swimming right, sound-wave arcs coming from its mouth,
on a rounded square shading from deep teal to blue. Shapes are signed distance
fields in unit coordinates; pixels on an edge are supersampled (anti-aliasing).
Standard library only (zlib + struct write the PNG): ``python3 scripts/make_icons.py``.
"""

from collections.abc import Callable
import math
from pathlib import Path
import struct
import zlib

BRAND = Path(__file__).resolve().parent.parent / "custom_components/fish_audio_live/brand"
TOP_LEFT = (0x0A, 0x8F, 0x8A)  # deep teal
BOTTOM_RIGHT = (0x1D, 0x3F, 0xB8)  # blue
SUBSAMPLES = 5  # per axis, for pixels that straddle an edge

type Field = Callable[[float, float], float]


def circle(cx: float, cy: float, r: float) -> Field:
    return lambda x, y: math.hypot(x - cx, y - cy) - r


def rounded_square(margin: float, radius: float) -> Field:
    half = 0.5 - margin - radius

    def field(x: float, y: float) -> float:
        qx, qy = abs(x - 0.5) - half, abs(y - 0.5) - half
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return field


def polygon(*points: tuple[float, float]) -> Field:
    """Convex polygon, points clockwise on screen (y down): max of edge distances."""
    edges: list[tuple[float, float, float, float]] = []
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        length = math.hypot(x1 - x0, y1 - y0)
        edges.append((x0, y0, (y1 - y0) / length, (x0 - x1) / length))
    return lambda x, y: max((x - x0) * nx + (y - y0) * ny for x0, y0, nx, ny in edges)


def arc(cx: float, cy: float, r: float, half_angle: float, width: float) -> Field:
    """A stroke of radius r around (cx, cy), opening to the right, with round caps."""
    ends = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in (-half_angle, half_angle)]

    def field(x: float, y: float) -> float:
        if abs(math.atan2(y - cy, x - cx)) <= half_angle:
            return abs(math.hypot(x - cx, y - cy) - r) - width / 2
        return min(math.hypot(x - ex, y - ey) for ex, ey in ends) - width / 2

    return field


def union(*fields: Field) -> Field:
    return lambda x, y: min(f(x, y) for f in fields)


def smooth_union(a: Field, b: Field, k: float) -> Field:
    """Union that rounds the seam between a and b over a width of about k."""

    def field(x: float, y: float) -> float:
        da, db = a(x, y), b(x, y)
        h = max(k - abs(da - db), 0.0) / k
        return min(da, db) - h * h * k / 4

    return field


def intersect(*fields: Field) -> Field:
    return lambda x, y: max(f(x, y) for f in fields)


def subtract(base: Field, cut: Field) -> Field:
    return lambda x, y: max(base(x, y), -cut(x, y))


def placed(field: Field, scale: float, shift: float) -> Field:
    """Scale the drawing about the centre, then move it right by shift."""
    return lambda x, y: field((x - 0.5 - shift) / scale + 0.5, (y - 0.5) / scale + 0.5) * scale


def fish_with_waves() -> Field:
    """The white foreground: fish body, forked tail, eye hole, gill cut, three waves."""
    cx, cy, half_w, half_h = 0.40, 0.50, 0.195, 0.155
    r = (half_w**2 + half_h**2) / (2 * half_h)  # circles through both tips of the lens
    body = intersect(circle(cx, cy + r - half_h, r), circle(cx, cy - r + half_h, r))
    nose_x, nose_r = cx + 0.075, 0.122
    nose = circle(nose_x, cy, nose_r)  # rounds the head past the lens tip
    tail = subtract(polygon((0.11, 0.335), (0.265, 0.50), (0.11, 0.665)), circle(0.02, 0.50, 0.125))
    waves = [arc(nose_x + nose_r - 0.02, cy, 0.085 + 0.075 * i, 0.62, 0.042) for i in range(3)]
    fish = union(smooth_union(body, nose, 0.06), tail)
    fish = subtract(fish, circle(0.505, 0.455, 0.027))  # eye
    fish = subtract(fish, arc(0.30, cy, 0.115, 0.78, 0.026))  # gill line
    return placed(union(fish, *waves), scale=1.12, shift=0.035)


def coverage(field: Field, x: float, y: float, pixel: float) -> float:
    """Fraction of the pixel centred on (x, y) that is inside the field."""
    d = field(x, y)
    if d <= -pixel:
        return 1.0
    if d >= pixel:
        return 0.0
    offsets = [(i - (SUBSAMPLES - 1) / 2) * pixel / SUBSAMPLES for i in range(SUBSAMPLES)]
    inside = sum(field(x + dx, y + dy) <= 0 for dx in offsets for dy in offsets)
    return inside / SUBSAMPLES**2


def render(size: int) -> bytes:
    """Return raw PNG scanlines (filter byte 0 + RGBA) for a size x size icon."""
    background, foreground = rounded_square(0.02, 0.20), fish_with_waves()
    pixel = 1.0 / size
    rows = bytearray()
    for py in range(size):
        rows.append(0)
        y = (py + 0.5) * pixel
        for px in range(size):
            x = (px + 0.5) * pixel
            alpha = coverage(background, x, y, pixel)
            if alpha == 0.0:
                rows.extend(b"\0\0\0\0")
                continue
            t = (x + y) / 2
            white = coverage(foreground, x, y, pixel)
            for a, b in zip(TOP_LEFT, BOTTOM_RIGHT, strict=True):
                rows.append(round((a + (b - a) * t) * (1 - white) + 255 * white))
            rows.append(round(255 * alpha))
    return bytes(rows)


def png(size: int, scanlines: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    parts = [(b"IHDR", header), (b"IDAT", zlib.compress(scanlines, 9)), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunk(kind, data) for kind, data in parts)


def main() -> None:
    BRAND.mkdir(parents=True, exist_ok=True)
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        (BRAND / name).write_bytes(png(size, render(size)))
        print(f"wrote {BRAND / name} ({size}x{size})")


if __name__ == "__main__":
    main()
