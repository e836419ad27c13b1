"""The throughput chart as inline SVG, rendered on the server (no JavaScript charting library, no build step)."""

from __future__ import annotations

from html import escape

from sqsq.monitoring.throughput import Throughput

WIDTH, HEIGHT, PAD = 600, 160, 24


def _path(values: list[int], top: int) -> str:
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    points = [(PAD + i * step, HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top) for i, v in enumerate(values)]
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def throughput_svg(t: Throughput) -> str:
    """An SVG line chart: succeeded (green) and failed (red) per minute, the last hour left to right."""
    top = max([1, *t.succeeded, *t.failed])
    title = f"succeeded {sum(t.succeeded)}, failed {sum(t.failed)} in the last hour (max {top}/min)"
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
        f'<text x="{PAD}" y="14" font-size="11">{top}/min</text>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="11">-60 min</text>'
        f'<text x="{WIDTH - PAD - 24}" y="{HEIGHT - 6}" font-size="11">now</text>'
        f'<path d="{_path(t.succeeded, top)}" fill="none" stroke="#2a9d3f" stroke-width="2"/>'
        f'<path d="{_path(t.failed, top)}" fill="none" stroke="#d33" stroke-width="2"/>'
        "</svg>"
    )
