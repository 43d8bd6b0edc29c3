"""_report/gather: the parts read from files, without a server (the rest: tests/integration)."""

import datetime

import pytest

from ansible_collections.frende.db.plugins.module_utils._report import gather


def test_the_application_s_settings_come_from_its_url_without_the_password(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = tmp_path / "database.env"
    env.write_text("# managed\nDATABASE_URL=postgresql://frende_app:S3cr%%2Ft@db:5432/frende?sslmode=verify-full"
                   "&sslrootcert=%s\nDATABASE_POOL_SIZE=20\n" % ca)
    env.chmod(0o640)
    found = gather.application_env(str(env))
    assert found == dict(path=str(env), exists=True, mode="0640", sslmode="verify-full", rootcert=str(ca),
                         rootcert_exists=True)
    assert "S3cr" not in str(found)


def test_libpq_variables_and_a_missing_file(tmp_path):
    env = tmp_path / "database.env"
    env.write_text("PGSSLMODE=require\nPGPASSWORD=secret\n")
    env.chmod(0o644)
    found = gather.application_env(str(env))
    assert (found["sslmode"], found["rootcert_exists"], found["mode"]) == ("require", False, "0644")
    assert "secret" not in str(found)
    assert gather.application_env(str(tmp_path / "none.env")) == dict(path=str(tmp_path / "none.env"), exists=False)


def test_event_logs_read_with_their_rotations(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("new\n")
    (tmp_path / "audit.log.1").write_text("old\n")
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    assert gather.read_lines(str(log), since) == ["old\n", "new\n"]
    assert gather.read_lines(str(tmp_path / "missing.log"), since) == []


@pytest.mark.parametrize("findmnt, lsblk, encrypted, words", [
    ("/dev/mapper/data\n", "crypt\npart\ndisk\n", True, "a dm-crypt device"),
    ("/dev/sda1\n", "part\ndisk\n", False, "not on a dm-crypt device"),
    ("overlay\n", None, None, "not a block device"),
    ("/dev/vdb[/pgdata]\n", "disk\n", False, "/dev/vdb"),
])
def test_encryption_at_rest_reads_the_device_stack(monkeypatch, findmnt, lsblk, encrypted, words):
    calls = []

    def run(argv, timeout=30):
        calls.append(argv[0])
        return 0, findmnt if argv[0] == "findmnt" else lsblk, ""
    monkeypatch.setattr(gather, "_run", run)
    found = gather.encryption_at_rest("/var/lib/postgresql/15/main")
    assert found["encrypted"] is encrypted and words in found["evidence"]
    assert calls == (["findmnt", "lsblk"] if lsblk is not None else ["findmnt"])


def test_the_firewall_counters_are_read_without_prometheus_client(tmp_path, monkeypatch):
    metrics = tmp_path / "frende_db_firewall.prom"
    metrics.write_text("# HELP frende_db_firewall_dropped_packets Packets ...\n"
                       "# TYPE frende_db_firewall_dropped_packets gauge\n"
                       'frende_db_firewall_dropped_packets{service="postgresql"} 12\n'
                       'frende_db_firewall_dropped_packets{service="node_exporter"} 0\n')
    monkeypatch.setattr(gather, "_run", lambda argv, timeout=30: (0, "table inet frende_db {}", ""))
    found = gather.firewall_state("nftables", str(metrics))
    assert found == dict(expected="nftables", loaded=True, dropped={"postgresql": 12, "node_exporter": 0})
    missing = gather.firewall_state("nftables", str(tmp_path / "none.prom"))
    assert missing["dropped"] is None and missing["loaded"] is True
    monkeypatch.setattr(gather, "_run", lambda argv, timeout=30: (1, "", "Error: Could not process rule: "
                                                                         "Operation not permitted"))
    assert gather.firewall_state("nftables", str(metrics))["loaded"] is None
    assert gather.firewall_state("none", str(metrics)) == dict(expected="none")
