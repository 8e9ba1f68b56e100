"""The embedded broker of `kcolors up` keeps queued messages across a restart."""

import signal
import subprocess
import sys

import redis


def start_broker(data_dir):
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.broker", str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    return process, process.stdout.readline().strip()


def stop_broker(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_queued_messages_survive_a_restart(tmp_path):
    process, url = start_broker(tmp_path)
    try:
        redis.Redis.from_url(url).lpush("kcolors", b'{"job": 1}', b'{"job": 2}')
    finally:
        stop_broker(process)
    process, url = start_broker(tmp_path)
    try:
        assert redis.Redis.from_url(url).lrange("kcolors", 0, -1) == [b'{"job": 2}', b'{"job": 1}']
    finally:
        stop_broker(process)
