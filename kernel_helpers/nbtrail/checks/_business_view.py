"""How a ``business_value`` result draws: value per decision against the threshold."""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd

from ._render import escape, metrics_table, register_renderer, svg_image

__all__ = ["value_svg"]


def _g(value: float) -> str:
    return f"{value + 0.0:.4g}"  # no "-0"


def value_svg(result) -> str:
    """Value per decision against threshold: a line, the current and optimal thresholds marked."""
    d, m = result.details, result.metrics
    if not len(d) or "value_per_decision" not in d.columns:
        return ""
    x = pd.to_numeric(d["threshold"], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(d["value_per_decision"], errors="coerce").to_numpy(dtype=float)
    base = m.get("baseline_value")
    lows = [*y, base] if isinstance(base, Real) else list(y)
    lo, hi = float(np.nanmin(lows)), float(np.nanmax(lows))
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    w, h, left, right, top, bottom = 460, 230, 58, 12, 22, 34

    def px(t):
        return left + min(max(t, 0.0), 1.0) * (w - left - right)

    def py(val):
        return top + (hi - val) / (hi - lo) * (h - top - bottom)

    points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, y, strict=True) if b == b)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
        "font-family='sans-serif' font-size='11'>",
        f"<rect x='{left}' y='{top}' width='{w - left - right}' height='{h - top - bottom}' "
        "fill='none' stroke='#dadce0'/>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f"<text x='{px(tick):.1f}' y='{h - bottom + 14}' text-anchor='middle'>{tick:g}</text>"
        )
    for val in (lo + pad, hi - pad):
        parts.append(
            f"<text x='{left - 4}' y='{py(val) + 4:.1f}' text-anchor='end'>{_g(val)}</text>"
        )
    parts.append(
        f"<text x='{(w + left) / 2:.0f}' y='{h - 4}' text-anchor='middle'>threshold</text>"
    )
    if isinstance(base, Real):
        parts.append(
            f"<line x1='{left}' x2='{w - right}' y1='{py(base):.1f}' y2='{py(base):.1f}' "
            "stroke='#9aa0a6' stroke-dasharray='4 3'/>"
            f"<text x='{w - right - 2}' y='{py(base) - 3:.1f}' text-anchor='end' "
            f"fill='#5f6368'>baseline {_g(base)}</text>"
        )
    parts.append(f"<polyline points='{points}' fill='none' stroke='#1a73e8' stroke-width='2'/>")
    for key, color, label, dy in (
        ("threshold", "#d93025", "current", 12),
        ("optimal_threshold", "#1e8e3e", "optimal", 24),
    ):
        t = m.get(key)
        if isinstance(t, Real):
            parts.append(
                f"<line x1='{px(t):.1f}' x2='{px(t):.1f}' y1='{top}' y2='{h - bottom}' "
                f"stroke='{color}' stroke-width='1.5'/><text x='{px(t) + 3:.1f}' "
                f"y='{top + dy - 14}' fill='{color}'>{label} {_g(t)}</text>"
            )
    parts.append("</svg>")
    return svg_image("".join(parts), alt="value per decision by threshold")


def _body(result) -> str:
    return (
        "<div class='muted'>value per decision by threshold</div>"
        + value_svg(result)
        + metrics_table(result.metrics or {}, result.thresholds or {})
        + (f"<p class='muted'>{escape(len(result.details))} thresholds in the trail</p>")
    )


register_renderer("business_value", body=_body, filters=("marker",), measure=())
