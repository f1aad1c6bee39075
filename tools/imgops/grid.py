"""CloudWatch's dashboard grid: 24 columns, rows of fixed height, widgets at (x, y, width, height).

Widgets without `x`/`y` are placed the way the console does it: left to right after the previous
widget, wrapping to below the lowest widget of the row when the next one does not fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GRID_COLUMNS = 24
DEFAULT_WIDTH = 6
DEFAULT_HEIGHT = 6


@dataclass(frozen=True)
class Placement:
    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


def place_widgets(widgets: Iterable[Mapping[str, Any]]) -> list[Placement]:
    placements: list[Placement] = []
    cursor_x, row_top, row_bottom = 0, 0, 0
    for widget in widgets:
        width = min(max(int(widget.get("width", DEFAULT_WIDTH)), 1), GRID_COLUMNS)
        height = max(int(widget.get("height", DEFAULT_HEIGHT)), 1)
        if "x" in widget and "y" in widget:
            x = min(max(int(widget["x"]), 0), GRID_COLUMNS - width)
            placement = Placement(x, max(int(widget["y"]), 0), width, height)
        else:
            if cursor_x + width > GRID_COLUMNS:
                cursor_x, row_top = 0, row_bottom
            placement = Placement(cursor_x, row_top, width, height)
        placements.append(placement)
        cursor_x, row_top = placement.right, placement.y
        row_bottom = max(row_bottom, placement.bottom)
    return placements


def grid_rows(placements: Iterable[Placement]) -> int:
    return max((placement.bottom for placement in placements), default=0)


def figure_rect(
    placement: Placement, total_rows: int, pad: float = 0.0
) -> tuple[float, float, float, float]:
    """(left, bottom, width, height) in figure fractions, matplotlib's origin being bottom-left.

    `pad` is in grid units and is taken off every side, so neighbouring panels never touch.
    """
    column = 1 / GRID_COLUMNS
    row = 1 / total_rows
    left = (placement.x + pad) * column
    bottom = 1 - (placement.bottom - pad) * row
    return left, bottom, (placement.width - 2 * pad) * column, (placement.height - 2 * pad) * row
