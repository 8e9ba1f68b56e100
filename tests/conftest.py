"""Fixtures shared by every test package."""

import pytest

from web import create_app
from worker.settings import Settings


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
