"""One dialect in every command: words, units, number formats, singular and plural."""

from cli.batches import print_report
from cli.client import print_results
from cli.tables import OUTPUT_COLUMNS, Column, plural, psnr, render


def test_words_and_numbers():
    assert [plural(1, "colour"), plural(2, "colour"), plural(1234, "image")] == [
        "1 colour", "2 colours", "1,234 images"
    ]  # fmt: skip
    assert [psnr(None), psnr(31.234), psnr(None, lossless=False)] == ["lossless", "31.23", "-"]


def test_a_table_aligns_numbers_right_and_words_left():
    table = render([Column("name", right=False), Column("bytes")], [["a", "1,234"], ["bb", "5"]])
    assert table.splitlines() == ["name  bytes", "a     1,234", "bb        5"]


def output(k, **extra):
    stats = {"bytes": 12918, "compression_ratio": 17.09, "truecolor_png_bytes": 27308}
    return {"k": k, **stats, "psnr": 25.1452, "distinct_colors": k,
            "url": f"/api/jobs/x/results/{k}", **extra}  # fmt: skip


def test_submit_status_and_batch_reports_speak_as_quantize_does(capsys):
    source = {"width": 451, "height": 300, "format": "png", "bytes": 220782, "distinct_colors": 1}
    job = {"input": source, "results": [output(4), output(256, psnr=None)]}
    print_results(job, "http://host")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "input: 451x300 png, 220,782 bytes, 1 distinct colour"
    assert printed[1].split()[: len(OUTPUT_COLUMNS) + 1] == [
        "k", "bytes", "ratio", "truecolour", "PNG", "PSNR", "dB"
    ][: len(OUTPUT_COLUMNS) + 1]  # fmt: skip
    assert "12,918" in printed[2] and "25.15" in printed[2]
    assert "lossless" in printed[3] and "inf" not in printed[3]
    rows = [{"name": "cat.png", "status": "succeeded", "error_code": None, "reused": False,
             **output(2)},
            {"name": "notes.txt", "status": "failed", "error_code": "unsupported_format",
             "reused": False, "k": None, "bytes": None, "compression_ratio": None,
             "truecolor_png_bytes": None, "psnr": None, "distinct_colors": None}]  # fmt: skip
    print_report({"rows": rows})
    report = capsys.readouterr().out.splitlines()
    assert "truecolour PNG" in report[0] and "25.15" in report[1]
    assert report[2].split()[:2] == ["notes.txt", "-"] and "unsupported_format" in report[2]


def test_an_auto_k_output_is_marked_with_its_target_and_whether_it_was_reached(capsys):
    source = {"width": 451, "height": 300, "format": "png", "bytes": 220782}
    auto = {"auto": True, "target_psnr": 45.0, "target_reached": False, "search_psnr": 40.7496}
    job = {"input": source, "results": [output(4), output(256, **auto), output(9, auto=True,
           target_psnr=30, target_reached=True)]}  # fmt: skip
    print_results(job, "http://host")
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed[2:5]] == ["4", "256*", "9*"]
    assert printed[5:] == [
        "* target 45 dB out of reach: the most colours, 256, give 40.75 dB",
        "* the fewest colours reaching the target, 30 dB",
    ]
