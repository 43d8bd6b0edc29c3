# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The jobs' results as Prometheus gauges in node_exporter's textfile collector directory.

Private to frende.db. Several jobs share one file (frende_db.prom): each run
replaces the series it names and keeps every other one, under a lock on the
directory, and the file is replaced atomically (written aside, fsynced, renamed),
so node_exporter never reads half a file. The text format is prometheus_client's
(Debian's python3-prometheus-client on the hosts).
"""

from __future__ import annotations

import fcntl
import os

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # reported by update(): a job never fails for its metrics
    CollectorRegistry = None

from ansible_collections.frende.db.plugins.module_utils._backup.files import PartialFile, fsync_dir
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

DEFAULT_PATH = "/var/lib/prometheus/node-exporter/frende_db.prom"
# "none" (or empty) turns the metrics off.
OFF = ("", "none")


def check_path(value, what):
    """The metrics_file setting: an absolute path ending in .prom, or none/empty (off) -> None."""
    if value is None or str(value).strip().lower() in OFF:
        return None
    text = str(value).strip()
    if not os.path.isabs(text) or not text.endswith(".prom") or "\x00" in text:
        raise FrendeDbError("%s must be an absolute path ending in .prom (node_exporter's textfile collector reads "
                            "only those), or none to write no metrics; got %r." % (what, value))
    return text


def enabled(path):
    """True when ``path`` is set and its directory exists (node_exporter's textfile collector is installed)."""
    return bool(path) and os.path.isdir(os.path.dirname(path))


def read_series(text):
    """{name: (help, {frozenset(labels.items()): value})} of a textfile's gauges."""
    series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            entry = series.setdefault(sample.name, (family.documentation, {}))
            entry[1][frozenset(sample.labels.items())] = sample.value
    return series


def merge(series, samples, helps):
    """``series`` with ``samples`` ((name, labels, value), ...) put in; a sample's value None removes it."""
    for name, labels, value in samples:
        doc, values = series.setdefault(name, (helps.get(name, name), {}))
        key = frozenset(labels.items())
        if value is None:
            values.pop(key, None)
        else:
            values[key] = float(value)
        if not values:
            del series[name]
    return series


class _Series:
    """A prometheus_client collector of fixed gauge values."""

    def __init__(self, series):
        self.series = series

    def collect(self):
        for name in sorted(self.series):
            doc, values = self.series[name]
            metric = Metric(name, doc, "gauge")
            for key in sorted(values, key=sorted):
                metric.add_sample(name, dict(key), values[key])
            yield metric


def render(series):
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Series(series))
    return generate_latest(registry)


def update(path, samples, helps):
    """Replace ``samples`` in the textfile at ``path``; every other series stays. Returns True if written.

    Nothing is written when the directory does not exist. A failure raises
    FrendeDbError saying what to fix; callers log it and go on.
    """
    if not enabled(path):
        return False
    if CollectorRegistry is None:
        raise FrendeDbError("The metrics in %s are not updated: the Python library prometheus_client is missing "
                            "(install python3-prometheus-client; the setup playbook does)." % path)
    directory = os.path.dirname(path)
    try:
        lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise FrendeDbError("The metrics in %s are not updated: %s." % (path, exc.strerror))
    try:
        # Jobs run at the same time (the backup and the 5-minute health check): one writer at a time.
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path, "r", encoding="utf-8") as handle:
                series = read_series(handle.read())
        except FileNotFoundError:
            series = {}
        except (ValueError, UnicodeError):
            series = {}  # a damaged file is replaced, not merged
        payload = render(merge(series, samples, helps))
        part = PartialFile(directory, os.path.basename(path), None)
        try:
            os.fchmod(part.fd, 0o644)  # node_exporter reads it as its own user
            view = memoryview(payload)
            while view:
                view = view[os.write(part.fd, view):]
            part.commit()
        except BaseException:
            part.discard()
            raise
        fsync_dir(directory)
        return True
    except OSError as exc:
        raise FrendeDbError("The metrics in %s are not updated: %s. The directory must be writable by the job's "
                            "OS user (the setup playbook makes it so)." % (path, exc.strerror or exc))
    finally:
        os.close(lock)
