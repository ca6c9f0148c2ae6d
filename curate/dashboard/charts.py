"""Small inline-SVG charts (line charts with axes, ticks and a legend): crisp at any zoom, a few
KB each, no network and no plotting library at render time."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777",
           "#4b5563", "#65a30d", "#9333ea"]


@dataclass
class Series:
    """One line: `label`, x values and y values (None where missing)."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10000:
        return f"{v / 1000:g}k"
    if a >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def line_chart(series: Sequence[Series], *, title: str = "", x_label: str = "",
               y_label: str = "", width: int = 520, height: int = 260,
               y_format: Callable[[float], str] = _fmt, y_zero: bool = False,
               log_y: bool = False, y_span: float = 0.0) -> Markup:
    """An SVG line chart of `series` (markers when a series has under 40 points); the y axis
    spans at least `y_span` (e.g. 10 points of accuracy when every score is 0)."""
    pts = [(x, y) for s in series for x, y in zip(s.xs, s.ys) if y is not None and x is not None]
    if not pts:
        return Markup('<p class="muted">no points to draw</p>')
    mr, mt, mb = 14, 28 if title else 12, 42
    legend_rows = math.ceil(len(series) / 3) if len(series) > 1 else 0
    mb += 16 * legend_rows
    ph = height - mt - mb
    xs = [p[0] for p in pts]
    tf = (lambda v: math.log10(max(v, 1e-12))) if log_y else (lambda v: v)
    ys = [tf(p[1]) for p in pts]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = min(ys), max(ys)
    if y_zero and not log_y:
        y0 = min(0.0, y0)
    if y1 - y0 < y_span:
        y1 = y0 + y_span
    yt = nice_ticks(y0, y1)
    xt = nice_ticks(x0, x1, 6)
    y0, y1 = yt[0], yt[-1]
    labels = [y_format(10 ** t) if log_y else y_format(t) for t in yt]
    ml = 30 + 7 * max(len(lab) for lab in labels)     # room for the widest tick label
    pw = width - ml - mr
    x0, x1 = min(x0, xt[0]), max(x1, xt[-1])

    def X(v: float) -> float:
        return ml + (v - x0) / (x1 - x0) * pw

    def Y(v: float) -> float:
        return mt + ph - (tf(v) - y0) / ((y1 - y0) or 1) * ph

    def Yt(t: float) -> float:
        return mt + ph - (t - y0) / ((y1 - y0) or 1) * ph

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title or y_label)}">']
    if title:
        out.append(f'<text x="{ml}" y="16" class="ct">{escape(title)}</text>')
    for t, lab in zip(yt, labels):
        y = Yt(t)
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{ml - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                   f'{escape(lab)}</text>')
    for t in xt:
        if t < x0 or t > x1:
            continue
        x = X(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" '
                   f'class="axis"/><text x="{x:.1f}" y="{mt + ph + 16}" class="tick" '
                   f'text-anchor="middle">{escape(_fmt(t))}</text>')
    out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" class="axis"/>'
               f'<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + ph}" class="axis"/>')
    if x_label:
        out.append(f'<text x="{ml + pw / 2:.1f}" y="{mt + ph + 32}" class="lab" '
                   f'text-anchor="middle">{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text transform="translate(14 {mt + ph / 2:.1f}) rotate(-90)" class="lab" '
                   f'text-anchor="middle">{escape(y_label)}</text>')
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        seg = [(X(x), Y(y)) for x, y in zip(s.xs, s.ys) if y is not None and x is not None]
        if not seg:
            continue
        d = " ".join(f"{'M' if j == 0 else 'L'}{x:.1f},{y:.1f}" for j, (x, y) in enumerate(seg))
        out.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(seg) < 40:
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
                       for x, y in seg)
    if legend_rows:
        for i, s in enumerate(series):
            lx = ml + (i % 3) * (pw / 3)
            ly = mt + ph + 34 + 16 * (i // 3) + (14 if x_label else 0) - 12
            colour = PALETTE[i % len(PALETTE)]
            label = s.label if len(s.label) <= 34 else s.label[:33] + "…"
            out.append(f'<rect x="{lx:.1f}" y="{ly:.1f}" width="10" height="10" '
                       f'fill="{colour}"/><text x="{lx + 14:.1f}" y="{ly + 9:.1f}" '
                       f'class="tick">{escape(label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def bars(items: Sequence[tuple[str, float]], *, width: int = 420, bar_h: int = 16,
         value_format: Callable[[float], str] = _fmt, colour: str = "#2563eb") -> Markup:
    """Horizontal bars of (label, value), largest first as given (e.g. drops by reason)."""
    if not items:
        return Markup("")
    vmax = max(v for _, v in items) or 1
    lw, vw = 170, 70
    h = bar_h * len(items) + 6 * (len(items) - 1)
    out = [f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{h}" viewBox="0 0 {width} {h}">']
    for i, (label, v) in enumerate(items):
        y = i * (bar_h + 6)
        w = max(1.0, (width - lw - vw) * v / vmax)
        lab = label if len(label) <= 26 else label[:25] + "…"
        out.append(f'<text x="{lw - 6}" y="{y + bar_h - 4}" class="tick" text-anchor="end">'
                   f'{escape(lab)}</text><rect x="{lw}" y="{y}" width="{w:.1f}" '
                   f'height="{bar_h}" fill="{colour}" rx="2"/><text x="{lw + w + 5:.1f}" '
                   f'y="{y + bar_h - 4}" class="tick">{escape(value_format(v))}</text>')
    out.append("</svg>")
    return Markup("".join(out))
