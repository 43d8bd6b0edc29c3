"""frende.db.frende_db_backup through ansible-playbook, against a real PostgreSQL (15, or 17 through scripts/integration-pg17.sh)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support import log_lines
from tests.support.backup_helpers import (
    APP_PASSWORD, checksums, create_app_db, database_facts, databases, drop_databases, watch_command_lines)
from tests.support.log_lines import find
from tests.support.playbook import run_module, run_module_verbose

DB = "bkmod"
MODULE = "frende_db_backup"


@pytest.fixture
def bk(tmp_path):
    return dict(dir=tmp_path / "backups", log=tmp_path / "log" / "backup.log")


@pytest.fixture
def app_db(pg):
    create_app_db(pg, DB)
    yield DB
    drop_databases(pg, DB)


def args(pg, bk, **options):
    params = pg.params(backup_dir=str(bk["dir"]), log_file=str(bk["log"]))
    params.update(options)
    return params


def test_backup_list_restore_swap_keeps_database_properties(pg, bk, app_db):
    facts = database_facts(pg, DB)
    before = checksums(pg, DB)
    result = run_module(MODULE, args(pg, bk, action="backup", database=DB))
    assert not result.failed, result.get("msg")
    assert result.changed is True
    manifest = result["backup"]
    assert manifest["database"] == DB and manifest["tables"]["app.users"] == 200
    assert Path(result["path"]).exists()

    listed = run_module(MODULE, args(pg, bk, action="list"))
    assert listed.changed is False
    assert [b["name"] for b in listed["backups"]] == [manifest["name"]]
    assert listed["backups"][0]["verified"]["state"] == "never"

    pg.sql("TRUNCATE app.messages", dbname=DB)
    restored = run_module(MODULE, args(pg, bk, action="restore", backup_file=manifest["name"]))
    assert not restored.failed, restored.get("msg")
    assert restored.changed is True and restored["duration_s"] > 0
    previous = restored["restore"]["previous_database"]
    assert previous.startswith(DB + "_pre_restore_") and previous in databases(pg, DB)
    assert checksums(pg, DB) == before
    assert pg.sql("SELECT count(*) FROM app.messages", dbname=previous)[0][0] == 0
    # Owner, CONNECT grants and ALTER DATABASE / ALTER ROLE IN DATABASE settings survived the swap.
    assert database_facts(pg, DB) == facts
    conn = pg.connect(DB, user="bk_app", password=APP_PASSWORD)
    with conn.cursor() as cur:
        cur.execute("SHOW work_mem")
        assert cur.fetchone()[0] == "8MB"
    conn.close()


def test_restore_without_keeping_the_previous_database(pg, bk, app_db):
    result = run_module(MODULE, args(pg, bk, action="backup", database=DB))
    assert not result.failed, result.get("msg")
    restored = run_module(MODULE, args(pg, bk, action="restore", backup_file="latest", keep_previous=False))
    assert not restored.failed, restored.get("msg")
    assert restored["restore"]["previous_database"] is None
    assert databases(pg, DB) == [DB]


def snapshot(pg, bk):
    files = sorted(os.listdir(bk["dir"])) if bk["dir"].exists() else None
    log = bk["log"].read_text() if bk["log"].exists() else None
    return files, log, databases(pg, DB)


def test_check_mode_changes_nothing_and_predicts(pg, bk, app_db):
    result = run_module(MODULE, args(pg, bk, action="backup", database=DB), check=True)
    assert not result.failed and result.changed is True and result["backup"] is None
    assert "Would back up database bkmod" in result["msg"]
    assert not bk["dir"].exists() and not bk["log"].exists()

    real = run_module(MODULE, args(pg, bk, action="backup", database=DB))
    assert not real.failed, real.get("msg")
    state = snapshot(pg, bk)
    live = checksums(pg, DB)
    for action, extra, changed in (
            ("backup", dict(database=DB), True),
            ("restore", dict(backup_file="latest"), True),
            ("restore", dict(backup_file="latest", target_database=DB + "_other"), True),
            ("verify", dict(deep=True), False),
            ("verify", dict(), False),
            ("cleanup", dict(retention_days=1, keep_min=1), False),
            ("drill", dict(), True),
            ("list", dict(), False)):
        result = run_module(MODULE, args(pg, bk, action=action, **extra), check=True)
        assert not result.failed, (action, result.get("msg"))
        assert result.changed is changed, (action, result.result)
        assert snapshot(pg, bk) == state, action
    assert checksums(pg, DB) == live
    restore = run_module(MODULE, args(pg, bk, action="restore", backup_file="latest"), check=True)
    assert "Would restore %s and replace bkmod (kept as bkmod_pre_restore_" % real["backup"]["name"] in restore["msg"]


def test_cleanup_in_check_mode_says_what_would_go_and_diff(pg, bk, app_db):
    first = run_module(MODULE, args(pg, bk, action="backup", database=DB))["backup"]
    manifest_path = bk["dir"] / (first["name"] + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["finished_at"] = "2020-01-01T00:00:00+00:00"
    manifest_path.write_text(json.dumps(manifest))
    time.sleep(1)
    second = run_module(MODULE, args(pg, bk, action="backup", database=DB))["backup"]
    # Only a set that passed verification counts towards keep_min (as backup.yml runs it: backup, verify, cleanup).
    unverified = run_module(MODULE, args(pg, bk, action="cleanup", keep_min=1), check=True)
    assert unverified.changed is False and unverified["removed"] == []
    assert not run_module(MODULE, args(pg, bk, action="verify", backup_file=second["name"])).failed
    predicted = run_module(MODULE, args(pg, bk, action="cleanup", keep_min=1), check=True, diff=True)
    assert predicted.changed is True and predicted["removed"] == [first["name"]]
    assert first["name"] in predicted["diff"]["before"] and first["name"] not in predicted["diff"]["after"]
    assert manifest_path.exists()
    done = run_module(MODULE, args(pg, bk, action="cleanup", keep_min=1))
    assert done.changed is True and done["removed"] == [first["name"]]
    assert not [f for f in os.listdir(bk["dir"]) if f.startswith(first["name"])]
    again = run_module(MODULE, args(pg, bk, action="cleanup", keep_min=1))
    assert again.changed is False and again["removed"] == [] and again["kept"] == [second["name"]]


def test_verify_failure_fails_the_task_and_is_recorded(pg, bk, app_db):
    manifest = run_module(MODULE, args(pg, bk, action="backup", database=DB))["backup"]
    dump = bk["dir"] / manifest["files"]["dump"]["name"]
    data = bytearray(dump.read_bytes())
    data[100] ^= 0xFF
    dump.write_bytes(bytes(data))
    result = run_module(MODULE, args(pg, bk, action="verify", backup_file=manifest["name"]))
    assert result.failed and result.changed is False
    assert "does not match its SHA-256" in result["msg"]
    assert result["verification"]["ok"] is False
    record = json.loads((bk["dir"] / (manifest["name"] + ".verify.json")).read_text())
    assert record["ok"] is False and "SHA-256" in record["error"]
    restore = run_module(MODULE, args(pg, bk, action="restore", backup_file="latest"))
    assert restore.failed and "Refusing to restore" in restore["msg"] and "Nothing was changed" in restore["msg"]
    assert databases(pg, DB) == [DB]


def test_drill_fails_the_task_when_a_target_is_missed(pg, bk, app_db):
    assert not run_module(MODULE, args(pg, bk, action="backup", database=DB)).failed
    ok = run_module(MODULE, args(pg, bk, action="drill", database=DB))
    assert not ok.failed, ok.get("msg")
    assert ok["report"]["passed"] is True and ok.changed is True
    time.sleep(1.1)
    missed = run_module(MODULE, args(pg, bk, action="drill", database=DB, rpo_target="1s"))
    assert missed.failed
    assert missed["report"]["rpo_met"] is False and "RPO target of 1s" in missed["msg"]
    assert Path(missed["report"]["report_file"]).exists()


@pytest.mark.parametrize("options,fragment", [
    (dict(action="restore", backup_file="bkmod-20200101T000000Z"), "No backup named bkmod-20200101T000000Z"),
    (dict(action="verify", backup_file="/etc/passwd"), "outside the backup directory"),
    (dict(action="explode"), "value of action must be one of"),
    (dict(action="backup", database='x"; DROP TABLE t; --'), "is not an accepted name"),
    (dict(action="restore", backup_file="latest", target_database="a'b"), "is not an accepted name"),
    (dict(action="cleanup", retention_days=0), "retention_days must be at least 1"),
    (dict(action="cleanup", keep_min=-1), "keep_min must be at least 1"),
    (dict(action="restore", backup_file="latest", jobs="x"), "argument 'jobs' is of type"),
    (dict(action="drill", rpo_target="yesterday"), "rpo_target must be a duration"),
    (dict(action="backup"), "action is backup but all of the following are missing: database"),
    (dict(action="backup", database=DB, backup_dir="relative"), "backup_dir must be an absolute path"),
])
def test_bad_input_fails_clearly_and_changes_nothing(pg, bk, app_db, options, fragment):
    bk["dir"].mkdir(mode=0o700)
    before = databases(pg, DB)
    result = run_module(MODULE, args(pg, bk, **options))
    assert result.failed
    assert fragment in result["msg"], result["msg"]
    assert os.listdir(bk["dir"]) == [] and databases(pg, DB) == before


def test_password_never_leaks(pg, bk, app_db):
    with watch_command_lines() as seen:
        text = run_module_verbose(MODULE, args(pg, bk, action="backup", database=DB))
        text += run_module_verbose(MODULE, args(pg, bk, action="restore", backup_file="latest",
                                                target_database=DB + "_leak"))
    assert "changed: [localhost]" in text
    assert "pg_dump" in " ".join(seen)
    assert pg.password not in text
    assert not [line for line in seen if pg.password in line]
    assert pg.password not in bk["log"].read_text()
    assert pg.password not in pg.server_log()
    # The module writes the command's one line format, under its own name.
    entries = log_lines.read(bk["log"])
    assert {e["prog"] for e in entries} == {"frende.db.frende_db_backup"}
    assert find(entries, "INFO", "backup", "done", database=DB)
    assert find(entries, "INFO", "restore", "done", database=DB + "_leak")
