"""`kcolors reconcile`: enqueue again the jobs whose message Redis lost."""

from __future__ import annotations

import json

import click

from kcolors import defaults


@click.command()
@click.option("--min-age", "min_age_seconds", type=click.FloatRange(min=0),
              default=defaults.RECONCILE_MIN_AGE_SECONDS, show_default=True,
              help="Skip jobs younger than this (seconds): they may be enqueueing.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only list the jobs that would be enqueued.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reconcile(min_age_seconds: float, dry_run: bool, as_json: bool) -> None:
    """Enqueue again the jobs (queued or running) and batches with no message in Redis."""
    # Imported here so that `kcolors --help` and `kcolors quantize` stay light.
    import redis

    from cli.local import use_local_broker

    use_local_broker()
    from kcolors.errors import KcolorsError
    from kcolors.jobs.broker import redis_for
    from kcolors.jobs.settings import Settings
    from kcolors.jobs.storage import open_storage
    from worker.celery_app import create_celery_app
    from worker.sweep import requeue_lost

    settings = Settings.from_env()
    celery = create_celery_app(settings)  # after use_local_broker(): the same broker
    broker = redis_for(settings)
    try:
        report = requeue_lost(
            celery, open_storage(settings), broker, min_age_seconds=min_age_seconds, dry_run=dry_run
        )
    except (KcolorsError, redis.RedisError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        broker.close()
    if as_json:
        click.echo(json.dumps({"checked": report.checked, "unfinished": report.unfinished,
                               "requeued": report.requeued,
                               "batches_requeued": report.batches_requeued,
                               "dry_run": dry_run}))  # fmt: skip
        return
    verb = "would enqueue" if dry_run else "enqueued"
    click.echo(f"{report.checked} jobs, {report.unfinished} unfinished, "
               f"{verb} {len(report.requeued)} again")  # fmt: skip
    for job_id in report.requeued:
        click.echo(f"  {job_id}")
    if report.batches_requeued:
        click.echo(f"{verb} {len(report.batches_requeued)} unexpanded batches again")
        for batch_id in report.batches_requeued:
            click.echo(f"  batch {batch_id}")
