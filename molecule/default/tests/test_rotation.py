# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the password rotation without an outage (playbooks/rotate_password.yml), and of the audit trail
it leaves. Runs last (file order): afterwards the application password is the new one.

While both phases run, a client on the application server opens a new verify-full connection every
100 ms, reading database.env again before each one, and counts its failures: there must be none.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

from frende_hosts import PASSWORD, PG_LOG, PODMAN_ENV, app_psql, playbook, psql_postgres, recap, sh

DB, APP = "frende-db", "frende-app"
NEW = "Rotated/Test:pw@frende%2-new"
LOOP = r"""
rm -f /tmp/rotation-stop; : > /tmp/rotation.err; ok=0; failed=0
while [ ! -e /tmp/rotation-stop ]; do
  url=$(sed -n 's/^DATABASE_URL=//p' /etc/frende/db/database.env)
  if psql -X -At "$url" -c 'SELECT current_user' >>/tmp/rotation.users 2>>/tmp/rotation.err; then ok=$((ok+1)); else failed=$((failed+1)); fi
  echo "$ok $failed" > /tmp/rotation.count
  sleep 0.1
done
"""


def start_client():
    sh(APP, "rm -f /tmp/rotation.count /tmp/rotation.users")
    subprocess.run(["podman", "exec", "-d", APP, "/bin/sh", "-c", LOOP], env=PODMAN_ENV, check=True)
    deadline = time.time() + 30
    while sh(APP, "cat /tmp/rotation.count 2>/dev/null || true").stdout.strip() in ("", "0 0"):
        assert time.time() < deadline, "the client loop did not connect"
        time.sleep(0.5)


def client_counts():
    ok, failed = sh(APP, "cat /tmp/rotation.count").stdout.split()
    return int(ok), int(failed)


def record():
    return json.loads(sh(DB, "cat /etc/frende/db/app-login.json").stdout)


def as_role(role, password, sql="SELECT 1"):
    return app_psql(sql, conninfo="host=frende-db dbname=frende user=%s sslmode=verify-full "
                                  "sslrootcert=/etc/frende/db/ca.crt connect_timeout=5" % role, password=password)


def test_a_rotation_in_two_phases_loses_no_connection():
    before = record()
    assert before["active"] == "frende_app" and before["phase"] == "done"
    start_client()
    try:
        one = playbook("rotate_password.yml", env={"DB_APP_PASSWORD": NEW})
        assert one.returncode == 0, one.stdout[-4000:]
        state = record()
        assert (state["active"], state["previous"], state["phase"]) == ("frende_app_alt", "frende_app", "pending")
        env = sh(APP, "cat /etc/frende/db/database.env").stdout
        assert "postgresql://frende_app_alt:" in env
        # Between the phases both work: the old credentials and the new ones.
        assert as_role("frende_app", PASSWORD).stdout.strip() == "1"
        assert as_role("frende_app_alt", NEW).stdout.strip() == "1"
        again = playbook("rotate_password.yml", env={"DB_APP_PASSWORD": NEW})
        assert again.returncode == 0 and all(s["changed"] == 0 for s in recap(again.stdout).values()), again.stdout[-3000:]

        # An application still on the old credentials: phase 2 refuses and changes nothing.
        subprocess.run(["podman", "exec", "-d", APP, "/bin/sh", "-c",
                        "PGPASSWORD='%s' psql -X 'host=frende-db dbname=frende user=frende_app sslmode=verify-full "
                        "sslrootcert=/etc/frende/db/ca.crt' -c 'SELECT pg_sleep(60)'" % PASSWORD],
                       env=PODMAN_ENV, check=True)
        time.sleep(2)
        early = playbook("rotate_password.yml", "-e", "rotation_finish=true", env={"DB_APP_PASSWORD": NEW})
        assert early.returncode != 0
        assert "an application server has not restarted with the new database.env yet. Nothing was changed" \
            in " ".join(early.stdout.split())
        assert record()["phase"] == "pending" and as_role("frende_app", PASSWORD).stdout.strip() == "1"
        # That application restarts: its client goes, and its session with it (pg_sleep would outlive the client).
        sh(APP, "pkill -f 'pg_slee[p]' || true")  # the bracket keeps pkill from matching its own shell
        psql_postgres("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'frende_app';")
        time.sleep(1)

        two = playbook("rotate_password.yml", "-e", "rotation_finish=true", env={"DB_APP_PASSWORD": NEW})
        assert two.returncode == 0, two.stdout[-4000:]
        time.sleep(1)
    finally:
        sh(APP, "touch /tmp/rotation-stop")
        time.sleep(0.5)
    ok, failed = client_counts()
    errors = sh(APP, "cat /tmp/rotation.err").stdout
    assert failed == 0, errors
    assert ok >= 20
    users = set(sh(APP, "cat /tmp/rotation.users").stdout.split())
    assert users == {"frende_app", "frende_app_alt"}  # it really went from the one to the other
    state = record()
    assert (state["active"], state["previous"], state["phase"]) == ("frende_app_alt", None, "done")
    # After phase 2 the old password is refused; the new one works.
    refused = as_role("frende_app", PASSWORD)
    assert refused.returncode != 0 and "not permitted to log in" in refused.stderr, refused.stderr
    assert as_role("frende_app_alt", NEW).stdout.strip() == "1"


def test_setup_keeps_the_rotation_and_the_password_age_is_fresh():
    run = playbook("setup.yml", env={"DB_APP_PASSWORD": NEW})
    assert run.returncode == 0, run.stdout[-3000:]
    assert all(s["changed"] == 0 for s in recap(run.stdout).values()), run.stdout[-5000:]
    health = playbook("health.yml", "-e", "frende_db_health_fail_on=never", env={"DB_APP_PASSWORD": NEW})
    assert health.returncode == 0
    assert re.search(r"healthy \| password_age \| The password of frende_app_alt was set \d+s ago", health.stdout), \
        health.stdout[-3000:]


def test_the_audit_trail_has_the_role_changes_without_any_password_or_verifier():
    log = sh(DB, "cat " + PG_LOG).stdout
    assert "AUDIT: SESSION" in log and "ALTER ROLE" in log and "<REDACTED>" in log
    verifier = sh(DB, "runuser -u postgres -- psql -XAtc \"SELECT rolpassword FROM pg_authid WHERE rolname = "
                      "'frende_app_alt'\"").stdout.strip()
    assert verifier.startswith("SCRAM-SHA-256$")
    for secret in (NEW, PASSWORD, verifier, verifier.split("$")[2]):
        assert secret not in log


def test_every_changing_run_left_one_line_in_the_collections_own_audit_trail():
    trail = sh(DB, "cat /var/log/frende/audit.log").stdout.splitlines()
    setup = [l for l in trail if 'playbook="setup.yml"' in l]
    assert setup and "Write the server settings" in setup[0], trail[:3]
    rotations = [l for l in trail if 'playbook="rotate_password.yml"' in l]
    # phase 1, the refused early phase 2 changed nothing, phase 2; the repeated phase 1 changed nothing either
    assert len(rotations) == 2, rotations
    assert "Set the new password on the login role not in use" in rotations[0]
    assert "Close the old login role" in rotations[1]
    assert all(re.search(r' user="[^"]+" awx_job="-" tasks=\d+ msg=', l) for l in rotations)
    app = [l for l in sh(APP, "cat /var/log/frende/audit.log").stdout.splitlines() if "rotate_password.yml" in l]
    assert len(app) == 1 and "Write the application's database settings" in app[0]
    for secret in (NEW, PASSWORD):
        assert secret not in "\n".join(trail + app)
