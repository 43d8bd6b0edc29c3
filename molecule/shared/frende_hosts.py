# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the Molecule verify tests: real commands on the podman hosts and
real ansible-playbook runs of the project's playbooks against them."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PODMAN_ENV = dict(os.environ, CONTAINERS_CONF=os.environ.get(
    "CONTAINERS_CONF", str(REPO / "scripts" / "podman" / "containers.conf")))
PASSWORD = os.environ.get("DB_APP_PASSWORD", "Molecule/Test:pw@frende%1")
# The Debian release of the scenario's hosts (scripts/molecule.sh: default@trixie) and its PostgreSQL.
RELEASE = os.environ.get("FRENDE_TEST_RELEASE", "bookworm")
PG_VERSION = {"bookworm": "15", "trixie": "17"}[RELEASE]
PG_CONF = "/etc/postgresql/%s/main" % PG_VERSION
PG_LOG = "/var/log/postgresql/postgresql-%s-main.log" % PG_VERSION


def sh(host, script, check=True, user=None):
    """Run ``script`` with /bin/sh in the container ``host``; returns CompletedProcess (text)."""
    argv = ["podman", "exec", "-i"]
    if user:
        argv += ["--user", user]
    argv += [host, "/bin/sh", "-c", script]
    # Checked here, to raise with the script, the host and both outputs.
    proc = subprocess.run(argv, capture_output=True, text=True, env=PODMAN_ENV, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s on %s failed (%d):\n%s\n%s" % (script, host, proc.returncode, proc.stdout, proc.stderr))
    return proc


def psql_postgres(sql, db="frende", check=True):
    """Run SQL as the postgres superuser over the database host's socket; rows as lists of strings."""
    proc = sh("frende-db", "runuser -u postgres -- psql -X -A -t -q -v ON_ERROR_STOP=1 -F '|' -d %s" % db
              + " <<'SQL'\n" + sql + "\nSQL", check=check)
    return proc


def app_psql(sql, host="frende-app", conninfo=None, password=PASSWORD):
    """Run SQL as the application user from ``host``; the password travels in PGPASSWORD via stdin."""
    conninfo = conninfo or ("host=frende-db dbname=frende user=frende_app sslmode=verify-full "
                            "sslrootcert=/etc/frende/db/ca.crt")
    script = "read -r PGPASSWORD; export PGPASSWORD; psql -X -A -t -q -v ON_ERROR_STOP=1 '%s' -c \"$1\"" % conninfo
    argv = ["podman", "exec", "-i", host, "/bin/sh", "-c", script, "sh", sql]
    # Callers assert on the outcome: refused logins are expected results.
    return subprocess.run(argv, input=password + "\n", capture_output=True, text=True, env=PODMAN_ENV, timeout=120,
                          check=False)


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update(
        PODMAN_ENV,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
        ANSIBLE_CONNECTION_PLUGINS=str(REPO / "tests" / "support" / "connection_plugins"),
        ANSIBLE_PIPELINING="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
        DB_APP_PASSWORD=PASSWORD,
    )
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_CALLBACKS_ENABLED"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def playbook(name, *args, json_output=False, env=None):
    """ansible-playbook playbooks/<name> against the Molecule inventory. Returns CompletedProcess."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    extra = dict(env or {})
    if json_output:
        extra.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", inventory, str(REPO / "playbooks" / name)] + list(args)
    # Callers assert on the return code and the output (some runs are meant to fail).
    return subprocess.run(argv, capture_output=True, text=True, env=ansible_env(extra), timeout=900, cwd=str(REPO),
                          check=False)


def recap(output):
    """{host: {ok: n, changed: n, failed: n, ...}} from the default callback's PLAY RECAP."""
    stats = {}
    for host, fields in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        stats[host] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", fields))
    return stats


def task_results(json_text, task_name):
    """Per-host results of the task named ``task_name`` from the ansible.posix.json callback output."""
    start = json_text.find("{")
    document = json.loads(json_text[start:])
    found = {}
    for play in document["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(task_name):
                found.update(task["hosts"])
    return found
