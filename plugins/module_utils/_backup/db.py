# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the backup engine asks of and does to the server, in SQL. Private to frende.db.

Identifiers go through ``ident()`` and values through parameters or
``sql.Literal``; nothing from a manifest or an option is formatted into SQL text.
"""

from __future__ import annotations

import time

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import ident, sql

# Settings whose list elements pg_dump quotes one by one (see pg_dump's variable_is_guc_list_quote).
LIST_QUOTE_SETTINGS = {"local_preload_libraries", "search_path", "session_preload_libraries",
                       "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories"}

TABLES_SQL = r"""
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

NEEDED_ROLES_SQL = """
SELECT r.rolname FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid
 WHERE s.refclassid = 'pg_authid'::regclass
   AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()
UNION SELECT r.rolname FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee
 WHERE d.datname = current_database()
UNION SELECT r.rolname FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
 JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()
ORDER BY 1
"""


def table_key(schema, name):
    return "%s.%s" % (schema, name)


def user_tables(cur):
    """[(schema, table)] of the connected database (cursor of a plain psycopg2 connection)."""
    cur.execute(TABLES_SQL)
    return [(row[0], row[1]) for row in cur.fetchall()]


def count_rows(cur, tables):
    counts = {}
    for schema, name in tables:
        cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
        counts[table_key(schema, name)] = cur.fetchone()[0]
    return counts


def needed_roles(cur):
    cur.execute(NEEDED_ROLES_SQL)
    return [row[0] for row in cur.fetchall()]


def database_exists(db, name):
    return db.query_one("SELECT 1 AS x FROM pg_database WHERE datname = %s", (name,)) is not None


def existing_roles(db):
    return set(row["rolname"] for row in db.query("SELECT rolname FROM pg_roles"))


def bootstrap_superuser(db):
    return db.query_one("SELECT rolname FROM pg_roles WHERE oid = 10")["rolname"]


def database_properties(db, name):
    """Owner, locale, ACL, settings and comment of database ``name`` (None when it does not exist).

    The provider's locale is PostgreSQL 17's datlocale, 15's daticulocale: read through to_jsonb, one
    query serves both."""
    row = db.query_one(
        """SELECT pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
                  d.datcollate AS collate, d.datctype AS ctype, d.datlocprovider::text AS locale_provider,
                  coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS icu_locale,
                  d.datconnlimit AS connection_limit,
                  d.datallowconn AS allow_connections, d.datacl IS NULL AS default_acl,
                  shobj_description(d.oid, 'pg_database') AS comment
           FROM pg_database d WHERE d.datname = %s""", (name,))
    if row is None:
        return None
    row["acl"] = None if row.pop("default_acl") else db.query(
        """SELECT coalesce(r.rolname, 'PUBLIC') AS grantee, a.privilege_type AS privilege,
                  a.is_grantable AS grantable
           FROM pg_database d, aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
           WHERE d.datname = %s ORDER BY 1, 2""", (name,))
    row["settings"] = db.query(
        """SELECT r.rolname AS role, s.setconfig AS settings
           FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
           LEFT JOIN pg_roles r ON r.oid = s.setrole
           WHERE d.datname = %s ORDER BY 1 NULLS FIRST""", (name,))
    return row


def split_setting_list(value):
    """Elements of a list setting as stored (``a, "b c"``) -> ['a', 'b c']."""
    items, current, quoted, i = [], "", False, 0
    while i < len(value):
        char = value[i]
        if quoted:
            if char == '"' and value[i + 1:i + 2] == '"':
                current += '"'
                i += 1
            elif char == '"':
                quoted = False
            else:
                current += char
        elif char == '"':
            quoted = True
        elif char == ",":
            items.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    if current.strip() or items:
        items.append(current.strip())
    return items


def setting_assignment(entry):
    """``name=value`` from pg_db_role_setting -> composed ``name = 'value'`` (lists element-wise)."""
    name, dummy, value = entry.partition("=")
    target = sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))
    if name.lower() in LIST_QUOTE_SETTINGS:
        values = sql.SQL(", ").join(sql.Literal(item) for item in split_setting_list(value))
    else:
        values = sql.Literal(value)
    return sql.SQL("{} = {}").format(target, values)


def create_database(db, name, props, roles):
    """CREATE DATABASE with the locale of ``props`` (a live database's or the manifest's)."""
    parts = [sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident(name, "database"))]
    if props:
        if props.get("owner") in roles:
            parts.append(sql.SQL("OWNER {}").format(sql.Identifier(props["owner"])))
        for key, word in (("encoding", "ENCODING"), ("collate", "LC_COLLATE"), ("ctype", "LC_CTYPE")):
            if props.get(key):
                parts.append(sql.SQL(word + " {}").format(sql.Literal(props[key])))
        if props.get("locale_provider") == "i" and props.get("icu_locale"):
            parts.append(sql.SQL("LOCALE_PROVIDER icu ICU_LOCALE {}").format(sql.Literal(props["icu_locale"])))
        elif props.get("locale_provider") == "b" and props.get("icu_locale"):
            # PostgreSQL 17's builtin provider (its locale is kept under the same manifest key).
            parts.append(sql.SQL("LOCALE_PROVIDER builtin BUILTIN_LOCALE {}").format(sql.Literal(props["icu_locale"])))
    db.execute(sql.SQL(" ").join(parts))


def apply_properties(db, name, props, roles, with_comment=True):
    """Give database ``name`` the owner, grants, settings, limit and comment of ``props``.

    Returns notes about what could not be applied (roles missing on this server).
    """
    notes = []
    target = ident(name, "database")
    owner = props.get("owner")
    if owner in roles:
        db.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(target, sql.Identifier(owner)))
    elif owner:
        notes.append("owner %s does not exist here; the database is owned by the restoring role" % owner)
    if props.get("acl") is not None:
        revoke_from = [sql.SQL("PUBLIC")] + ([sql.Identifier(owner)] if owner in roles else [])
        db.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(target, sql.SQL(", ").join(revoke_from)))
        # The owner's entries first, as PostgreSQL itself lists them after a REVOKE.
        for grant in sorted(props["acl"], key=lambda g: g["grantee"] != owner):
            grantee = grant["grantee"]
            if grantee != "PUBLIC" and grantee not in roles:
                notes.append("grant %s to missing role %s skipped" % (grant["privilege"], grantee))
                continue
            db.execute(sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                sql.SQL({"CONNECT": "CONNECT", "CREATE": "CREATE", "TEMPORARY": "TEMPORARY"}[grant["privilege"]]),
                target,
                sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                sql.SQL(" WITH GRANT OPTION" if grant.get("grantable") else "")))
    for row in props.get("settings") or []:
        role = row.get("role")
        if role is not None and role not in roles:
            notes.append("settings of missing role %s skipped" % role)
            continue
        for entry in row.get("settings") or []:
            if role is None:
                stmt = sql.SQL("ALTER DATABASE {} SET {}").format(target, setting_assignment(entry))
            else:
                stmt = sql.SQL("ALTER ROLE {} IN DATABASE {} SET {}").format(
                    sql.Identifier(role), target, setting_assignment(entry))
            db.execute(stmt)
    if props.get("connection_limit") is not None and props["connection_limit"] != -1:
        db.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
            target, sql.Literal(int(props["connection_limit"]))))
    if props.get("comment") and with_comment:
        db.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(target, sql.Literal(props["comment"])))
    return notes


def drop_database(db, name):
    db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(name, "database")))


# A scratch database carries the identity of the session that made it (backend pid and start time),
# so that a later run can tell one left behind by a killed run from one a concurrent run is using.
SCRATCH_COMMENT = "frende.db scratch copy of session %s; dropped when done"
SCRATCH_NAME_RE = "_(restore|verify|drill)_[0-9]{14}$"
LEFTOVER_SCRATCH_SQL = r"""
SELECT d.datname AS name
FROM pg_database d,
     LATERAL substring(shobj_description(d.oid, 'pg_database')
                       FROM '^frende\.db scratch copy of session ([0-9]+@[0-9.]+);') AS token
WHERE token IS NOT NULL AND d.datname ~ %s AND d.datname !~ '_pre_restore_[0-9]{14}$'
  AND NOT EXISTS (
      SELECT 1 FROM pg_stat_activity a
      WHERE a.pid = split_part(token, '@', 1)::int
        -- a session whose start time this role may not see counts as the maker: keep its database
        AND (a.backend_start IS NULL OR extract(epoch FROM a.backend_start)::text = split_part(token, '@', 2)))
ORDER BY 1
"""


def mark_scratch(db, name):
    """Label ``name`` as a scratch copy made by this session (see ``drop_leftover_scratch``)."""
    token = db.query_one("SELECT pg_backend_pid()::text || '@' || extract(epoch FROM backend_start)::text AS t "
                         "FROM pg_stat_activity WHERE pid = pg_backend_pid()")["t"]
    db.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        ident(name, "database"), sql.Literal(SCRATCH_COMMENT % token)))


def drop_leftover_scratch(db):
    """Drop scratch copies whose making session is gone (a killed restore, verify or drill); their names.

    Only databases this code marked are candidates: a database someone named alike is never touched,
    nor is one a running restore, verify or drill is still using.
    """
    names = [row["name"] for row in db.query(LEFTOVER_SCRATCH_SQL, (SCRATCH_NAME_RE,))]
    for name in names:
        drop_database(db, name)
    return names


def set_allow_connections(db, name, allow):
    db.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
        ident(name, "database"), sql.SQL("true" if allow else "false")))


def terminate_sessions(db, name, wait_s=30.0):
    """End every session on ``name`` (new ones must already be blocked) and wait until they are gone."""
    deadline = time.monotonic() + wait_s
    while True:
        db.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity "
                 "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        left = db.query_one("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = %s "
                            "AND pid <> pg_backend_pid()", (name,))["n"]
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise FrendeDbError("%d sessions on database %s did not end within %d s; the live database was "
                                "not replaced." % (left, name, wait_s))
        time.sleep(0.2)


def rename_pair(conn, live, previous, restored, comment=None):
    """In one transaction: ``live`` -> ``previous``, ``restored`` -> ``live`` with ``comment`` (None: no comment).

    The comment replaces the restored copy's scratch label in the same transaction, so the copy is
    either still a labelled scratch database or already the live one.
    """
    with conn.cursor() as cur:
        try:
            rename = sql.SQL("ALTER DATABASE {} RENAME TO {}")
            cur.execute(rename.format(ident(live, "database"), ident(previous, "database")))
            cur.execute(rename.format(ident(restored, "database"), ident(live, "database")))
            cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident(live, "database"), sql.Literal(comment)))
            conn.commit()
        except Exception:
            conn.rollback()
            raise
