"""Composed psycopg2 statements as plain text, without a server, for tests that compare SQL.

Shared by the role plan tests. Imported as
ansible_collections.frende.db.tests.unit.plugins.module_utils._role.sql_text, which
works under plain pytest (build/collections links to the repository) and under
`ansible-test units` (its collection loader serves the copy under test).
"""

from __future__ import annotations

from psycopg2 import sql

from ansible_collections.frende.db.plugins.module_utils._postgres import Secret


def _walk(part):
    if isinstance(part, sql.Composed):
        return "".join(_walk(p) for p in part.seq)
    if isinstance(part, sql.SQL):
        return part.string
    if isinstance(part, sql.Identifier):
        return ".".join('"%s"' % s.replace('"', '""') for s in part.strings)
    raise TypeError("unexpected %r" % (part,))


def render(statement):
    """A (composed, params) statement as text; secrets as <secret>."""
    query, params = statement
    shown = tuple("<secret>" if isinstance(p, Secret) else repr(p) for p in params)
    return _walk(query) % shown if shown else _walk(query)


def render_all(statements):
    return [render(s) for s in statements]
