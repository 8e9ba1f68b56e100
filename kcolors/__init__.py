"""kcolors' domain: the engine (`kcolors.engine`) and the job core (`kcolors.jobs`).

Neither imports Celery or Flask: `worker/` and `web/` build on this package, never the reverse.
"""
