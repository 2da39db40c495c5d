"""Charts for PDFs, drawn by our code as SVG shapes (reports/pdf/_chart.html).

WeasyPrint draws inline SVG itself, so a chart needs no image library, no
JavaScript and no file: a list of rectangles and labels in the page.
"""

from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 520, 170
# Room for the value axis, the day labels, and half a label past the last bar.
LEFT, RIGHT, BOTTOM, TOP = 46, 18, 22, 8
MAX_LABELS = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Tick:
    position: float  # x for a label under the bars, y for a value line.
    text: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    right: int  # Where the plot ends.
    baseline: float
    bars: list[Bar]
    labels: list[Tick]
    gridlines: list[Tick]


def bar_chart(points: list[tuple[str, Decimal]]) -> BarChart:
    """Bars for (label, value) points, left to right, scaled to the largest;
    at most MAX_LABELS labels under them, so they never overlap."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    baseline = HEIGHT - BOTTOM
    top_value = _round_up(max((value for _, value in points), default=Decimal(0)))
    slot = plot_width / max(len(points), 1)
    bars, labels = [], []
    every = max(1, -(-len(points) // MAX_LABELS))  # Ceiling division.
    for index, (label, value) in enumerate(points):
        height = float(value / top_value) * plot_height if top_value else 0
        x = LEFT + index * slot
        bars.append(
            Bar(
                x=round(x + slot * 0.1, 2),
                y=round(baseline - height, 2),
                width=round(slot * 0.8, 2),
                height=round(height, 2),
                title=f"{label}: {value:,.2f}",
            )
        )
        if index % every == 0:
            labels.append(Tick(position=round(x + slot / 2, 2), text=label))
    gridlines = [
        Tick(
            position=round(baseline - plot_height * step / 4, 2),
            text=f"{top_value * step / 4:,.0f}",
        )
        for step in range(5)
    ]
    return BarChart(
        WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, baseline, bars, labels, gridlines
    )


def _round_up(value: Decimal) -> Decimal:
    """A round top for the axis: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return Decimal(0)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude
