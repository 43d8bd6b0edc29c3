"""Fixtures shared by the integration tests: one real PostgreSQL 15 server per session."""

from __future__ import annotations

import pytest

from tests.support.pgserver import PgServer


@pytest.fixture(scope="session")
def pg():
    server = PgServer().start()
    yield server
    server.destroy()
