"""Draws the Teams app icons: `color.png` (192×192) and `outline.png` (32×32, white on
transparent), as the app package needs them.

Pure Python (zlib and struct), no imaging library, and deterministic: the same bytes on every
run, so `tests/test_teams_package.py` can check that the committed icons are what this draws.
Run `python deploy/teams/icons.py` after changing the drawing.

The motif is a radar: two rings, a sweep and a centre dot, white on Rut Radar's blue in the
colour icon, white alone in the outline icon. Edges are anti-aliased by sampling each pixel
4×4 times; the outline icon stays pure white, only its alpha varies.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLUE = (0x1E, 0x3A, 0x8A)  # the accent colour (manifest accentColor, Slack background_color)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # per axis

Shape = Callable[[float, float], bool]
Pixel = tuple[int, int, int, int]


def ring(cx: float, cy: float, inner: float, outer: float) -> Shape:
    return lambda x, y: inner <= math.hypot(x - cx, y - cy) <= outer


def disc(cx: float, cy: float, radius: float) -> Shape:
    return lambda x, y: math.hypot(x - cx, y - cy) <= radius


def segment(x0: float, y0: float, x1: float, y1: float, width: float) -> Shape:
    """A straight stroke with round ends."""
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy

    def inside(x: float, y: float) -> bool:
        t = max(0.0, min(1.0, ((x - x0) * dx + (y - y0) * dy) / length2))
        return math.hypot(x - (x0 + t * dx), y - (y0 + t * dy)) <= width / 2

    return inside


def radar(size: int, radius: float, *, blip: bool = True) -> list[Shape]:
    """The motif centred in a square of `size` pixels, its outer ring `radius` pixels out;
    the blip between the rings is left out where it would blur into them (32 px)."""
    s = radius / 14.6
    c = size / 2
    sweep, at = math.radians(-45), math.radians(-125)
    shapes = [
        ring(c, c, 12.2 * s, 14.6 * s),
        ring(c, c, 6.6 * s, 8.8 * s),
        disc(c, c, 2.6 * s),
        segment(c, c, c + 13.4 * s * math.cos(sweep), c + 13.4 * s * math.sin(sweep), 2.2 * s),
    ]
    if blip:
        shapes.append(disc(c + 10.5 * s * math.cos(at), c + 10.5 * s * math.sin(at), 1.6 * s))
    return shapes


def coverage(shapes: Sequence[Shape], px: int, py: int) -> float:
    """The share of the pixel's sample points inside any shape."""
    hits = 0
    for i in range(SAMPLES):
        for j in range(SAMPLES):
            x = px + (i + 0.5) / SAMPLES
            y = py + (j + 0.5) / SAMPLES
            if any(shape(x, y) for shape in shapes):
                hits += 1
    return hits / (SAMPLES * SAMPLES)


def draw(size: int, radius: float, background: tuple[int, int, int] | None) -> list[list[Pixel]]:
    """White radar over `background` (opaque), or over nothing (white, alpha = coverage)."""
    shapes = radar(size, radius, blip=background is not None)
    rows = []
    for py in range(size):
        row: list[Pixel] = []
        for px in range(size):
            cover = coverage(shapes, px, py)
            if background is None:
                row.append((*WHITE, round(255 * cover)))
            else:
                mixed = tuple(
                    round(b + (w - b) * cover) for b, w in zip(background, WHITE, strict=True)
                )
                row.append((mixed[0], mixed[1], mixed[2], 255))
        rows.append(row)
    return rows


def png(rows: Sequence[Sequence[Pixel]]) -> bytes:
    """An 8-bit RGBA PNG, every scanline unfiltered."""
    height, width = len(rows), len(rows[0])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(value for pixel in row for value in pixel) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def color_icon() -> bytes:
    """192×192 on blue, the motif inside the middle two thirds as Teams' guidelines ask."""
    return png(draw(192, 62, BLUE))


def outline_icon() -> bytes:
    """32×32 white on transparent, the motif filling the square."""
    return png(draw(32, 14.6, None))


def main(argv: Sequence[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else HERE
    (out / "color.png").write_bytes(color_icon())
    (out / "outline.png").write_bytes(outline_icon())
    print(f"Wrote {out / 'color.png'} and {out / 'outline.png'}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
