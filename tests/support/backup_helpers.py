"""Helpers for the backup integration tests: sample databases, checksums, the command, age keys."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMAND = str(REPO / "bin" / "frende-db-backup")
APP_ROLE = "bk_app"
OWNER_ROLE = "bk_owner"
APP_PASSWORD = "bk-app-pw-7c1d"


def ensure_roles(pg):
    pg.sql("""SET log_statement = 'none';
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bk_owner') THEN CREATE ROLE bk_owner NOLOGIN; END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bk_app') THEN
            CREATE ROLE bk_app LOGIN PASSWORD '%s'; END IF;
        END $$;""" % APP_PASSWORD)


def create_app_db(pg, name, rows=200):
    """A small Frende-like database owned by bk_owner, with the app role's CONNECT grant and settings."""
    ensure_roles(pg)
    drop_databases(pg, name)
    pg.sql('CREATE DATABASE "%s" OWNER bk_owner' % name)
    pg.sql('REVOKE ALL ON DATABASE "%s" FROM PUBLIC; GRANT CONNECT ON DATABASE "%s" TO bk_app;'
           'ALTER DATABASE "%s" SET statement_timeout = \'7s\';'
           'ALTER DATABASE "%s" SET search_path = app, public;'
           'ALTER ROLE bk_app IN DATABASE "%s" SET work_mem = \'8MB\'' % (name, name, name, name, name))
    pg.sql("""
        SET ROLE bk_owner;
        CREATE SCHEMA app;
        CREATE TABLE app.users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz NOT NULL);
        CREATE TABLE app.messages (id bigserial PRIMARY KEY, user_id bigint REFERENCES app.users(id),
                                   body text NOT NULL);
        CREATE TABLE public.settings (key text PRIMARY KEY, value text);
        INSERT INTO app.users SELECT g, 'user' || g || '@example.org', '2026-01-01'::timestamptz + g * interval '1 min'
          FROM generate_series(1, %d) g;
        INSERT INTO app.messages (user_id, body) SELECT 1 + g %% %d, md5(g::text) || ' hello ' || g
          FROM generate_series(1, %d) g;
        INSERT INTO public.settings VALUES ('theme', 'dark'), ('it''s', 'quoted');
        GRANT USAGE ON SCHEMA app TO bk_app;
        GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA app TO bk_app;
    """ % (rows, rows, rows * 3), dbname=name)
    return name


def checksums(pg, dbname):
    """{schema.table: md5 of all rows in order}: equal checksums mean equal data."""
    tables = pg.sql("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "ORDER BY 1, 2", dbname=dbname)
    result = {}
    for schema, table in tables:
        rows = pg.sql('SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) '
                      'FROM "%s"."%s" t' % (schema, table), dbname=dbname)
        result["%s.%s" % (schema, table)] = rows[0]
    return result


def databases(pg, prefix):
    return sorted(r[0] for r in pg.sql("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)))


def drop_databases(pg, prefix):
    for name in databases(pg, prefix):
        pg.sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def database_facts(pg, name):
    """Owner, ACL and settings of a database, for before/after comparisons."""
    owner, acl = pg.sql("SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = %s",
                        (name,))[0]
    settings = pg.sql("SELECT coalesce(r.rolname, '-'), s.setconfig FROM pg_db_role_setting s "
                      "JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole "
                      "WHERE d.datname = %s ORDER BY 1", (name,))
    return dict(owner=owner, acl=acl, settings=[(r, sorted(c)) for r, c in settings])


def run_cli(pg, *args, env=None, timeout=600, json_out=True, **popen):
    """Run frende-db-backup as cron would (through its own shebang) with libpq env; returns (proc, doc)."""
    full_env = pg.env() if pg is not None else dict(os.environ)
    full_env.update(env or {})
    argv = [COMMAND] + [str(a) for a in args] + (["--json"] if json_out else [])
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False, **popen)
    doc = None
    if json_out and proc.stdout.strip().startswith("{"):
        doc = json.loads(proc.stdout)
    return proc, doc


@contextlib.contextmanager
def watch_command_lines(interval=0.01):
    """Collects the command line of every process seen while the block runs (a list, filled as it goes).

    A secret on a command line is visible to every user of the host in /proc.
    """
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        seen.append(Path("/proc/%s/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode())
                    except OSError:
                        pass
            time.sleep(interval)

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def age_identity(directory, name="identity.txt"):
    """A test age identity, readable by the database's OS user as an operator would hand it over;
    returns (identity path, public recipient)."""
    path = Path(directory) / name
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    give_to_postgres(path)
    recipient = subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True,
                               text=True).stdout.strip()
    return str(path), recipient


def give_to_postgres(path):
    """chown ``path`` to postgres when running as root (the commands run as postgres then)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def open_for_postgres(path):
    """Hand ``path`` to postgres and let postgres through its parents (up to /tmp), as /var/backups and
    /var/log/frende let the database user through on a database host."""
    give_to_postgres(path)
    for parent in Path(path).parents:
        if str(parent) in ("/", "/tmp"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, (mode & 0o7777) | 0o011)
    return path


def postgres_dir(path):
    """A directory made by the test and handed to postgres, as the role prepares the backup directory."""
    Path(path).mkdir(mode=0o700)
    return give_to_postgres(path)


def secret_key_of(identity_path):
    return [line for line in Path(identity_path).read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")][0]


def python():
    return sys.executable
