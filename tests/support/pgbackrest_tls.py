"""A real pgBackRest TLS server on localhost for integration tests, and the certificates both sides need.

The server runs as postgres, as on a database host (frende_db role, pgbackrest.service), and admits the
client certificates named in ``auth`` (``cn=stanza``), as the role configures it for the backup host.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.pgserver import free_port


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(directory, names, ca_name="frende.db test pgBackRest CA"):
    """A CA and one certificate per name (CN and DNS name, plus localhost; server and client use).

    Returns {"ca": path, name: (cert path, key path)}; keys are root:postgres 0640, as the role deploys them.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name(ca_name)).issuer_name(_name(ca_name))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.crt"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    gid = pwd.getpwnam("postgres").pw_gid
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(ca_name))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name), x509.DNSName("localhost")]),
                               critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path, key_path = directory / (name + ".crt"), directory / (name + ".key")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chown(key_path, 0, gid)
        key_path.chmod(0o640)
        paths[name] = (cert_path, key_path)
    for path in [directory] + list(directory.iterdir()):
        if not path.name.endswith(".key"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    return paths


def _listening(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def tls_server(directory, pki, name, auth):
    """``pgbackrest server`` as postgres on 127.0.0.1 with ``name``'s certificate; yields its port."""
    port = free_port()
    cert, key = pki[name]
    config = Path(directory) / ("server-%s.conf" % name)
    config.write_text("[global]\nlog-level-console=off\nlog-level-stderr=off\nlog-level-file=off\n"
                      "tls-server-address=127.0.0.1\ntls-server-port=%d\ntls-server-cert-file=%s\n"
                      "tls-server-key-file=%s\ntls-server-ca-file=%s\n%s" % (
                          port, cert, key, pki["ca"], "".join("tls-server-auth=%s\n" % a for a in auth)))
    config.chmod(0o644)
    proc = subprocess.Popen(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % config, "server"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            assert proc.poll() is None, "pgbackrest server exited with %s" % proc.returncode
            assert time.monotonic() < deadline, "pgbackrest server did not listen on %d" % port
            time.sleep(0.1)
        yield port
    finally:
        subprocess.run(["pkill", "-TERM", "-P", str(proc.pid)], check=False)
        proc.terminate()
        proc.wait(timeout=20)
