"""Fixtures for the deployment tests."""

from collections.abc import Callable

import pytest

from cli.main import main as kcolors_group

# Commands the job service (issue 3) adds; until it lands, a file naming them is an expected
# failure rather than an error. Remove once `kcolors web` and `kcolors worker` exist.
COMMANDS_LANDING_WITH_THE_SERVICE = frozenset({"web", "worker"})


@pytest.fixture
def require_kcolors_command() -> Callable[[str], None]:
    """Expect a failure for a service command that has not landed yet."""

    def require(name: str) -> None:
        if name not in kcolors_group.commands and name in COMMANDS_LANDING_WITH_THE_SERVICE:
            pytest.xfail(f"`kcolors {name}` lands with the job service")

    return require
