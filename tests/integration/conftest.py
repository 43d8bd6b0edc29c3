"""Fixtures shared by the integration tests: one real PostgreSQL 15 server per session.

The collection is importable as ansible_collections.frende.db (through
build/collections), as in tests/unit/conftest.py, for tests that use its pure
helpers (SCRAM, the backup catalog) to check what the modules did.
"""

from __future__ import annotations

import sys

import pytest

from tests.support.pgserver import PgServer
from tests.support.playbook import collection_path

if str(collection_path()) not in sys.path:
    sys.path.insert(0, str(collection_path()))


@pytest.fixture(scope="session")
def pg():
    server = PgServer().start()
    yield server
    server.destroy()
