"""Slow-client benchmark: `/healthz` during a slow-client attack, straight at gunicorn and
behind nginx (deploy/nginx/kcolors.conf.template, Debian's nginx), on loopback only.

    python -m tests.benchmarks.slow_clients [--connections 50] [--seconds 10]

`kcolors web` runs as deployed (2 gunicorn processes x 4 threads) on local storage and an
embedded Valkey. The attack holds N connections that send a POST's headers, then one byte of the
body every second; a well-behaved client asks for /healthz every 0.5 s with a 5 s timeout. The
reference is the same probing with no attack, in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from cli.broker import start_valkey_server
from kcolors.jobs.settings import Settings
from tests.fixtures.processes import WebProcess
from tests.fixtures.proxy import NginxProxy
from tests.fixtures.slow_clients import Probes, attack


def row(name: str, probes: Probes, reference: float) -> str:
    """One line of the table: answered, failed, latency p50 and max, p50 against no attack."""
    if not probes.latencies:
        return f"| {name} | 0 | {probes.failures} | - | - | - |"
    p50 = statistics.median(probes.latencies)
    return (
        f"| {name} | {probes.answered} | {probes.failures} | {p50 * 1000:.1f} ms | "
        f"{max(probes.latencies) * 1000:.1f} ms | {p50 / reference:.1f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    valkey = start_valkey_server()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        settings = Settings(
            broker_url=valkey.connection_url, storage_url=f"file://{tmp / 'store'}", rate_limit=""
        )
        web = WebProcess(settings, tmp / "web.log").wait_ready()
        proxy = NginxProxy(f"127.0.0.1:{web.port}", tmp / "nginx")
        try:
            quiet = attack(web.url, connections=0, seconds=args.seconds)
            reference = statistics.median(quiet.latencies)
            direct = attack(web.url, args.connections, args.seconds)
            proxied = attack(proxy.url, args.connections, args.seconds)
            proxied_quiet = attack(proxy.url, connections=0, seconds=args.seconds)
        finally:
            proxy.stop()
            web.stop()
            valkey.stop()
    print(f"{args.connections} slow connections for {args.seconds:.0f} s; /healthz every 0.5 s")
    print("| scenario | answered | timed out | p50 | max | p50 vs no attack |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(row("no attack, gunicorn direct (reference)", quiet, reference))
    print(row("no attack, behind nginx", proxied_quiet, reference))
    print(row("attack, gunicorn direct", direct, reference))
    print(row("attack, behind nginx", proxied, reference))


if __name__ == "__main__":
    main()
