"""The job core shared by the web and the worker: settings, storage, the job and batch
documents and their state machines, job creation with reuse, change notices, running a job,
reconciliation, metrics and logs. Plain Python: no Celery, no Flask."""
