"""One client's batches, newest first, a page at a time (the list the batch pages show)."""

from __future__ import annotations

from dataclasses import dataclass

from kcolors.errors import BatchNotFound
from kcolors.jobs.batch import BATCHES_PREFIX, Batch, load_batch
from kcolors.jobs.storage import Storage

MAX_BATCH_SCAN = 500  # batch documents read at most to list one client's batches


@dataclass(frozen=True)
class BatchPage:
    """One page of batches, newest first, and the cursor of the next, older page."""

    batches: list[Batch]
    older: str | None  # list `before=` this id for the next page (None: no more)


def find_batches(
    storage: Storage, limit: int, *, owner: str | None = None, before: str | None = None
) -> BatchPage:
    """Return up to `limit` batches created before the batch id `before`, newest first, of
    `owner` only if given. Batch ids are ULIDs, which sort by creation time, so an id is a
    stable cursor; one request reads at most `MAX_BATCH_SCAN` documents and its cursor goes on
    from the last one read."""
    ids = sorted(
        (
            key.split("/")[1]
            for key in storage.list(BATCHES_PREFIX)
            if key.endswith("/batch.json") and key.count("/") == 2
        ),
        reverse=True,
    )
    found: list[Batch] = []
    last_read = None
    for read, batch_id in enumerate(i for i in ids if before is None or i < before):
        if read == MAX_BATCH_SCAN:
            return BatchPage(found, older=last_read)
        last_read = batch_id
        try:
            batch = load_batch(storage, batch_id)
        except BatchNotFound:  # deleted between the listing and the read
            continue
        if owner is None or batch.owner == owner:
            if len(found) == limit:  # one more than shown: there is a page beyond
                return BatchPage(found, older=found[-1].id)
            found.append(batch)
    return BatchPage(found, older=None)
