"""`kcolors submit --prefix`: a batch over every image under a storage prefix."""

from __future__ import annotations

from typing import Any

import click

from cli.http import call, follow, submit_call
from cli.tables import OUTPUT_COLUMNS, Column, output_cells, plural, render


def describe(batch: dict[str, Any]) -> str:
    """One line on a batch's progress."""
    s = batch["summary"]
    return (
        f"batch {batch['id']}: {s['status']} ({s['progress']:.0%}), "
        f"{plural(s['total'], 'image')}: {s['succeeded']:,} succeeded ({s['reused']:,} reused), "
        f"{s['failed']:,} failed, {s.get('cancelled', 0):,} cancelled, {s['running']:,} running, "
        f"{s['queued']:,} queued"
    )


def submit_batch(
    server: str, request: dict[str, Any], wait: bool, timeout: float, saver: Any = None
) -> None:
    """Submit a batch (`request`: the JSON of a prefix batch, or the form and files of
    uploads); with `wait`, follow it in one display, print its report, and with `saver` save
    every output."""
    batch = submit_call(f"{server}/api/batches", **request)
    if not wait:
        click.echo(describe(batch))
        return
    batch = follow(
        f"{server}/api/batches/{batch['id']}",
        batch,
        lambda doc: doc["summary"]["status"] == "finished",
        describe,
        timeout,
    )
    print_report(call("GET", f"{server}/api/batches/{batch['id']}/report.json"))
    click.echo(f"CSV: {server}/api/batches/{batch['id']}/report.csv")
    if saver is not None:
        for job_id in dict.fromkeys(item["job_id"] for item in batch["items"] if item["job_id"]):
            saver.save(call("GET", f"{server}/api/jobs/{job_id}"))


def print_report(report: dict[str, Any]) -> None:
    """Print one line per image and k, in the CLI's one dialect."""
    columns = [Column("image", right=False), *OUTPUT_COLUMNS, Column("status", right=False)]
    rows = []
    for row in report["rows"]:
        status = row["status"] + (f" {row['error_code']}" if row["error_code"] else "")
        status += " (reused)" if row["reused"] else ""
        # No output: a failed, cancelled or waiting image.
        cells = ["-"] * len(OUTPUT_COLUMNS) if row["k"] is None else output_cells(row)
        rows.append([row["name"][:40], *cells, status])
    click.echo(render(columns, rows))
