"""`make audit`'s verdicts, on pip-audit reports of the three kinds it meets."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "audit.py"
spec = importlib.util.spec_from_file_location("audit", SCRIPT)
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)

CLEAN = {"name": "flask", "version": "3.1.0", "vulns": []}
SKIPPED = {"name": "celery", "skip_reason": "Dependency not found on PyPI and could not be audited"}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "description": "..."}],
}


@pytest.mark.parametrize(
    "dependencies, verdict",
    [
        ([CLEAN, CLEAN, SKIPPED], "clean"),
        ([CLEAN, VULNERABLE, SKIPPED], "vulnerable"),
        # What this machine gets: PyPI answers nothing for versioned lookups, so all are skipped.
        ([SKIPPED, SKIPPED, SKIPPED], "no_data"),
        ([CLEAN, SKIPPED, SKIPPED], "no_data"),
        ([], "no_data"),
    ],
)
def test_verdicts(dependencies, verdict):
    assert audit.assess({"dependencies": dependencies})[0] == verdict


def test_a_vulnerability_is_named_with_its_fix():
    _, lines = audit.assess({"dependencies": [VULNERABLE]})
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in "\n".join(lines)
