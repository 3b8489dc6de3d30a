"""The reveal's bars: one scale for both sides, ranges drawn, nothing drawn for a side
without a figure, and words a screen reader reads."""

from arena.picture import LEFT, RIGHT, WIDTH, bars_svg


def test_it_draws_both_sides_on_one_scale_with_their_ranges():
    svg = bars_svg(
        "Énergie",
        [
            {"label": "A", "value": 2.0, "min": 1.5, "max": 4.0, "text": "2 Wh"},
            {"label": "B", "value": 1.0, "min": 0.8, "max": 1.2, "text": "1 Wh"},
        ],
        "A : 2 Wh ; B : 1 Wh",
    )
    span = WIDTH - LEFT - RIGHT
    assert f'width="{2.0 / 4.0 * span:.1f}"' in svg and f'width="{1.0 / 4.0 * span:.1f}"' in svg
    assert svg.count('class="range-line"') == 2
    assert "<title" in svg and "<desc" in svg and 'role="img"' in svg and "A : 2 Wh ; B : 1 Wh" in svg


def test_a_side_without_a_figure_is_not_drawn_as_zero():
    svg = bars_svg(
        "Énergie",
        [
            {"label": "A", "value": None, "min": None, "max": None, "text": "non mesurée"},
            {"label": "B", "value": 1.0, "min": 1.0, "max": 1.0, "text": "1 Wh"},
        ],
        "A : non mesurée ; B : 1 Wh",
    )
    assert svg.count("<rect") == 1 and "range-line" not in svg


def test_it_escapes_what_it_writes():
    svg = bars_svg("<b>", [{"label": "<A>", "value": 1.0, "min": 1, "max": 1, "text": "&"}], "<x>")
    assert "<b>" not in svg and "<A>" not in svg and "&amp;" in svg
