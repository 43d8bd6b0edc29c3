# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of the backup engine, shared by the module and the frende-db-backup command.

Private to frende.db; stdlib only. The module's argument spec, the command's
flags and the keys of /etc/frende/db/backup.conf are all made from OPTIONS, so
the three front doors cannot drift apart. ``normalize()`` checks every value
and returns the engine's view of them.
"""

from __future__ import annotations

import copy
import os
import re

from ansible_collections.frende.db.plugins.module_utils._command import to_choice, to_int, to_os_user, to_path
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._metrics.textfile import DEFAULT_PATH as DEFAULT_METRICS_FILE
from ansible_collections.frende.db.plugins.module_utils._metrics.textfile import check_path as check_metrics_file
from ansible_collections.frende.db.plugins.module_utils._postgres import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    connection_argument_spec,
    validate_identifier,
)
from ansible_collections.frende.db.plugins.module_utils._units import parse_duration

ACTIONS = ["backup", "list", "restore", "verify", "cleanup", "drill"]
COMPRESSIONS = ["zstd", "gzip"]
GLOBALS_MODES = ["auto", "always", "never"]
DEFAULT_BACKUP_DIR = "/var/backups/frende/database"
DEFAULT_LOG_FILE = "/var/log/frende/backup.log"
DEFAULT_CONFIG = "/etc/frende/db/backup.conf"
# zstd 4 (with a larger match table, see _backup/create.compressor) on all cores keeps up
# with pg_dump on two cores and is smaller than the document's gzip -6 output (bench/).
DEFAULT_LEVELS = {"zstd": 4, "gzip": 6}
LEVEL_RANGES = {"zstd": (1, 19), "gzip": (1, 9)}
MAX_JOBS = 64
AGE_RECIPIENT_RE = re.compile(r"^age1[0-9a-z]{20,}$")

OPTIONS = dict(
    action=dict(type="str", required=True, choices=ACTIONS),
    database=dict(type="str"),
    backup_dir=dict(type="path", default=DEFAULT_BACKUP_DIR),
    backup_file=dict(type="str"),
    target_database=dict(type="str"),
    retention_days=dict(type="int", default=30),
    keep_min=dict(type="int", default=3),
    compression=dict(type="str", default="zstd", choices=COMPRESSIONS),
    compression_level=dict(type="int"),
    encrypt_recipients=dict(type="list", elements="str"),
    encrypt_recipients_file=dict(type="path"),
    identity_file=dict(type="path"),
    log_file=dict(type="path", default=DEFAULT_LOG_FILE),
    jobs=dict(type="int"),
    rto_target=dict(type="str", default="30min"),
    rpo_target=dict(type="str", default="24h"),
    owner=dict(type="str", default="postgres"),
    lock_timeout=dict(type="str", default="0s"),
    deep=dict(type="bool", default=False),
    keep_previous=dict(type="bool", default=True),
    globals=dict(type="str", default="auto", choices=GLOBALS_MODES),
    work_dir=dict(type="path"),
    metrics_file=dict(type="str", default=DEFAULT_METRICS_FILE),
)


def argument_spec():
    """The options of frende_db_backup, the connection options included."""
    spec = connection_argument_spec()
    spec.update(copy.deepcopy(OPTIONS))
    return spec


def module_spec():
    """AnsibleModule(**module_spec()) for frende_db_backup. Every module keeps its spec in its area's options.py."""
    return dict(
        argument_spec=argument_spec(),
        mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
        required_if=[("action", "backup", ["database"]), ("action", "restore", ["backup_file"])],
        supports_check_mode=True,
    )


def parse_recipients(value):
    """age recipients from a list or from text separated by whitespace or commas."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    found = []
    for item in value:
        found.extend(part for part in re.split(r"[\s,]+", str(item)) if part)
    for recipient in found:
        if not AGE_RECIPIENT_RE.match(recipient):
            shown = recipient if len(recipient) <= 24 else recipient[:20] + "..."
            raise FrendeDbError(
                "encrypt_recipients must hold public age recipients (age1...), got %r. An identity "
                "(AGE-SECRET-KEY-...) never belongs on the database host; SSH keys go into "
                "encrypt_recipients_file." % shown)
    return found


def normalize(params):
    """Check every option and return a copy with parsed values (``*_s`` seconds, lists)."""
    p = dict((key, spec.get("default")) for key, spec in OPTIONS.items())
    p.update(dict((k, v) for k, v in params.items() if v is not None))
    p["action"] = to_choice(p["action"], "action", ACTIONS)
    for key in ("compression", "globals"):
        p[key] = to_choice(p[key], key, OPTIONS[key]["choices"])
    for key in ("database", "target_database"):
        if p.get(key) is not None:
            validate_identifier(p[key], key)
    if p["action"] == "backup" and not p.get("database"):
        raise FrendeDbError("action backup needs database: the name of the database to back up.")
    if p["action"] == "restore" and not p.get("backup_file"):
        raise FrendeDbError("action restore needs backup_file: a file in backup_dir, a set name, or 'latest'.")
    for key in ("backup_dir", "log_file", "work_dir", "identity_file", "encrypt_recipients_file", "ssl_rootcert"):
        p[key] = to_path(p.get(key), key, absolute=True)
    for key, minimum, maximum in (("retention_days", 1, None), ("keep_min", 1, None), ("jobs", 1, MAX_JOBS)):
        if p.get(key) is not None:
            p[key] = to_int(p[key], key, minimum, maximum)
    if p.get("compression_level") is not None:
        p["compression_level"] = to_int(p["compression_level"], "compression_level", *LEVEL_RANGES[p["compression"]])
    else:
        p["compression_level"] = DEFAULT_LEVELS[p["compression"]]
    if p.get("jobs") is None:
        p["jobs"] = max(1, min(os.cpu_count() or 1, MAX_JOBS))
    p["lock_timeout_s"] = parse_duration(p["lock_timeout"], "lock_timeout")
    p["rto_target_s"] = parse_duration(p["rto_target"], "rto_target")
    p["rpo_target_s"] = parse_duration(p["rpo_target"], "rpo_target")
    for key in ("rto_target_s", "rpo_target_s"):
        if p[key] <= 0:
            raise FrendeDbError("%s must be longer than zero, got %r." % (key[:-2], p[key[:-2]]))
    p["recipients"] = parse_recipients(p.get("encrypt_recipients"))
    p["owner"] = to_os_user(p.get("owner"), "owner")
    p["metrics_file"] = check_metrics_file(p.get("metrics_file"), "metrics_file")
    return p
