"""kcolors engine and worker: plain modules (no Celery, no Flask) plus a thin `tasks` module."""
