"""Fixtures shared by the web tests."""

import pytest
import redis


@pytest.fixture
def broker(valkey_server):
    """A client on the session's Valkey server, emptied for this test."""
    client = redis.Redis.from_url(valkey_server.connection_url)
    client.flushall()
    return client
