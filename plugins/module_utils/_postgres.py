# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options, connecting, and SQL composition shared by every module.

Private to frende.db. This is the one place that quotes identifiers and builds
SQL: user values travel as parameters or as ``psycopg2.sql.Identifier``, never
formatted into SQL text.
"""

from __future__ import annotations

import re
import time

try:
    import psycopg2
    import psycopg2.extras
    from psycopg2 import sql
except ImportError:  # reported by require_psycopg2()
    psycopg2 = None
    sql = None

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
MAX_IDENTIFIER_BYTES = 63
REDACTED = "********"


def connection_argument_spec():
    """Options every module takes to reach the server (documented in the doc fragment)."""
    return dict(
        login_host=dict(type="str"),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", no_log=True),
        login_unix_socket=dict(type="str"),
        login_db=dict(type="str"),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
        ssl_rootcert=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
    )


CONNECTION_MUTUALLY_EXCLUSIVE = [("login_host", "login_unix_socket")]


def require_psycopg2():
    if psycopg2 is None:
        raise FrendeDbError(
            "The Python library psycopg2 is missing on the host that runs the module. "
            "Install it (Debian: apt-get install python3-psycopg2) or point "
            "ansible_python_interpreter at a Python that has it."
        )


# Names this collection accepts for roles, databases and schemas. PostgreSQL allows
# almost anything inside quotes, but a name such as 'x"; DROP TABLE t; --' in an
# inventory is a mistake or an attack, never a real database object: refuse it.
# Everything is still quoted as an identifier when it reaches SQL.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*$")


def validate_identifier(name, what="name"):
    """Return ``name`` when it is an acceptable role/database/schema name, else raise."""
    if not isinstance(name, str) or name == "":
        raise FrendeDbError("%s must be a non-empty string, got %r." % (what, name))
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise FrendeDbError(
            "%s %r is longer than PostgreSQL's limit of %d bytes; "
            "PostgreSQL would truncate it. Choose a shorter name."
            % (what, name, MAX_IDENTIFIER_BYTES)
        )
    if not IDENTIFIER_RE.match(name):
        raise FrendeDbError(
            "%s %r is not an accepted name: use letters, digits, '_', '$' or '-', "
            "starting with a letter or '_'." % (what, name)
        )
    return name


def ident(name, what="name"):
    """A safely quoted identifier for SQL composition."""
    require_psycopg2()
    return sql.Identifier(validate_identifier(name, what))


def validate_connection_params(params):
    port = params.get("login_port")
    if port is not None and not 1 <= port <= 65535:
        raise FrendeDbError("login_port must be between 1 and 65535, got %s." % port)
    timeout = params.get("connect_timeout")
    if timeout is not None and timeout < 1:
        raise FrendeDbError("connect_timeout must be at least 1 second, got %s." % timeout)


def _describe_target(params):
    where = params.get("login_unix_socket") or params.get("login_host") or "the default socket"
    return "%s port %s as %s" % (where, params.get("login_port"), params.get("login_user"))


def connect_kwargs(params, database=None):
    """libpq keyword arguments from the module options (the password stays out of any message)."""
    kwargs = dict(
        dbname=database or params.get("login_db") or "postgres",
        user=params.get("login_user") or "postgres",
        port=params.get("login_port") or 5432,
        sslmode=params.get("ssl_mode") or "prefer",
        connect_timeout=params.get("connect_timeout") or 10,
        application_name="frende.db",
    )
    host = params.get("login_unix_socket") or params.get("login_host")
    if host:
        kwargs["host"] = host
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("ssl_rootcert"):
        kwargs["sslrootcert"] = params["ssl_rootcert"]
    return kwargs


def connect(params, database=None, autocommit=True):
    """Open a connection or raise FrendeDbError with what went wrong and what to check."""
    require_psycopg2()
    validate_connection_params(params)
    try:
        conn = psycopg2.connect(**connect_kwargs(params, database))
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrendeDbError(
            "Could not connect to PostgreSQL database %r at %s: %s. Check login_host/login_port "
            "or login_unix_socket, login_user and login_password, and ssl_mode/ssl_rootcert."
            % (database or params.get("login_db") or "postgres", _describe_target(params), reason)
        )
    conn.autocommit = autocommit
    return conn


class Secret:
    """A query parameter that is sent to the server but shown as REDACTED in `queries`."""

    def __init__(self, value):
        self.value = value


class Db:
    """A connection that runs composed SQL with parameters and remembers what it ran.

    `queries` is what modules return: SQL text with secrets redacted.
    """

    def __init__(self, conn):
        self.conn = conn
        self.queries = []

    def _split(self, params):
        real, shown = [], []
        for p in params or ():
            if isinstance(p, Secret):
                real.append(p.value)
                shown.append(REDACTED)
            else:
                real.append(p)
                shown.append(p)
        return tuple(real), tuple(shown)

    def _text(self, query, shown):
        text = query.as_string(self.conn) if hasattr(query, "as_string") else query
        if not shown:
            return text
        with self.conn.cursor() as cur:
            return cur.mogrify(text, shown).decode("utf-8")

    def render(self, query, params=None):
        """The statement as text, secrets redacted (what ``queries`` shows), without running it."""
        return self._text(query, self._split(params)[1])

    def query(self, query, params=None):
        """Read: rows as dicts. Not recorded in `queries` (nothing changes)."""
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, params)
            return [dict(r) for r in cur.fetchall()]

    def query_one(self, query, params=None):
        rows = self.query(query, params)
        return rows[0] if rows else None

    def execute(self, query, params=None):
        """Write: runs and records the statement (secrets redacted)."""
        real, shown = self._split(params)
        self.queries.append(self._text(query, shown))
        with self.conn.cursor() as cur:
            cur.execute(query, real or None)

    def close(self):
        try:
            self.conn.close()
        except Exception:  # closing a broken connection must not hide the real error
            pass


def timed_connect(params, database=None):
    """Connect and return (conn, latency in ms); used by health checks."""
    start = time.monotonic()
    conn = connect(params, database)
    return conn, round((time.monotonic() - start) * 1000.0, 1)
