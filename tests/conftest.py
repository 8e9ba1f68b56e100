"""Fixtures shared by every test package."""

import pytest

from kcolors.jobs.settings import Settings
from tests.fixtures.browser import (  # noqa: F401  (fixtures, found by pytest by name)
    chromium,
    open_tab,
    screenshot_dir,
    tab,
)
from tests.fixtures.s3rver import s3rver  # noqa: F401  (a fixture)
from tests.fixtures.servers import (  # noqa: F401  (fixtures, found by pytest by name)
    aws_credentials,
    broker,
    broker_settings,
    celery_worker,
    live_server,
    s3_bucket,
    s3_server,
    s3_settings,
    service,
    start_live_server,
    start_worker,
    valkey_server,
)
from tests.fixtures.up import kcolors_up  # noqa: F401  (a fixture)
from web import create_app


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings on a fresh local storage directory, nothing read from the environment."""
    return Settings(storage_url=f"file://{tmp_path / 'store'}")


@pytest.fixture
def app(settings):
    """A fresh app per test."""
    return create_app({"TESTING": True, "KCOLORS_SETTINGS": settings})


@pytest.fixture
def client(app):
    return app.test_client()
