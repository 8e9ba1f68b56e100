"""`kcolors submit` retries safely: a connection lost after the server made the job is sent
again with the same `Idempotency-Key`, and the server answers the job it made, not a second.
A real server over HTTP behind a loopback relay that drops the first answer."""

from __future__ import annotations

import contextlib
import socket
import threading

import requests
from click.testing import CliRunner

from cli.main import main
from kcolors.jobs.storage import open_storage
from tests.images import gradient_png


class DropFirstAnswer:
    """Relays 127.0.0.1 connections to `upstream`; on the first, the request goes through
    whole but the connection is closed when the answer starts, as a link lost at that moment."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            self.connections += 1
            drop = self.connections == 1
            threading.Thread(target=self.relay, args=(client, drop), daemon=True).start()

    def relay(self, client: socket.socket, drop: bool) -> None:
        server = socket.create_connection(self.upstream, timeout=30)
        threading.Thread(target=pipe, args=(client, server), daemon=True).start()
        try:
            if drop:
                server.recv(1)  # the server has made the job and begun its answer
                return
            pipe(server, client)
        finally:  # shut down, not only closed: the other relay thread still reads them
            for end in (client, server):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def stop(self) -> None:
        self.listener.close()


def pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes from `source` to `target` until either side closes."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass


def test_a_submission_whose_answer_is_lost_makes_one_job(s3_settings, start_live_server, tmp_path):
    server = start_live_server(s3_settings)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    relay = DropFirstAnswer((host, int(port)))
    try:
        picture = tmp_path / "cat.png"
        picture.write_bytes(gradient_png(seed=31))
        result = CliRunner().invoke(
            main, ["submit", str(picture), "-k", "2", "--server", f"http://127.0.0.1:{relay.port}"]
        )
    finally:
        relay.stop()
    assert result.exit_code == 0, result.output
    assert relay.connections == 2  # the lost answer, then the retry
    storage = open_storage(s3_settings)
    jobs = {key.split("/")[1] for key in storage.list("jobs/") if key.endswith("/job.json")}
    assert len(jobs) == 1  # sent twice, made once
    [job_id] = jobs
    assert job_id in result.output
    listed = requests.get(f"{server.url}/api/jobs", timeout=10).json()
    assert [job["id"] for job in listed["jobs"]] == [job_id]
