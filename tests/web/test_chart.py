"""The geometry of the PSNR and size chart."""

from web.chart import HEIGHT, WIDTH, human_bytes, quality_size_chart


def result(k, psnr, size):
    return {"k": k, "psnr": psnr, "bytes": size}


def test_points_follow_k_on_a_log_axis_and_values_upwards():
    chart = quality_size_chart([result(24, 32.6, 98_000), result(2, 21.2, 18_000),
                                result(8, 27.0, 40_000)])  # fmt: skip
    assert [label for _, label in chart.x_ticks] == ["2", "8", "24"]
    xs = [p.x for p in chart.psnr.points]
    assert xs[0] == chart.plot_left and xs[-1] == chart.plot_right
    # log2 spacing: 2 -> 8 is two doublings out of log2(12) ~ 3.58
    assert abs((xs[1] - xs[0]) / (xs[2] - xs[0]) - 2 / 3.585) < 0.01
    psnr_ys = [p.y for p in chart.psnr.points]
    size_ys = [p.y for p in chart.size.points]
    assert psnr_ys == sorted(psnr_ys, reverse=True)  # higher values are drawn higher up
    assert size_ys == sorted(size_ys, reverse=True)
    assert all(chart.plot_top <= y <= chart.plot_bottom for y in psnr_ys + size_ys)
    assert (chart.width, chart.height) == (WIDTH, HEIGHT)
    assert chart.description == (
        "k=2: PSNR 21.2 dB, 17.6 KiB; k=8: PSNR 27.0 dB, 39.1 KiB; k=24: PSNR 32.6 dB, 95.7 KiB"
    )


def test_lossless_outputs_have_no_psnr_point():
    chart = quality_size_chart([result(2, 20.0, 100), result(4, None, 200)])
    assert len(chart.psnr.points) == 1
    assert len(chart.size.points) == 2
    assert chart.description.endswith("k=4: lossless, 200 B")


def test_one_result_makes_no_chart():
    assert quality_size_chart([result(4, 30.0, 1000)]) is None


def test_human_bytes():
    assert [human_bytes(n) for n in (999, 2048, 50 * 1024 * 1024)] == ["999 B", "2.0 KiB", "50 MiB"]
