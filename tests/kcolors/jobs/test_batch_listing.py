"""Listing batches: newest first, one owner's only, and a bounded number of documents read."""

from kcolors.engine.params import QuantizeParams
from kcolors.jobs import batch_listing
from kcolors.jobs.batch import Batch, save_batch, upload_key
from kcolors.jobs.batch_listing import find_batches
from kcolors.jobs.storage import LocalStorage


def make_batches(storage, owners):
    params = QuantizeParams.parse({"k": "4"}, 8)
    made = []
    for owner in owners:
        batch = Batch.create(params, {"uploads": 1}, [("a.png", "x")], owner=owner)
        save_batch(storage, batch)
        storage.put(upload_key(batch.id, 0, "png"), b"picture")  # not a batch document
        made.append(batch.id)
    return made


def test_one_owners_batches_newest_first_a_page_at_a_time(tmp_path):
    storage = LocalStorage(tmp_path)
    made = make_batches(storage, ["ann", "bob", "ann", "ann", None])
    page = find_batches(storage, 2, owner="ann")
    assert [batch.id for batch in page.batches] == [made[3], made[2]]
    assert page.older == made[2]
    rest = find_batches(storage, 2, owner="ann", before=page.older)
    assert [batch.id for batch in rest.batches] == [made[0]]
    assert rest.older is None
    assert [b.id for b in find_batches(storage, 10).batches] == made[::-1]


def test_a_listing_reads_a_bounded_number_of_documents_and_goes_on_from_there(
    tmp_path, monkeypatch
):
    storage = LocalStorage(tmp_path)
    made = make_batches(storage, ["bob"] * 5 + ["ann"])
    monkeypatch.setattr(batch_listing, "MAX_BATCH_SCAN", 3)
    page = find_batches(storage, 10, owner="bob")
    # Ann's and two of Bob's were read; the cursor goes on after the last one read.
    assert [b.id for b in page.batches] == [made[4], made[3]]
    assert page.older == made[3]
    following = find_batches(storage, 10, owner="bob", before=page.older)
    assert [b.id for b in following.batches] == [made[2], made[1], made[0]]
    assert following.older is None
