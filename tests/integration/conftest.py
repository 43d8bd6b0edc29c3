"""Fixtures shared by the integration tests: one real PostgreSQL server (15, or FRENDE_PG_VERSION) per session.

The collection is importable as ansible_collections.frende.db (through
build/collections), as in tests/unit/conftest.py, for tests that use its pure
helpers (SCRAM, the backup catalog) to check what the modules did.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import subprocess
import time

from tests.support.backup_helpers import open_for_postgres
from tests.support.pgserver import PG_VERSION, PgServer, free_port
from tests.support.playbook import collection_path

if str(collection_path()) not in sys.path:
    sys.path.insert(0, str(collection_path()))


@pytest.fixture(scope="session")
def pg():
    server = PgServer().start()
    yield server
    server.destroy()


@pytest.fixture(autouse=True)
def tmp_path_for_the_database_user(request):
    """Run as root, the frende-db commands become postgres (as pg_ctlcluster does). Their test's
    directory then belongs to postgres and its parents let postgres through, as /var/backups and
    /var/log/frende do on a database host. Files a test puts there stay root's unless it hands them over."""
    if os.geteuid() != 0 or "tmp_path" not in request.fixturenames:
        return
    open_for_postgres(request.getfixturevalue("tmp_path"))


class DebianCluster:
    """A real cluster made by Debian's pg_createcluster: /etc/postgresql/<version>/<name>, peer for postgres."""

    version = PG_VERSION

    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.conf_dir = Path("/etc/postgresql/%s/%s" % (self.version, name))

    def start(self):
        subprocess.run(["pg_dropcluster", "--stop", self.version, self.name], capture_output=True, check=False)
        subprocess.run(["pg_createcluster", self.version, self.name, "-p", str(self.port), "--start"],
                       capture_output=True, check=True)
        self.psql("SET log_statement = 'none'; ALTER ROLE postgres PASSWORD '%s'" % self.password)
        return self

    password = "frende-cluster-test-pw"  # set on the test cluster's postgres role, for TCP logins from tests

    def params(self, **extra):
        """Module connection options: postgres over TCP to 127.0.0.1 with the test password."""
        return dict(login_host="127.0.0.1", login_port=self.port, login_user="postgres",
                    login_password=self.password, **extra)

    def reload(self):
        self.psql("SELECT pg_reload_conf()")
        time.sleep(0.3)

    def psql(self, sql, database="postgres"):
        return subprocess.run(["runuser", "-u", "postgres", "--", "psql", "--cluster",
                               "%s/%s" % (self.version, self.name), "-XAtq", "-d", database, "-c", sql],
                              capture_output=True, text=True, check=True).stdout

    def destroy(self):
        subprocess.run(["pg_dropcluster", "--stop", self.version, self.name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def debian_cluster():
    """One Debian cluster for the tests that need Debian's layout (check-pg-hba, peer authentication as root)."""
    if os.geteuid() != 0 or not Path("/usr/bin/pg_createcluster").exists():
        pytest.skip("needs root and Debian's postgresql-common")
    cluster = DebianCluster("frendetest").start()
    yield cluster
    cluster.destroy()
