"""`kcolors status --queue`: the queues' lengths, the batch backlogs and the workers that
answer a ping."""

from __future__ import annotations

import click

PING_TIMEOUT_SECONDS = 2.0


def show_queue() -> None:
    """Print how many jobs wait in the broker and which workers answer."""
    import redis

    from cli.local import use_local_broker
    from kcolors.jobs.broker import QUEUES, redis_for
    from kcolors.jobs.feeder import backlog_lengths
    from kcolors.jobs.settings import Settings
    from worker.celery_app import create_celery_app

    use_local_broker()
    settings = Settings.from_env()
    if not settings.broker_url:
        raise click.ClickException(
            "no broker: set KCOLORS_BROKER_URL, or run this in the folder of a running kcolors up"
        )
    try:
        client = redis_for(settings)
        lengths = {queue: client.llen(queue) for queue in QUEUES}
        backlogs = backlog_lengths(client)
    except redis.RedisError as exc:
        raise click.ClickException(f"broker unreachable: {exc}") from None
    for queue, length in lengths.items():
        click.echo(f"queue {queue}: {length} waiting")
    waiting = sum(backlogs.values())
    click.echo(f"batch backlogs: {waiting} jobs of {len(backlogs)} clients, fed in turns")
    replies = create_celery_app(settings).control.ping(timeout=PING_TIMEOUT_SECONDS)
    workers = sorted(name for reply in replies for name in reply)
    click.echo(f"workers answering: {len(workers)}")
    for name in workers:
        click.echo(f"  {name}")
