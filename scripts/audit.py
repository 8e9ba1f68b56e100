"""`make audit`: check the locked dependencies for known vulnerabilities with pip-audit.

The set audited is uv.lock's, exported with its hashes (`uv export`, see the Makefile): what
the image and every install run, not whatever this venv happens to hold.

Exit 1 when a vulnerability is found. When no vulnerability service answers (no network, or a
service that knows none of our packages), say so loudly and exit 0: an unaudited run must not
pass for a clean one, and it must not fail a build for a reason that is not ours.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SERVICES = ("pypi", "osv")
# Below this share of audited packages, the service is taken as not answering.
MIN_AUDITED_SHARE = 0.5
BANNER = "=" * 78


def run_pip_audit(requirements: Path, service: str) -> dict | None:
    """Audit the pinned, hashed `requirements` against `service`; return pip-audit's report, or
    None on error. Nothing is resolved or installed: the file is the whole set."""
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory, "report.json")
        command = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements),
                   "--require-hashes", "--disable-pip", "--no-deps",
                   "--vulnerability-service", service, "--format", "json", "--output", str(report),
                   "--progress-spinner", "off", "--timeout", "20"]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if not report.exists():
            print(f"pip-audit ({service}) failed: {result.stderr.strip().splitlines()[-1:]}")
            return None
        return json.loads(report.read_text())


def assess(report: dict) -> tuple[str, list[str]]:
    """Read a pip-audit report: ("vulnerable" | "clean" | "no_data", lines to print)."""
    dependencies = report["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    lines = [f"{len(audited)} of {len(dependencies)} packages audited"]
    for dependency in audited:
        for vuln in dependency.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            lines.append(f"  {dependency['name']} {dependency['version']}: {vuln['id']} "
                         f"(fixed in {fixes})")  # fmt: skip
    if len(lines) > 1:
        return "vulnerable", lines
    if not dependencies or len(audited) < MIN_AUDITED_SHARE * len(dependencies):
        return "no_data", lines
    return "clean", lines


def main(argv: list[str]) -> int:
    """Audit the requirements file argv[0] with the first service that answers; return the exit
    status."""
    [requirements] = argv
    for service in SERVICES:
        report = run_pip_audit(Path(requirements), service)
        if report is None:
            continue
        verdict, lines = assess(report)
        print(f"pip-audit ({service}): " + "\n".join(lines))
        if verdict == "vulnerable":
            print("FAILED: known vulnerabilities in the dependencies")
            return 1
        if verdict == "clean":
            print("no known vulnerabilities")
            return 0
        print(f"pip-audit ({service}) knows too few of the packages: no vulnerability data")
    print(BANNER)
    print("WARNING: NO VULNERABILITY SERVICE ANSWERED; THE DEPENDENCIES WERE NOT AUDITED.")
    print(f"Tried: {', '.join(SERVICES)}. Run `make audit` where PyPI or osv.dev is reachable.")
    print(BANNER)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
