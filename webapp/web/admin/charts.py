"""Bar geometry for the dashboard's inline SVG charts (no scripts, no chart library)."""

from __future__ import annotations

CHART_WIDTH = 600
CHART_HEIGHT = 160


def bar_chart(
    values: list[int], *, top: int | None = None, width: int = CHART_WIDTH, height: int = CHART_HEIGHT
) -> dict:
    """Bar geometry for an inline SVG chart and the y of its zero axis.

    Negative values (net refunds) hang below the axis. `top` (default: the largest value)
    sets the scale, so a second series can be drawn on the first one's.
    """
    if top is None:
        top = max([v for v in values if v > 0] or [0])
    bottom = min([v for v in values if v < 0] or [0])
    span = (top - bottom) or 1
    axis = height * top / span
    step = width / max(len(values), 1)
    bars = []
    for i, value in enumerate(values):
        h = abs(value) * height / span
        y = axis - h if value >= 0 else axis
        bars.append(
            {
                "x": round(i * step + 1, 2),
                "y": round(y, 2),
                "w": round(max(step - 2, 1), 2),
                "h": round(h, 2),
                "value": value,
                "negative": value < 0,
            }
        )
    return {"bars": bars, "axis": round(axis, 2)}
