"""files/libexec/check-pg-hba against a real Debian cluster: a candidate is judged as the live
server would judge it, and it never goes where the live server could load it."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "roles" / "frende_db" / "files" / "libexec" / "check-pg-hba"
VERSION, CLUSTER = "15", "frendetest"  # the debian_cluster fixture's
LIVE = Path("/etc/postgresql/%s/%s/pg_hba.conf" % (VERSION, CLUSTER))

GOOD = """local all postgres peer
host frende frende_app 10.0.0.5/32 scram-sha-256
host all all 0.0.0.0/0 reject
"""
BAD = """local all postgres peer
host frende frende_app app1.example.com/32 scram-sha-256
host frende frende_app 10.0.0.5/32 scram-sha-257
"""


@pytest.fixture
def cluster(debian_cluster):
    return debian_cluster


def check(tmp_path, text):
    candidate = tmp_path / "candidate"
    candidate.write_text(text)
    candidate.chmod(0o600)  # as ansible's validate leaves it: root's, unreadable to postgres
    return subprocess.run(["sh", str(CHECK), VERSION, CLUSTER, str(candidate)], capture_output=True, text=True,
                          check=False)


def test_good_rules_pass_and_bad_ones_are_named_by_line(cluster, tmp_path):
    assert check(tmp_path, GOOD).returncode == 0
    proc = check(tmp_path, BAD)
    assert proc.returncode == 1
    assert 'line 2: specifying both host name and CIDR mask is invalid: "app1.example.com/32"' in proc.stderr
    assert 'line 3: invalid authentication method "scram-sha-257"' in proc.stderr
    assert "the live rules are unchanged" in proc.stderr


def test_the_live_file_is_never_the_candidate_even_for_a_moment(cluster, tmp_path):
    """Watch the live file while checks run; reload the live server meanwhile: it never sees the candidate."""
    live = LIVE.read_bytes()
    rules = cluster.psql("SELECT count(*) FROM pg_hba_file_rules")
    seen, stop = set(), threading.Event()

    def watch():
        while not stop.is_set():
            seen.add(LIVE.read_bytes())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for dummy in range(3):
            reloads = subprocess.Popen(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do runuser -u postgres -- "
                                        "psql --cluster %s/%s -XAtq -d postgres -c 'SELECT pg_reload_conf()'; "
                                        "sleep 0.05; done" % (VERSION, CLUSTER)], stdout=subprocess.DEVNULL)
            check(tmp_path, BAD)
            reloads.wait()
    finally:
        stop.set()
        watcher.join()
    assert seen == {live}
    assert cluster.psql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0\n"
    assert cluster.psql("SELECT count(*) FROM pg_hba_file_rules") == rules


def scratch_dirs():
    return list(Path("/tmp").glob("frende-db-hba-check.*"))


def killed_during_initdb():
    """initdb's bootstrap and single-user backends hold data/postmaster.pid before pg_ctl starts a server."""
    return [d for d in scratch_dirs() if (d / "data" / "postmaster.pid").exists() and not (d / "server.log").exists()]


def killed_with_a_server():
    return [d for d in scratch_dirs() if (d / "data" / "postmaster.pid").exists() and (d / "server.log").exists()]


@pytest.mark.parametrize("moment", [killed_during_initdb, killed_with_a_server], ids=["initdb", "server"])
def test_a_killed_check_leaves_the_live_file_alone_and_the_next_one_cleans_up(cluster, tmp_path, moment):
    live = LIVE.read_bytes()
    candidate = tmp_path / "candidate"
    candidate.write_text(GOOD)
    proc = subprocess.Popen(["sh", str(CHECK), VERSION, CLUSTER, str(candidate)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not moment():
        time.sleep(0.005)
    assert moment(), "the check never reached the moment to kill it at"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert LIVE.read_bytes() == live
    assert check(tmp_path, GOOD).returncode == 0
    assert not scratch_dirs(), "the next check did not remove what the killed one left"
