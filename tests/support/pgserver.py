"""A real, throw-away PostgreSQL server (15, or FRENDE_PG_VERSION) for tests and benchmarks.

Started in a temporary directory on a free port with TLS on (a CA and server
certificate made here), SCRAM passwords, and log_statement=all so that a
secret sent to the server would show up in its log and fail the leak tests.
Runs the server as the ``postgres`` OS user when the tests run as root.
"""

from __future__ import annotations

import datetime
import grp
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Debian 12's PostgreSQL 15 by default; scripts/integration-pg17.sh sets 17 in a Debian 13 test host.
PG_VERSION = os.environ.get("FRENDE_PG_VERSION", "15")
PG_BINDIR = Path(os.environ.get("FRENDE_PG_BINDIR", "/usr/lib/postgresql/%s/bin" % PG_VERSION))
SERVER_NAME = "localhost"  # the only name in the server certificate


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_key(path, key, mode=0o600):
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(mode)


def make_tls(directory, names=(SERVER_NAME,), addresses=()):
    """A private CA and a server certificate for ``names``; returns their paths."""
    directory = Path(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "frende.db test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=400))  # the health check wants 30+ days left
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=400))  # the health check wants 30+ days left
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": directory / "ca.crt",
        "cert": directory / "server.crt",
        "key": directory / "server.key",
    }
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["key"], key)
    return paths


HBA = """\
# frende.db test server
local   all  all                 scram-sha-256
hostssl all  all  127.0.0.1/32   scram-sha-256
hostssl all  all  ::1/128        scram-sha-256
host    all  all  127.0.0.1/32   scram-sha-256
host    all  all  ::1/128        scram-sha-256
"""

CONF = """
# frende.db test server: the security document's policy, plus full statement logging
listen_addresses = 'localhost'
port = {port}
unix_socket_directories = '{sockdir}'
ssl = on
ssl_cert_file = '{cert}'
ssl_key_file = '{key}'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
max_connections = 200
authentication_timeout = 60s
log_connections = on
log_disconnections = on
log_statement = 'all'
log_line_prefix = '%m [%p] %q%u@%d from %h '
shared_preload_libraries = 'pg_stat_statements'
fsync = off
"""


class PgServer:
    """One PostgreSQL cluster in a temporary directory; use as a context manager."""

    def __init__(self, base_dir=None, port=None):
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="frende-pg-"))
        self.port = port or free_port()
        self.password = "pg-" + secrets.token_urlsafe(18)
        self.data = self.base / "data"
        self.sockdir = self.base / "sock"
        self.log = self.base / "server.log"
        self.tls = None
        self._as_postgres = os.geteuid() == 0

    # -- process helpers -------------------------------------------------
    def _run(self, *args, check=True):
        kwargs = {}
        if self._as_postgres:
            kwargs = dict(user="postgres", group="postgres", extra_groups=[])
        return subprocess.run(
            [str(PG_BINDIR / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            cwd=str(self.base),
            **kwargs,
        )

    def _chown(self, path):
        if self._as_postgres:
            os.chown(path, pwd.getpwnam("postgres").pw_uid, grp.getgrnam("postgres").gr_gid)

    # -- lifecycle --------------------------------------------------------
    def start(self):
        self.base.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        tls_dir = self.base / "tls"
        tls_dir.mkdir(exist_ok=True)
        self.tls = make_tls(tls_dir)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        for p in (self.base, self.sockdir, tls_dir, pwfile, self.tls["key"], self.tls["cert"], self.tls["ca"]):
            self._chown(p)
        self._run(
            "initdb", "-D", str(self.data), "--data-checksums", "-U", "postgres", "--pwfile", str(pwfile),
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )
        pwfile.unlink()
        (self.data / "pg_hba.conf").write_text(HBA)
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(CONF.format(port=self.port, sockdir=self.sockdir,
                                   cert=self.tls["cert"], key=self.tls["key"]))
        self.log.touch()
        self._chown(self.log)
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start", check=False)
        if result.returncode != 0:
            raise RuntimeError("test PostgreSQL did not start:\n%s\n%s\n%s"
                               % (result.stdout, result.stderr, self.log.read_text()))
        return self

    def stop(self):
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()

    # -- how to reach it -------------------------------------------------
    def params(self, **overrides):
        """Module connection options for the superuser over TLS with a verified certificate."""
        params = dict(
            login_host=SERVER_NAME,
            login_port=self.port,
            login_user="postgres",
            login_password=self.password,
            ssl_mode="verify-full",
            ssl_rootcert=str(self.tls["ca"]),
        )
        params.update(overrides)
        return params

    def dsn(self, dbname="postgres", user="postgres", password=None, sslmode="verify-full"):
        return (
            "host=%s port=%d dbname=%s user=%s password=%s sslmode=%s sslrootcert=%s"
            % (SERVER_NAME, self.port, dbname, user, password or self.password, sslmode, self.tls["ca"])
        )

    def env(self):
        """libpq environment for client tools (psql, pg_dump) run by tests."""
        return dict(
            os.environ,
            PGHOST=SERVER_NAME,
            PGPORT=str(self.port),
            PGUSER="postgres",
            PGPASSWORD=self.password,
            PGSSLMODE="verify-full",
            PGSSLROOTCERT=str(self.tls["ca"]),
        )

    def connect(self, dbname="postgres", user="postgres", password=None):
        import psycopg2

        conn = psycopg2.connect(self.dsn(dbname, user, password))
        conn.autocommit = True
        return conn

    def sql(self, query, params=None, dbname="postgres"):
        """Run one statement as superuser; return all rows (or [] for commands)."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def server_log(self):
        return self.log.read_text(errors="replace")

    def describe(self):
        return dict(base=str(self.base), port=self.port, password=self.password,
                    ca=str(self.tls["ca"]), log=str(self.log), host=SERVER_NAME)


def main(argv):
    """python -m tests.support.pgserver start|stop DIR: a server for manual runs and bench/."""
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: python -m tests.support.pgserver start|stop DIR", file=sys.stderr)
        return 2
    base = Path(argv[2])
    if argv[1] == "start":
        server = PgServer(base).start()
        (base / "server.json").write_text(json.dumps(server.describe()))
        print(json.dumps(server.describe()))
    else:
        info = json.loads((base / "server.json").read_text())
        server = PgServer(base, port=info["port"])
        server.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
