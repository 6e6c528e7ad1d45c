"""Draw the figures of ``scale.py --json`` as one self-contained SVG (no plotting library).

Three panels against the number of packets (log scale): µs per packet of the
first run, of the cached re-run, and peak resident memory. One line per store
and observer setting. The page docs/performance.md shows the result.

    uv run python benchmarks/scale.py --sizes 100000,1000000,10000000 --observers both \\
        --json figures.json
    uv run python benchmarks/scale_plot.py figures.json -o docs/images/scale.svg
"""

from __future__ import annotations

import argparse
import json
import math
from html import escape
from pathlib import Path
from typing import Any

PANELS = (
    ("first_us", "first run, µs per packet"),
    ("cached_us", "cached re-run, µs per packet"),
    ("peak_mb", "peak resident memory, MB"),
)
COLOURS = {"memory": "#7a7a7a", "delta": "#1f6fb2", "sqlite": "#2e8b57", "postgres": "#b8562b"}
WIDTH, HEIGHT = 300, 220
MARGIN = {"left": 48, "right": 12, "top": 28, "bottom": 36}


def _lines(rows: list[dict[str, Any]]) -> dict[tuple[str, bool], list[dict[str, Any]]]:
    lines: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for row in rows:
        lines.setdefault((row["store"], bool(row["observers"])), []).append(row)
    for points in lines.values():
        points.sort(key=lambda row: row["packets"])
    return lines


def _ticks(top: float) -> list[float]:
    """Round values from 0 to at least ``top`` for a y axis (about 4 of them)."""
    raw = top / 4 if top > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(math.ceil(top / step) + 1)]


def _panel(rows: list[dict[str, Any]], key: str, title: str, x0: float) -> list[str]:
    lines = _lines(rows)
    sizes = sorted({row["packets"] for row in rows})
    low, high = math.log10(sizes[0]), math.log10(sizes[-1])
    span = (high - low) or 1.0
    ticks = _ticks(max(row[key] for row in rows))
    top = ticks[-1] or 1.0
    inner_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    inner_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]

    def x(packets: int) -> float:
        offset = (math.log10(packets) - low) / span * inner_w if high > low else inner_w / 2
        return x0 + MARGIN["left"] + offset

    def y(value: float) -> float:
        return MARGIN["top"] + inner_h * (1 - value / top)

    out = [
        f'<text x="{x0 + WIDTH / 2:.1f}" y="16" text-anchor="middle" '
        f'font-weight="bold">{escape(title)}</text>'
    ]
    for tick in ticks:
        out.append(
            f'<line x1="{x0 + MARGIN["left"]}" x2="{x0 + WIDTH - MARGIN["right"]}" '
            f'y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e3e3e3"/>'
            f'<text x="{x0 + MARGIN["left"] - 4}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick:g}</text>'
        )
    for packets in sizes:
        label = f"{packets / 1e6:g}M" if packets >= 1_000_000 else f"{packets / 1e3:g}k"
        out.append(
            f'<text x="{x(packets):.1f}" y="{HEIGHT - MARGIN["bottom"] + 16}" '
            f'text-anchor="middle">{label}</text>'
        )
    for (store, observers), points in sorted(lines.items()):
        colour = COLOURS.get(store, "#000000")
        dash = ' stroke-dasharray="5 3"' if observers else ""
        path = " ".join(f"{x(p['packets']):.1f},{y(p[key]):.1f}" for p in points)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out += [
            f'<circle cx="{x(p["packets"]):.1f}" cy="{y(p[key]):.1f}" r="3" fill="{colour}"/>'
            for p in points
        ]
    return out


def svg(rows: list[dict[str, Any]]) -> str:
    """The SVG text of the three panels and a legend."""
    if not rows:
        raise SystemExit("no figures to draw")
    body: list[str] = []
    for number, (key, title) in enumerate(PANELS):
        body += _panel(rows, key, title, number * WIDTH)
    legend_y = HEIGHT + 8
    x = MARGIN["left"]
    for store, observers in sorted(_lines(rows)):
        colour = COLOURS.get(store, "#000000")
        dash = ' stroke-dasharray="5 3"' if observers else ""
        name = f"{store}{' + observers' if observers else ''}"
        body.append(
            f'<line x1="{x}" x2="{x + 24}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" '
            f'stroke-width="2"{dash}/><text x="{x + 28}" y="{legend_y + 4}">{escape(name)}</text>'
        )
        x += 40 + 7 * len(name)
    total_w, total_h = WIDTH * len(PANELS), HEIGHT + 24
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="11">'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", type=Path, help="a file written by scale.py --json")
    parser.add_argument("-o", "--output", type=Path, default=Path("scale.svg"))
    args = parser.parse_args()
    rows = json.loads(args.figures.read_text())
    args.output.write_text(svg(rows))
    print(f"wrote {args.output} ({len(rows)} measurements)")


if __name__ == "__main__":
    main()
