# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hand a job's samples to the textfile; a metrics failure is a WARNING in the job's log, never the job's failure.

Private to frende.db; standard library only (prometheus_client through textfile).
"""

from __future__ import annotations

import time

from ansible_collections.frende.db.plugins.module_utils._command import log_path_hint
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._metrics import samples as metric_samples
from ansible_collections.frende.db.plugins.module_utils._metrics import textfile


def record(path, found, log, action):
    """Write ``found`` to the textfile at ``path`` (None: metrics off). Returns why it failed, or None."""
    if not path or not found:
        return None
    try:
        textfile.update(path, found, metric_samples.HELP)
    except FrendeDbError as exc:
        if log is not None:
            log.warning(action, "metrics", msg=exc.msg)
        return exc.msg
    return None


def record_refused(flag_value, config_path, section, job, code):
    """A command that stopped before its settings were understood (a broken config file): the job's exit
    status still reaches the metrics, at metrics_file from the flag, else the config file, else the default."""
    try:
        path = textfile.check_path(log_path_hint(flag_value, config_path, section, textfile.DEFAULT_PATH,
                                                 key="metrics_file"), "metrics_file")
    except FrendeDbError:  # the metrics path itself may be what was refused
        path = textfile.DEFAULT_PATH
    return record(path, metric_samples.job_run(job, code, time.time()), None, job)


def mark_recorded(exc):
    """Note that the failure ``exc`` is in the metrics already (the command then does not record it again)."""
    exc.frende_db_metrics_recorded = True
    return exc


def was_recorded(exc):
    return bool(getattr(exc, "frende_db_metrics_recorded", False))
