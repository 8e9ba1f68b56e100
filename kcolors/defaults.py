"""Default values and limits, with their units in their names.

This module imports nothing: the CLI reads it for its help texts without loading the service."""

MIN_K = 2
MAX_K = 256
DEFAULT_KS = (2, 5, 10, 15, 24)  # the article's choices
MAX_K_VALUES = 16

MAX_PIXELS = 50_000_000
# A file that declares more pixels per byte of itself than this is a decompression bomb, not a
# picture: flat-colour 12-MP PNGs, the most compressible real images, hold a few hundred.
MAX_PIXELS_PER_BYTE = 1000
# The work one job may ask for: its pixels times its outputs (an auto-k output counts as
# AUTO_K_WORK_OUTPUTS: its search fits several palettes). 12 MP x 25 outputs, 50 MP x 6.
MAX_JOB_WORK_PIXELS = 300_000_000
AUTO_K_WORK_OUTPUTS = 8
# `optimize` adds this many outputs' work per output: oxipng took 0.2-5.3 times the rest of a
# job's time on the benchmark's photos, the most from 1 MP up (docs/ENGINE.md, "Optimized PNG").
OPTIMIZE_EXTRA_WORK_OUTPUTS = 5
# Submissions per client (token, or address) in a window, as Flask-Limiter reads it; "" turns
# the limit off.
RATE_LIMIT = "120/minute"
# Wrong API tokens (bearer or sign-in form) per address and per token prefix, in a moving
# window: past it, every try is refused with 429 until the window has room again.
AUTH_FAILURE_LIMIT = "10/minute"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

STORAGE_URL = "file://./kcolors-data"
SOURCE_PREFIX = "uploads/"

SOFT_TIME_LIMIT_SECONDS = 300
HARD_TIME_LIMIT_SECONDS = 360
# Must exceed the hard time limit, or Redis would redeliver a job still legitimately running.
VISIBILITY_TIMEOUT_SECONDS = 3600
PRESIGN_EXPIRES_SECONDS = 900

WEB_PORT = 8000
# `GET /api/jobs/<id>?wait=S` holds a request thread up to S seconds waiting for a change; at
# most this many per web process wait at once, so that waiters never take every thread.
MAX_WAIT_SECONDS = 30
MAX_WAITING_REQUESTS = 2

# A job whose storage fails is retried this many times, backing off exponentially.
STORAGE_RETRIES = 5
# Whole seconds: Celery's backoff multiplies them by 2**retries, which overflows a float from
# retry 1,024 on but never an int.
STORAGE_RETRY_BACKOFF_SECONDS = 1
STORAGE_RETRY_MAX_SECONDS = 30
# A failure that storage cannot take (it is down too) is retried this long, so that the job ends
# `failed` once storage is back instead of staying `running`.
FAILURE_RECORD_SECONDS = 7 * 24 * 3600
# How long Redis remembers which job computed a fingerprint, for reuse by identical jobs.
REUSE_INDEX_SECONDS = 30 * 24 * 3600
# Jobs and batches older than this are deleted by the workers' sweep, objects and all; 0 keeps
# them for ever.
RETENTION_DAYS = 30.0
# Every this many seconds one worker looks for jobs left queued or running with no message behind
# them (a message lost between Redis and a killed worker, say) among those of the last day.
SWEEP_INTERVAL_SECONDS = 60
SWEEP_WINDOW_SECONDS = 24 * 3600
# Batch jobs waiting in the batch queue at once; the rest wait in their clients' backlogs, and
# clients take turns (kcolors.jobs.feeder). At least the worker processes of the cluster.
BATCH_WINDOW = 16
# A running job's progress is saved at most this often (each save is a storage round trip).
PROGRESS_SAVE_SECONDS = 0.25
# A job started this many times without finishing (its worker lost each time) fails.
MAX_JOB_ATTEMPTS = 10
# A document younger than this may be between being saved and its message being sent.
RECONCILE_MIN_AGE_SECONDS = 60
# `GET /api/jobs?limit=N`: how many jobs a listing shows.
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
