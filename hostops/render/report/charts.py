"""The report's charts as inline SVG: the timeline (a bar per host from start to end,
batches as shaded bands, failures marked) and the duration histogram.

Colours come from the page's one style sheet (classes ``st-STATUS``): no style
attribute anywhere, so the page's Content-Security-Policy can forbid them. Every text
goes through :mod:`hostops.render.report.markup`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hostops.render.report.facts import Bar, Bin
from hostops.render.report.markup import seconds, text

WIDTH = 1000  # user units of the plot area (the SVG scales to the page's width)
_LABELS = 60  # up to this many rows: host names on the left
_LEFT = 170  # room for them
_AXIS = 32  # room above the rows: tick labels, then step numbers
_BATCH = "batch "  # a step whose text starts so is a rollout batch (fleet/rollout.py)
STEP_LABELS = 40  # steps listed under the timeline (the rest: in their tooltips)


def ticks(top: float, count: int = 8) -> list[float]:
    """Round values from 0 to at least ``top``, about ``count`` of them."""
    if top <= 0:
        return [0.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(top / step) + 2) if i * step <= top * 1.0001 + step]


def _x(value: float, top: float, left: int) -> float:
    return round(left + value / top * WIDTH, 1)


def timeline(bars: Sequence[Bar], steps: Sequence[tuple[float, str]], duration: float) -> str:
    """The timeline's ``<svg>``: x is seconds since the run began, a row per bar."""
    end = max([duration, *(b.timing.finished for b in bars), *(t for t, _ in steps)])
    top = max(ticks(end)[-1], 0.001)
    labels = len(bars) <= _LABELS
    left = _LEFT if labels else 0
    row = 14 if len(bars) <= _LABELS else 5 if len(bars) <= 300 else 3
    height = _AXIS + row * len(bars) + 4
    out = [
        f'<svg class="chart" viewBox="0 0 {left + WIDTH + 10} {height}"'
        f' role="img" aria-label="timeline">'
    ]
    batches = [(t, s) for t, s in steps if s.startswith(_BATCH)]
    for i, (at, what) in enumerate(batches):
        upto = batches[i + 1][0] if i + 1 < len(batches) else top
        x0, x1 = _x(at, top, left), _x(upto, top, left)
        out.append(
            f'<rect class="band{i % 2}" x="{x0}" y="{_AXIS}" width="{max(x1 - x0, 0.5)}"'
            f' height="{row * len(bars)}"><title>{text(what)}</title></rect>'
        )
    out += _axis(top, left, height, "s")
    for number, (at, what) in enumerate(steps, 1):
        x = _x(at, top, left)
        out.append(
            f'<line class="step" x1="{x}" x2="{x}" y1="{_AXIS - 6}" y2="{height}">'
            f"<title>{text(f'step {number} at {seconds(at)}: {what}')}</title></line>"
        )
        if len(steps) <= STEP_LABELS:
            out.append(f'<text class="sn" x="{x + 2}" y="{_AXIS - 3}">{number}</text>')
    for i, bar in enumerate(bars):
        out.append(_bar(bar, _AXIS + i * row, row, top, left, labels))
    out.append("</svg>")
    return "".join(out)


def _axis(top: float, left: int, height: int, unit: str) -> list[str]:
    out = []
    for value in ticks(top):
        x = _x(value, top, left)
        out.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{_AXIS - 4}" y2="{height}"/>')
        out.append(f'<text class="tick" x="{x}" y="12">{value:g} {unit}</text>')
    return out


def _bar(bar: Bar, y: int, row: int, top: float, left: int, labels: bool) -> str:
    t = bar.timing
    x0, x1 = _x(t.started, top, left), _x(t.finished, top, left)
    h = max(row - 1, 1)
    tip = [bar.label if bar.count == 1 else f"{bar.label} ({bar.count} hosts)"]
    if bar.count == 1:
        tip.append(f"{bar.status.value}: {seconds(t.started)} to {seconds(t.finished)}")
        if t.connected is not None:
            tip.append(f"connected after {seconds(t.connected - t.started)}")
    else:
        tip.append(f"first start {seconds(t.started)}, last end {seconds(t.finished)}")
        if bar.median is not None:
            tip.append(f"median start {seconds(bar.median[0])}, end {seconds(bar.median[1])}")
        tip.append(f"{bar.failed} failed")
    parts = [f'<g class="bar"><title>{text(chr(10).join(tip))}</title>']
    kind = "st-" + bar.status.value
    if bar.count == 1:
        connected = t.started if t.connected is None else t.connected
        xc = _x(connected, top, left)
        if xc > x0:  # connecting: the lighter part
            parts.append(
                f'<rect class="{kind} cn" x="{x0}" y="{y}" width="{xc - x0}" height="{h}"/>'
            )
        parts.append(
            f'<rect class="{kind}" x="{xc}" y="{y}" width="{max(x1 - xc, 1)}" height="{h}"/>'
        )
    else:
        parts.append(
            f'<rect class="{kind} cn" x="{x0}" y="{y}" width="{max(x1 - x0, 1)}" height="{h}"/>'
        )
        if bar.median is not None:
            m0, m1 = _x(bar.median[0], top, left), _x(bar.median[1], top, left)
            parts.append(
                f'<rect class="{kind}" x="{m0}" y="{y}" width="{max(m1 - m0, 1)}" height="{h}"/>'
            )
    if bar.failed:  # a failure marked at the end of its bar, whatever the colours
        parts.append(f'<path class="fail" d="M{x1 + 1} {y}l{h} {h / 2:g}l-{h} {h / 2:g}z"/>')
    if labels:
        parts.append(f'<text class="hn" x="{left - 6}" y="{y + h - 2}">{text(bar.label)}</text>')
    parts.append("</g>")
    return "".join(parts)


def histogram(bins: Sequence[Bin]) -> str:
    """The duration histogram's ``<svg>``: a stacked bar per bin, ok below, failed on top."""
    if not bins:
        return ""
    marks = ticks(max(b.ok + b.failed for b in bins), 4)
    plot, left = 160, 40
    scale = plot / max(marks[-1], 1)
    base = _AXIS + plot
    step = WIDTH / len(bins)
    out = [
        f'<svg class="chart" viewBox="0 0 {left + WIDTH + 40} {base + 18}"'
        f' role="img" aria-label="duration histogram">'
    ]
    for value in marks:
        y = round(base - value * scale, 1)
        out.append(f'<line class="grid" x1="{left}" x2="{left + WIDTH}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="tick end" x="{left - 4}" y="{y + 4}">{value:g}</text>')
    for i, b in enumerate(bins):
        x, w, y = round(left + i * step + 1, 1), round(step - 2, 1), float(base)
        tip = f"{seconds(b.low)} to {seconds(b.high)}: {b.ok + b.failed} hosts"
        tip += f" ({b.failed} failed)" if b.failed else ""
        out.append(f"<g><title>{text(tip)}</title>")
        for count, kind in ((b.ok, "st-ok"), (b.failed, "st-failed")):
            if count:
                h = round(count * scale, 1)
                y -= h
                out.append(
                    f'<rect class="{kind}" x="{x}" y="{round(y, 1)}" width="{w}" height="{h}"/>'
                )
        out.append("</g>")
    for i in range(0, len(bins) + 1, max(1, len(bins) // 6)):
        edge = bins[i].low if i < len(bins) else bins[-1].high
        x = round(left + i * step, 1)
        out.append(f'<text class="tick" x="{x}" y="{base + 14}">{seconds(edge)}</text>')
    out.append("</svg>")
    return "".join(out)
