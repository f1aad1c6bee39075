from __future__ import annotations

import pytest

from tools.imgops.grid import Placement, figure_rect, grid_rows, place_widgets


def test_explicit_positions_are_kept_and_clamped_to_the_grid() -> None:
    widgets = [
        {"x": 0, "y": 0, "width": 24, "height": 2},
        {"x": 12, "y": 2, "width": 12, "height": 6},
        {"x": 20, "y": 8, "width": 8, "height": 3},  # would overflow column 24
        {"x": 0, "y": 8, "width": 40},  # wider than the grid, default height
    ]
    assert place_widgets(widgets) == [
        Placement(0, 0, 24, 2),
        Placement(12, 2, 12, 6),
        Placement(16, 8, 8, 3),
        Placement(0, 8, 24, 6),
    ]


def test_widgets_without_position_flow_left_to_right_and_wrap_below_the_row() -> None:
    widgets = [{"width": 12, "height": 4}, {"width": 8, "height": 6}, {"width": 6}, {}]
    assert place_widgets(widgets) == [
        Placement(0, 0, 12, 4),
        Placement(12, 0, 8, 6),
        Placement(0, 6, 6, 6),  # 20 + 6 > 24: next row starts below the tallest widget
        Placement(6, 6, 6, 6),
    ]


def test_grid_rows_is_the_lowest_bottom_edge() -> None:
    assert grid_rows([Placement(0, 0, 6, 6), Placement(6, 3, 6, 9)]) == 12
    assert grid_rows([]) == 0


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        (Placement(0, 0, 24, 10), (0.0, 0.0, 1.0, 1.0)),
        (Placement(12, 0, 12, 5), (0.5, 0.5, 0.5, 0.5)),
        (Placement(0, 5, 6, 5), (0.0, 0.0, 0.25, 0.5)),
    ],
)
def test_figure_rect_flips_the_y_axis(
    placement: Placement, expected: tuple[float, float, float, float]
) -> None:
    assert figure_rect(placement, total_rows=10) == pytest.approx(expected)


def test_figure_rect_padding_shrinks_every_side() -> None:
    left, bottom, width, height = figure_rect(Placement(0, 0, 24, 10), 10, pad=1)
    assert (left, bottom) == pytest.approx((1 / 24, 0.1))
    assert (width, height) == pytest.approx((22 / 24, 0.8))
