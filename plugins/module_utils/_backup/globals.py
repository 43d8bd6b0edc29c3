# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which statements of a ``pg_dumpall --globals-only`` file to run on a restore host. Pure; stdlib only.

A fresh host lacks the roles the dump's objects belong to. The globals file
recreates them, but it must never touch the host's bootstrap superuser (its
password is the host's own), and in ``auto`` mode it must leave roles that
already exist exactly as they are.
"""

from __future__ import annotations

import re

_ROLE_STMT = re.compile(r'^(CREATE ROLE|ALTER ROLE|COMMENT ON ROLE|SECURITY LABEL FOR \S+ ON ROLE)\s+', re.I)
_GRANT_STMT = re.compile(r"^GRANT\s+", re.I)
_SESSION_STMT = re.compile(r"^SET\s+", re.I)
_TABLESPACE_STMT = re.compile(r"^(CREATE|ALTER|COMMENT ON) TABLESPACE\s", re.I)


def split_statements(text):
    """SQL text -> statements (without ``;``), honouring quotes and ``--`` comments."""
    statements, current, i, n = [], [], 0, len(text)
    while i < n:
        char = text[i]
        if char == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if char in ("'", '"'):
            end = i + 1
            while end < n:
                if text[end] == char:
                    if end + 1 < n and text[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            current.append(text[i:end + 1])
            i = end + 1
            continue
        if char == ";":
            stmt = "".join(current).strip()
            if stmt:
                statements.append(stmt)
            current = []
        else:
            current.append(char)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def read_identifier(text):
    """(name, rest) for an identifier at the start of ``text`` (quoted or bare)."""
    text = text.lstrip()
    if text.startswith('"'):
        end, name = 1, ""
        while end < len(text):
            if text[end] == '"':
                if text[end + 1:end + 2] == '"':
                    name += '"'
                    end += 2
                    continue
                return name, text[end + 1:]
            name += text[end]
            end += 1
        return name, ""
    match = re.match(r"^([^\s;,]+)(.*)$", text, re.S)
    if not match:
        return "", text
    return match.group(1).lower(), match.group(2)


def role_of(statement):
    """The role a role statement is about (None for other statements)."""
    match = _ROLE_STMT.match(statement)
    if not match:
        return None
    return read_identifier(statement[match.end():])[0]


def granted_roles(statement):
    """For ``GRANT a TO b ...``: (a, b); else None."""
    match = re.match(r"^GRANT\s+(.+?)\s+TO\s+(.+?)(\s+WITH\s+.*|\s+GRANTED\s+BY\s+.*)?$", statement, re.I | re.S)
    if not match:
        return None
    granted = read_identifier(match.group(1))[0]
    member = read_identifier(match.group(2))[0]
    return granted, member


def plan_globals(text, existing_roles, bootstrap, mode):
    """Statements to run and a summary.

    ``mode`` ``auto``: create missing roles (with their attributes, settings,
    comments and memberships), leave existing ones alone. ``always``: also
    bring existing roles to the dumped attributes. The bootstrap superuser is
    never touched. Tablespaces are never created (their directories are host-specific).
    """
    run, created, updated, skipped = [], [], [], []
    existing = set(existing_roles)
    for stmt in split_statements(text):
        if _SESSION_STMT.match(stmt):
            run.append(stmt)
            continue
        if _TABLESPACE_STMT.match(stmt):
            skipped.append("tablespace statement")
            continue
        role = role_of(stmt)
        if role is not None:
            if role == bootstrap:
                continue
            is_create = stmt.upper().startswith("CREATE ROLE")
            if role in existing:
                if is_create or mode != "always" or " IN DATABASE " in stmt.upper():
                    continue
                if role not in updated:
                    updated.append(role)
            else:
                if " IN DATABASE " in stmt.upper():
                    continue  # per-database settings come with the database properties
                if is_create:
                    created.append(role)
            run.append(stmt)
            continue
        if _GRANT_STMT.match(stmt):
            pair = granted_roles(stmt)
            if pair and (mode == "always" or pair[0] not in existing or pair[1] not in existing):
                run.append(re.sub(r"\s+GRANTED\s+BY\s+.*$", "", stmt, flags=re.I | re.S))
            continue
        skipped.append(stmt.split(None, 2)[0] + " statement")
    return dict(statements=run, created=created, updated=updated, skipped=skipped)
