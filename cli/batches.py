"""`kcolors submit --prefix`: a batch over every image under a storage prefix."""

from __future__ import annotations

from typing import Any

import click

from cli.client import call, follow


def describe(batch: dict[str, Any]) -> str:
    """One line on a batch's progress."""
    s = batch["summary"]
    return (
        f"batch {batch['id']}: {s['status']} ({s['progress']:.0%}) {s['total']} images: "
        f"{s['succeeded']} succeeded ({s['reused']} reused), {s['failed']} failed, "
        f"{s['running']} running, {s['queued']} queued"
    )


def submit_batch(server: str, prefix: str, fields: dict[str, Any], wait: bool, timeout: float):
    """Submit a prefix batch; with `wait`, follow it and print its report."""
    batch = call("POST", f"{server}/api/batches", json={"prefix": prefix, **fields})
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


def print_report(report: dict[str, Any]) -> None:
    """Print one line per image and k."""
    click.echo(f"{'image':<32} {'k':>4} {'bytes':>9} {'ratio':>6} {'psnr':>6}  status")
    for row in report["rows"]:
        psnr = "" if row["psnr"] is None else f"{row['psnr']:.1f}"
        ratio = "" if row["compression_ratio"] is None else f"{row['compression_ratio']:.2f}"
        status = row["status"] + (f" {row['error_code']}" if row["error_code"] else "")
        status += " (reused)" if row["reused"] else ""
        click.echo(
            f"{row['name'][:32]:<32} {row['k'] or '':>4} {row['bytes'] or '':>9} {ratio:>6} "
            f"{psnr:>6}  {status}"
        )
