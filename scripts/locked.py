"""Hash-pinned requirement lines for a few packages, read from uv.lock with the standard library.

What installs uv itself, before uv can read its own lock (the Makefile, deploy/Dockerfile), and
the build backend the image builds the project with:

    python3 scripts/locked.py uv setuptools > pins.txt
    pip install --require-hashes -r pins.txt

Every wheel and sdist the lock lists for the package is given as an allowed hash, so pip picks
the file for its own platform and refuses any other bytes.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "uv.lock"


def pin(lock: dict, name: str) -> str:
    """`name==version --hash=... ...` for the one version of `name` the lock holds."""
    entries = [p for p in lock["package"] if p["name"] == name]
    if len(entries) != 1:
        raise SystemExit(f"uv.lock holds {len(entries)} versions of {name}; expected exactly one")
    entry = entries[0]
    files = [*entry.get("wheels", []), *([entry["sdist"]] if "sdist" in entry else [])]
    hashes = " ".join(f"--hash={f['hash']}" for f in files)
    return f"{name}=={entry['version']} {hashes}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="package names as uv.lock spells them")
    parser.add_argument("--lock", type=Path, default=LOCK, help="default: %(default)s")
    args = parser.parse_args(argv)
    lock = tomllib.loads(args.lock.read_text())
    sys.stdout.write("".join(pin(lock, name) + "\n" for name in args.names))


if __name__ == "__main__":
    main()
