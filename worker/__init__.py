"""The Celery worker: the app (`worker.celery_app`), its tasks, the sweep for lost jobs and its
signals. Celery glue only: what a task does lives in `kcolors.jobs`."""
