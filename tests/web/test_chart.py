"""The chart of PSNR against file size: its geometry, its round ticks and its caption."""

import itertools
import math
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from web.chart import (
    WIDTH,
    human_bytes,
    nice_ticks,
    quality_size_chart,
    size_unit,
    trade_off,
)


def result(k, psnr, size, colours=None):
    return {"k": k, "psnr": psnr, "bytes": size, "distinct_colors": colours or k}


# The issue's example: sizes of 3.1, 18.2 and 33.3 KiB made ticks at those odd values.
ISSUE = [result(2, 21.0, 3174), result(4, 27.0, 18637), result(8, 29.5, 34099)]
# The article's cat at 2, 5, 10, 15, 24 colours: no steady fall of dB per byte.
ARTICLE = [result(2, 21.2, 7066), result(5, 26.3, 17408), result(10, 29.1, 26726),
           result(15, 30.7, 31334), result(24, 32.6, 37478)]  # fmt: skip


def is_round_step(step: float) -> bool:
    """1, 2 or 5 times a power of ten."""
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    return any(math.isclose(mantissa, m) for m in (1, 2, 5))


def assert_round_ticks(values: list[float], lo: float, hi: float) -> None:
    # Differences of large floats carry their rounding (4200000.6 - 4200000.4 = 0.199999999).
    steps = [b - a for a, b in itertools.pairwise(values)]
    step = float(f"{steps[0]:.3g}")  # 1, 2 or 5 times a power of ten, floats aside
    noise = 16 * math.ulp(max(abs(v) for v in values))  # of a difference of two such floats
    assert all(math.isclose(s, step, rel_tol=1e-6, abs_tol=noise) for s in steps), values
    assert is_round_step(step), f"step {step} of {values}"
    assert all(math.isclose(v / step, round(v / step), abs_tol=1e-6) for v in values)
    # A value within a billionth of a step of a tick is on it (nice_ticks rounds so): floats
    # such as 1.0000000000000002 are 1.0 to the chart.
    slack = 1e-9 * step
    assert values[0] <= lo + slack and values[-1] >= hi - slack and 2 <= len(values) <= 6


def test_psnr_is_drawn_against_bytes_one_point_per_k():
    chart = quality_size_chart(list(reversed(ISSUE)))
    assert [p.k for p in chart.points] == [2, 4, 8]
    xs, ys = [p.x for p in chart.points], [p.y for p in chart.points]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # bigger to the right, better up
    # The size axis starts at zero: twice the bytes, twice as far from it.
    zero = chart.x_ticks[0]
    assert zero.label == "0" and zero.at == chart.plot_left
    assert math.isclose((xs[2] - zero.at) / (xs[1] - zero.at), 34099 / 18637, rel_tol=1e-6)
    assert all(chart.plot_left <= x <= chart.plot_right for x in xs)
    assert all(chart.plot_top <= y <= chart.plot_bottom for y in ys)
    assert chart.polyline.count(",") == 3 and chart.width == WIDTH
    assert chart.description == (
        "k = 2: PSNR 21.0 dB, 3.1 KiB; k = 4: PSNR 27.0 dB, 18.2 KiB; k = 8: PSNR 29.5 dB, 33.3 KiB"
    )


def test_ticks_are_round_where_they_used_to_land_on_the_data():
    chart = quality_size_chart(ISSUE)
    assert [t.label for t in chart.x_ticks] == ["0", "10", "20", "30", "40"]
    assert chart.x_title == "File size (KiB)"
    assert [t.label for t in chart.y_ticks] == ["20", "22", "24", "26", "28", "30"]
    # Ticks sit where their values are.
    tick_20, tick_30 = chart.x_ticks[2], chart.x_ticks[3]
    x_of_30_kib = tick_20.at + (tick_30.at - tick_20.at) * (30 * 1024 - 20 * 1024) / (10 * 1024)
    assert math.isclose(x_of_30_kib, tick_30.at)


@st.composite
def ranges(draw) -> tuple[float, float]:
    """A range of axis values: anywhere from hundredths to millions, of any width there."""
    lo = draw(st.floats(-50, 60)) * 10 ** draw(st.integers(-2, 5))
    width = draw(st.floats(0.001, 100)) * 10 ** draw(st.integers(-2, 5))
    # Data a chart shows differ by more than a millionth of their size (a byte in a megabyte,
    # 0.0001 dB): closer, floats themselves cannot tell the ticks apart.
    assume(width >= 1e-6 * max(1.0, abs(lo)))
    return lo, lo + width


@given(ranges())
@settings(max_examples=150, deadline=None, derandomize=True)
def test_ticks_are_steps_of_1_2_or_5_times_a_power_of_ten_for_any_range(span):
    """For any range: 2 to 6 evenly spaced ticks, a round step, covering the range."""
    lo, hi = span
    assert_round_ticks(nice_ticks(lo, hi), lo, hi)


@given(ranges())
@settings(max_examples=100, deadline=None, derandomize=True)
def test_ticks_of_a_range_ten_times_as_large_are_the_ticks_ten_times_as_large(span):
    """The axis does not depend on the unit: KiB or bytes, dB or tenths, the same ticks."""
    lo, hi = span
    scaled = nice_ticks(lo * 10, hi * 10)
    assert len(scaled) == len(nice_ticks(lo, hi))
    for tick, base in zip(scaled, nice_ticks(lo, hi), strict=True):
        assert math.isclose(tick, base * 10, rel_tol=1e-9, abs_tol=1e-9)


def test_one_value_gets_a_small_round_range_around_it():
    values = nice_ticks(30.0, 30.0)
    assert_round_ticks(values, 29.0, 31.0)


def test_sizes_are_counted_in_the_unit_that_fits():
    assert size_unit(900) == (1, "B")
    assert size_unit(90_000) == (1024, "KiB")
    assert size_unit(5_000_000) == (1024 * 1024, "MiB")
    chart = quality_size_chart([result(2, 20.0, 2_000_000), result(4, 25.0, 5_000_000)])
    assert chart.x_title == "File size (MiB)"
    assert [t.label for t in chart.x_ticks] == ["0", "1", "2", "3", "4", "5"]


def test_caption_speaks_of_falling_returns_only_when_each_step_buys_less():
    falling = trade_off(ISSUE)
    assert falling == (
        "From k = 2 to k = 8, PSNR rises from 21.0 to 29.5 dB, while the file grows from 3.1 KiB "
        "to 33.3 KiB. Each step buys less quality per byte than the one before: from 0.40 dB "
        "per KiB (k = 2 to 4) down to 0.17 (k = 4 to 8)."
    )
    article = trade_off(ARTICLE)
    assert "buys less" not in article and "less quality" not in article
    assert article.endswith(
        "The best value is the step from k = 2 to 5 (0.50 dB per KiB); the other steps give "
        "0.31 to 0.36 dB per KiB."
    )
    rising = [result(2, 20.0, 1024), result(4, 21.0, 2048), result(8, 30.0, 3072)]
    assert trade_off(rising).endswith(
        "The best value is the step from k = 4 to 8 (9.0 dB per KiB); the other step gives "
        "1.0 dB per KiB."
    )


def test_caption_of_two_outputs_or_a_step_that_buys_nothing_draws_no_conclusion():
    two = trade_off(ISSUE[:2])
    assert two == (
        "From k = 2 to k = 4, PSNR rises from 21.0 to 27.0 dB, while the file grows from 3.1 KiB "
        "to 18.2 KiB."
    )
    smaller = [result(2, 20.0, 5000), result(4, 24.0, 4000), result(8, 30.0, 6000)]
    assert "per KiB" not in trade_off(smaller)  # k = 4 came out smaller: no slope to compare


def test_all_lossless_outputs_are_on_their_own_row_and_the_caption_says_only_that():
    chart = quality_size_chart([result(4, None, 300, 3), result(8, None, 310, 3)])
    assert chart.y_ticks == [] and chart.polyline == ""
    assert {p.y for p in chart.points} == {chart.lossless_y}
    assert all(p.lossless for p in chart.points)
    assert chart.caption == (
        "Every output is lossless: the picture has 3 colours or fewer, so each k keeps them all; "
        "the file grows from 300 B to 310 B."
    )
    assert "buys less" not in chart.caption and "value" not in chart.caption


def test_lossless_outputs_sit_above_the_finite_ones_and_share_a_label_where_they_meet():
    rows = [result(2, 12.7, 97), result(4, None, 110, 3), result(8, None, 110, 3),
            result(16, None, 110, 3)]  # fmt: skip
    chart = quality_size_chart(rows)
    finite, *lossless = chart.points
    assert not finite.lossless and all(p.lossless for p in lossless)
    assert all(p.y == chart.lossless_y < chart.lossless_rule < chart.plot_top for p in lossless)
    assert chart.polyline == f"{finite.x:.1f},{finite.y:.1f}"  # no line drawn to infinity
    assert [p.label[3] if p.label else None for p in chart.points] == [
        "k = 2",
        "k = 4, 8, 16",
        None,
        None,
    ]
    assert (
        chart.caption
        == "k = 4, 8 and 16 are lossless (keeping all 3 colours of the picture), on the top row."
    )
    assert chart.description.endswith("k = 16: lossless, 110 B")


def test_labels_never_overlap_and_stay_inside_the_picture():
    rng = random.Random(7)
    for _ in range(30):
        ks = sorted(rng.sample(range(2, 257), 16))
        rows = [result(k, 15 + 25 * math.log(k) / math.log(256) + rng.uniform(-1, 1), 200 * k)
                for k in ks]  # fmt: skip
        chart = quality_size_chart(rows)
        boxes = []
        for p in chart.points:
            if p.label is None:
                continue
            x, y, anchor, text = p.label
            width = len(text) * 13 * 0.6
            left = x - width if anchor == "end" else x
            boxes.append((left, y - 13, left + width, y + 2))
        assert len(boxes) >= 4
        for i, a in enumerate(boxes):
            assert a[0] >= 0 and a[1] >= 0 and a[2] <= chart.width and a[3] <= chart.height
            for b in boxes[i + 1 :]:
                assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_one_output_makes_no_chart_but_a_plain_sentence():
    assert quality_size_chart([result(4, 30.0, 1000)]) is None
    assert trade_off([result(4, 30.0, 1000)]) == "One output: k = 4: PSNR 30.0 dB, 1000 B."
    assert trade_off([result(4, None, 1000)]) == "One output: k = 4: lossless, 1000 B."


def test_human_bytes():
    assert [human_bytes(n) for n in (999, 2048, 50 * 1024 * 1024)] == ["999 B", "2.0 KiB", "50 MiB"]
