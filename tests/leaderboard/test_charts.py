"""leaderboard.charts.score_energy_svg: the leaderboard's score-against-energy chart."""

from __future__ import annotations

import re

from leaderboard.charts import score_energy_svg


def _row(name: str, rating: float, wh_per_1k: float | None, *, pareto: bool = False) -> dict:
    return {
        "name": name,
        "slug": name.lower(),
        "rating": rating,
        "lower": rating - 20,
        "upper": rating + 20,
        "wh_per_1k_tokens": wh_per_1k,
        "pareto": pareto,
    }


def _svg(rows: list[dict]) -> str:
    return score_energy_svg(rows, title="Score & énergie", x_label="Wh <log>", y_label="Score")


def _circles(svg: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.-]+)" cy="([\d.-]+)"', svg)]


def _polyline_points(svg: str) -> list[tuple[float, float]]:
    points = re.search(r'<polyline points="([^"]*)"', svg).group(1)
    return [tuple(float(v) for v in p.split(",")) for p in points.split()]


def test_it_draws_one_dot_per_model():
    svg = _svg(
        [
            _row("Albatros", 1200, 2.0, pareto=True),
            _row("Pivert", 1000, 0.4, pareto=True),
            _row("Mésange", 800, 0.15, pareto=True),
        ]
    )

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(_circles(svg)) == 3
    for name in ("Albatros", "Pivert", "Mésange"):
        assert f">{name}</text>" in svg


def test_it_escapes_model_names_and_labels():
    svg = _svg([_row('<script>alert("x")</script>', 1000, 1.0), _row("A & B", 900, 0.5)])

    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in svg
    assert "A &amp; B" in svg
    assert "Score &amp; énergie" in svg and "Wh &lt;log&gt;" in svg


def test_it_joins_only_the_pareto_models():
    on = [_row("Cheap", 900, 0.1, pareto=True), _row("Best", 1200, 10.0, pareto=True)]
    off = [_row("Dominated", 850, 5.0, pareto=False)]
    svg = _svg(on + off)

    assert svg.count("<polyline") == 1
    circles = dict(zip(["Cheap", "Best", "Dominated"], _circles(svg), strict=True))
    line = _polyline_points(svg)
    assert line == [circles["Cheap"], circles["Best"]]  # ordered by energy
    assert circles["Dominated"] not in line
    filled = re.findall(r'<circle [^>]*fill="([^"]+)"', svg)
    assert filled[2] == "#ffffff" and filled[0] == filled[1] != "#ffffff"


def test_it_draws_no_frontier_through_a_single_point():
    svg = _svg([_row("Only", 1000, 1.0, pareto=True), _row("Other", 900, 2.0)])
    assert "<polyline" not in svg


def test_it_skips_models_without_energy():
    svg = _svg(
        [
            _row("Measured", 1000, 1.0, pareto=True),
            _row("Unknown", 1100, None, pareto=True),
            _row("Zero", 1050, 0, pareto=True),
        ]
    )

    assert len(_circles(svg)) == 1
    assert "Measured" in svg
    assert "Unknown" not in svg and "Zero" not in svg


def test_it_returns_nothing_without_data():
    assert _svg([]) == ""
    assert _svg([_row("Unknown", 1000, None)]) == ""


def test_it_puts_preferred_models_higher_and_costlier_ones_to_the_right():
    svg = _svg([_row("Low", 800, 0.1), _row("High", 1200, 10.0)])
    (low_x, low_y), (high_x, high_y) = _circles(svg)
    assert high_y < low_y  # SVG y grows downwards
    assert high_x > low_x


def test_it_handles_models_with_equal_energy():
    svg = _svg([_row("One", 1000, 1.0), _row("Two", 1000, 1.0)])
    assert len(_circles(svg)) == 2
    assert "nan" not in svg and "inf" not in svg


def _path_numbers(svg: str, css_class: str) -> list[list[float]]:
    paths = re.findall(rf'<path d="([^"]+)"[^>]*class="{css_class}"', svg)
    return [[float(v) for v in re.findall(r"-?[\d.]+", d)] for d in paths]


def test_it_draws_each_score_interval_with_end_caps():
    svg = _svg([_row("Low", 800, 0.1), _row("High", 1200, 10.0)])

    intervals = _path_numbers(svg, "score-interval")
    assert len(intervals) == 2
    for (cx, cy), numbers in zip(_circles(svg), intervals, strict=True):
        x, low, high = numbers[0], numbers[1], numbers[2]
        assert x == cx and low > cy > high  # the dot sits inside its interval (SVG y grows downwards)
        assert numbers[3:] == [cx - 4, low, cx + 4, cx - 4, high, cx + 4]  # the two caps


def test_it_draws_the_energy_spread_across_and_keeps_it_in_the_frame():
    rows = [_row("Cheap", 900, 0.2), _row("Costly", 1100, 5.0)]
    rows[0].update(wh_per_1k_tokens_q1=0.05, wh_per_1k_tokens_q3=0.3)  # wider than the dots' range
    rows[1].update(wh_per_1k_tokens_q1=4.0, wh_per_1k_tokens_q3=20.0)
    svg = _svg(rows + [_row("No spread", 1000, 1.0)])

    spreads = _path_numbers(svg, "energy-spread")
    assert len(spreads) == 2  # the model without quartiles has none
    circles = _circles(svg)
    for (cx, cy), numbers in zip(circles, spreads, strict=False):
        left, y, right = numbers[0], numbers[1], numbers[2]
        assert left < cx < right and y == cy
        assert left >= 64 - 1e-6 and right <= 720 - 64 + 1e-6  # inside the plotting area


def _x_labels(svg: str) -> list[str]:
    return re.findall(r'<text x="[\d.]+" y="332" text-anchor="middle" font-size="11">([^<]+)</text>', svg)


def test_it_labels_the_energy_axis_even_over_less_than_a_power_of_ten():
    assert _x_labels(_svg([_row("A", 900, 0.01), _row("B", 1000, 10.0)])) == ["0.01", "0.1", "1", "10"]
    assert _x_labels(_svg([_row("A", 900, 0.0012), _row("B", 1000, 0.006)])) == ["0.002", "0.005"]
