import threading
import urllib.request

import pytest

from kcolors.errors import InvalidParameter, ObjectNotFound, StorageUnavailable
from kcolors.jobs.storage import LocalStorage, S3Storage, storage_from_url


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    """Each test runs against a directory and against moto's S3 server over HTTP."""
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Storage(bucket, "some/prefix", endpoint_url=endpoint)


def test_put_then_get_returns_the_same_bytes(storage):
    data = bytes(range(256)) * 100
    storage.put("jobs/a/k2.png", data, "image/png")
    assert storage.get("jobs/a/k2.png") == data
    assert storage.exists("jobs/a/k2.png")


def test_put_replaces_an_object(storage):
    storage.put("jobs/a/job.json", b"old")
    storage.put("jobs/a/job.json", b"new")
    assert storage.get("jobs/a/job.json") == b"new"
    assert storage.list("jobs/a/") == ["jobs/a/job.json"]


def test_missing_object_raises_object_not_found(storage):
    assert not storage.exists("jobs/nothing")
    with pytest.raises(ObjectNotFound) as info:
        storage.get("jobs/nothing")
    assert info.value.code == "object_not_found"


def test_delete_removes_and_tolerates_missing(storage):
    storage.put("x/y", b"1")
    storage.delete("x/y")
    storage.delete("x/y")
    assert not storage.exists("x/y")


def test_list_by_prefix_is_sorted_and_bounded_by_prefix(storage):
    for key in ["jobs/b/job.json", "jobs/a/k2.png", "jobs/a/job.json", "uploads/cat.png"]:
        storage.put(key, b"x")
    assert storage.list("jobs/") == ["jobs/a/job.json", "jobs/a/k2.png", "jobs/b/job.json"]
    assert storage.list("jobs/a") == ["jobs/a/job.json", "jobs/a/k2.png"]
    assert storage.list("nothing/") == []
    assert len(storage.list()) == 4


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "..", "a/./b", "a\\b"])
def test_unsafe_keys_are_refused(storage, key):
    with pytest.raises(InvalidParameter):
        storage.put(key, b"x")


def test_check_passes_on_a_working_storage(storage):
    storage.check()


def test_local_url_is_none_so_the_api_streams(tmp_path):
    assert LocalStorage(tmp_path).url("a", 60) is None


def test_local_put_never_exposes_half_an_object(tmp_path):
    """Readers racing a writer see only whole old or whole new objects."""
    storage = LocalStorage(tmp_path)
    old, new = b"a" * 2_000_000, b"b" * 2_000_000
    storage.put("obj", old)
    seen = set()
    stop = threading.Event()

    def read():
        while not stop.is_set():
            seen.add(storage.get("obj")[::100_000])

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(30):
        storage.put("obj", new if i % 2 == 0 else old)
    stop.set()
    reader.join()
    assert seen <= {old[::100_000], new[::100_000]}
    assert storage.list() == ["obj"]  # no temporary file left behind


def test_s3_presigned_url_reads_the_object_over_http(s3_server, s3_bucket):
    storage = S3Storage(s3_bucket, "p", endpoint_url=s3_server)
    storage.put("jobs/x/k2.png", b"\x89PNG fake", "image/png")
    url = storage.url("jobs/x/k2.png", 60)
    assert url.startswith(s3_server)
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"\x89PNG fake"


def test_s3_presigned_download_url_answers_as_an_attachment(s3_server, s3_bucket):
    storage = S3Storage(s3_bucket, "p", endpoint_url=s3_server)
    storage.put("jobs/x/k2.png", b"\x89PNG fake", "image/png")
    with urllib.request.urlopen(storage.url("jobs/x/k2.png", 60, download_name="a-k2.png")) as r:
        assert r.headers["Content-Disposition"] == 'attachment; filename="a-k2.png"'
        assert r.read() == b"\x89PNG fake"


def test_s3_keys_live_under_the_prefix(s3_server, s3_bucket):
    S3Storage(s3_bucket, "/deep/prefix/", endpoint_url=s3_server).put("a/b", b"1")
    assert S3Storage(s3_bucket, "", endpoint_url=s3_server).list() == ["deep/prefix/a/b"]


def test_s3_unreachable_raises_storage_unavailable(aws_credentials):
    storage = S3Storage("bucket", endpoint_url="http://127.0.0.1:9")  # discard port: nothing there
    with pytest.raises(StorageUnavailable):
        storage.get("a")
    with pytest.raises(StorageUnavailable):
        storage.check()


def test_s3_missing_bucket_is_unavailable(s3_server):
    with pytest.raises(StorageUnavailable):
        S3Storage("no-such-bucket", endpoint_url=s3_server).check()


def test_storage_from_url_picks_the_backend(tmp_path):
    assert isinstance(storage_from_url(f"file://{tmp_path}"), LocalStorage)
    assert storage_from_url("file://./rel").root.name == "rel"
    s3 = storage_from_url("s3://bucket/pre/fix", "http://127.0.0.1:1")
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "pre/fix/")
    with pytest.raises(Exception, match="neither"):
        storage_from_url("ftp://x/y")


def test_s3_small_uploads_skip_the_100_continue_round_trip(s3_server, s3_bucket):
    storage = S3Storage(s3_bucket, "p", endpoint_url=s3_server)
    sent = []
    storage.client.meta.events.register(  # runs after ours: sees what goes on the wire
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    small, large = b"s" * 100_000, b"l" * (2 * 1024 * 1024)
    storage.put("small", small)
    storage.put("large", large)
    assert "Expect" not in sent[0] and sent[1]["Expect"] == b"100-continue"
    assert storage.get("small") == small and storage.get("large") == large
