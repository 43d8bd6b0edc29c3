"""Reads the event log lines of the frende-db-* commands (one format, _command.format_line) for tests.

``parse(line)`` refuses any line that is not in the format, so a test that reads
a log through it also checks that every line keeps the one shape.
"""

from __future__ import annotations

import json
import re

LINE_RE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (?P<prog>[A-Za-z0-9_.-]+)\[(?P<pid>\d+)\] "
                     r"(?P<level>INFO|WARNING|ERROR) action=(?P<action>[a-z_-]+) event=(?P<event>[a-z_-]+)"
                     r"(?P<rest>.*)$")
FIELD_RE = re.compile(r' (?P<key>[a-z_]+)=(?P<value>"(?:[^"\\]|\\.)*"|[A-Za-z0-9_.:/@+,-]+)')


def parse(line):
    """{time, prog, pid, level, action, event, fields: {key: text}}; AssertionError if off format."""
    match = LINE_RE.match(line)
    assert match, "not an event log line: %r" % line
    entry = match.groupdict()
    rest = entry.pop("rest")
    fields = {}
    pos = 0
    while pos < len(rest):
        field = FIELD_RE.match(rest, pos)
        assert field, "bad field at %r in %r" % (rest[pos:], line)
        value = field.group("value")
        fields[field.group("key")] = json.loads(value) if value.startswith('"') else value
        pos = field.end()
    assert "msg" not in fields or list(fields)[-1] == "msg", "msg is not last: %r" % line
    entry["fields"] = fields
    return entry


def read(path):
    """Every line of a log file, parsed."""
    return [parse(line) for line in path.read_text().splitlines()]


def find(entries, level=None, action=None, event=None, **fields):
    """The entries with this level, action and event (None: any) whose fields hold ``fields``."""
    top = dict(level=level, action=action, event=event)
    return [entry for entry in entries
            if all(want is None or entry[key] == want for key, want in top.items())
            and all(entry["fields"].get(key) == want for key, want in fields.items())]
