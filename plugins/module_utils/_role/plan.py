# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure planning for frende_db_role: current state + wanted state -> one plan.

Private to frende.db. Nothing here talks to a server, so every decision the
module makes can be unit-tested. ``plan_role()`` and ``plan_drop()`` return one
``RolePlan``: the statements per database in the order they run, the diff's
before and after, the role as it will be, and the privilege target the manager
reads again after applying. A statement is a ``(psycopg2.sql.Composed,
params)`` pair; names enter SQL only through ``ident()`` (validated and quoted),
values only as parameters (psycopg2 interpolates them on the client, which
works for utility statements such as ALTER ROLE ... PASSWORD too), secrets as
``Secret`` so that ``queries`` shows them redacted.
"""

from __future__ import annotations

try:
    from psycopg2 import sql
except ImportError:  # reported by require_psycopg2()
    sql = None

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import Secret, ident
from ansible_collections.frende.db.plugins.module_utils._role.privileges import plan_privileges
from ansible_collections.frende.db.plugins.module_utils._role.scram import (
    MD5_RE, is_verifier, scram_verifier, stored_password_kind, verifier_matches)

# Role attributes the module always manages (option name -> keyword pair).
ATTRIBUTES = {
    "login": ("LOGIN", "NOLOGIN"),
    "superuser": ("SUPERUSER", "NOSUPERUSER"),
    "createdb": ("CREATEDB", "NOCREATEDB"),
    "createrole": ("CREATEROLE", "NOCREATEROLE"),
    "replication": ("REPLICATION", "NOREPLICATION"),
    "bypassrls": ("BYPASSRLS", "NOBYPASSRLS"),
}


# --- role attributes ----------------------------------------------------------------

def attribute_changes(current, wanted):
    """``{name: (before, after)}`` for every managed attribute, limit or expiry that differs.

    ``current`` is None for a role that does not exist yet. ``wanted`` holds the
    boolean attributes and ``connection_limit``/``valid_until``, where None means
    "not managed".
    """
    changes = {}
    for attr in ATTRIBUTES:
        before = None if current is None else current[attr]
        if before != wanted[attr]:
            changes[attr] = (before, wanted[attr])
    for attr in ("connection_limit", "valid_until"):
        if wanted.get(attr) is None:
            continue
        before = None if current is None else current[attr]
        if before != wanted[attr]:
            changes[attr] = (before, wanted[attr])
    return changes


def _role_options(values):
    """WITH clause parts and their parameters for attribute values (a dict)."""
    parts, params = [], []
    for attr, (yes, no) in ATTRIBUTES.items():
        if attr in values:
            parts.append(sql.SQL(yes if values[attr] else no))
    if values.get("connection_limit") is not None:
        parts.append(sql.SQL("CONNECTION LIMIT %s"))
        params.append(int(values["connection_limit"]))
    if values.get("valid_until") is not None:
        parts.append(sql.SQL("VALID UNTIL %s"))
        params.append(str(values["valid_until"]))
    return parts, params


def create_role_statement(name, wanted, verifier=None):
    """CREATE ROLE with every managed attribute spelled out (nothing left to defaults)."""
    parts, params = _role_options({k: v for k, v in wanted.items() if v is not None})
    if verifier is not None:
        parts.append(sql.SQL("PASSWORD %s"))
        params.append(Secret(verifier))
    query = sql.SQL("CREATE ROLE {} WITH {}").format(ident(name, "name"), sql.SQL(" ").join(parts))
    return query, params


def alter_role_statement(name, changes):
    """ALTER ROLE for the changed attributes only, or None when nothing changes."""
    if not changes:
        return None
    parts, params = _role_options({attr: after for attr, (_before, after) in changes.items()})
    query = sql.SQL("ALTER ROLE {} WITH {}").format(ident(name, "name"), sql.SQL(" ").join(parts))
    return query, params


def password_statement(name, verifier):
    return sql.SQL("ALTER ROLE {} WITH PASSWORD %s").format(ident(name, "name")), [Secret(verifier)]


def check_password_input(password: str | None) -> None:
    """Refuse what would be stored as something else than the operator meant."""
    if password is None:
        return
    if password.startswith("SCRAM-SHA-256$") and not is_verifier(password):
        raise FrendeDbError(
            "password starts with 'SCRAM-SHA-256$' but is not a valid SCRAM-SHA-256 verifier "
            "(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64); give the plaintext "
            "password or the verifier exactly as pg_authid stores it.")
    if MD5_RE.match(password):
        raise FrendeDbError(
            "password is an md5 hash (md5 followed by 32 hex digits). md5 passwords are not accepted: "
            "give the plaintext password or a SCRAM-SHA-256 verifier.")


def password_plan(exists, rolpassword, password, update_password):
    """(needs setting, before label, after label) for the password; labels never hold a hash.

    ``password`` is a plaintext password or a SCRAM-SHA-256 verifier. A verifier is
    stored as given, so it is unchanged when the stored one is the same string
    (hashing it again would store a hash of the hash). A plaintext password is
    checked against the stored verifier with its own salt and iteration count:
    equal means unchanged. md5, plaintext or no password at all stored means the
    password is (re)set, so it ends up as a SCRAM verifier.
    """
    before = stored_password_kind(rolpassword) if exists else None
    if password is None:
        return False, before, before
    if not exists:
        return True, None, "scram-sha-256 (set)"
    if update_password == "on_create":
        return False, before, before
    if is_verifier(password):
        unchanged = rolpassword == password
    else:
        unchanged = before == "scram-sha-256" and verifier_matches(password, rolpassword)
    if unchanged:
        return False, before, before
    return True, before, "scram-sha-256 (changed)" if before == "scram-sha-256" else "scram-sha-256 (set)"


def verifier_to_send(password: str, make_verifier=scram_verifier) -> str:
    """What reaches the server: a given verifier as it is, a plaintext password as a new verifier."""
    return password if is_verifier(password) else make_verifier(password)


# --- memberships ------------------------------------------------------------------

def membership_changes(current, wanted):
    """(roles to join, roles to leave) so that the role is member of exactly ``wanted``.

    ``wanted`` None means memberships are not managed: nothing changes.
    """
    if wanted is None:
        return [], []
    current, wanted = set(current or ()), set(wanted)
    return sorted(wanted - current), sorted(current - wanted)


def membership_statements(name, join, leave):
    member = ident(name, "name")
    statements = [
        (sql.SQL("GRANT {} TO {}").format(ident(group, "member_of"), member), [])
        for group in join
    ]
    statements += [
        (sql.SQL("REVOKE {} FROM {}").format(ident(group, "member_of"), member), [])
        for group in leave
    ]
    return statements


# --- dropping ------------------------------------------------------------------------

def drop_plan(name, dependencies, reassign_owned_to, login_db):
    """Per-database statements and the final DROP ROLE, or a FrendeDbError-worthy message.

    ``dependencies`` maps a database name (None for shared objects such as databases
    the role owns) to ``{"owned": [descriptions], "owned_count": n, "privileges": n}``.
    Returns ``(steps, refusal)``: ``steps`` is a list of ``(database, [statements])``
    ending with the DROP ROLE on ``login_db``; ``refusal`` is a message naming what
    the role still owns when ``reassign_owned_to`` is not given (then ``steps`` is empty).
    """
    role = ident(name, "name")
    owned = {db: dep for db, dep in dependencies.items() if dep["owned_count"]}
    if owned and reassign_owned_to is None:
        return [], _ownership_message(name, owned)
    # Shared objects (databases, tablespaces, grants on them) are handled by REASSIGN
    # OWNED / DROP OWNED run in any one database: the one DROP ROLE runs in.
    targets = {}
    for database, dep in dependencies.items():
        target = targets.setdefault(login_db if database is None else database, dict(owned_count=0))
        target["owned_count"] += dep["owned_count"]
    targets.setdefault(login_db, dict(owned_count=0))
    steps = []
    for database in sorted(targets, key=lambda d: (d == login_db, d)):
        statements = []
        if database in dependencies or (database == login_db and None in dependencies):
            if reassign_owned_to is not None and targets[database]["owned_count"]:
                statements.append(_reassign(role, reassign_owned_to))
            # Only privileges and default privileges are left for DROP OWNED to remove:
            # what the role owned has just been given away (or there was nothing).
            statements.append((sql.SQL("DROP OWNED BY {}").format(role), []))
        if database == login_db:
            statements.append((sql.SQL("DROP ROLE {}").format(role), []))
        steps.append((database, statements))
    return steps, None


def _reassign(role, to):
    return sql.SQL("REASSIGN OWNED BY {} TO {}").format(role, ident(to, "reassign_owned_to")), []


def _ownership_message(name, owned):
    parts = []
    for database in sorted(owned, key=lambda d: (d is None, d or "")):
        dep = owned[database]
        where = "shared object(s)" if database is None else "object(s) in database %s" % database
        shown = ", ".join(dep["owned"])
        more = dep["owned_count"] - len(dep["owned"])
        if more > 0:
            shown += " and %d more" % more
        parts.append("%d %s (%s)" % (dep["owned_count"], where, shown))
    return (
        "Role %s still owns objects, so it was not dropped and nothing was changed. It owns %s. "
        "Set reassign_owned_to to the role that should take them over (the module then runs "
        "REASSIGN OWNED and DROP OWNED), or move or drop them first."
        % (name, "; ".join(parts))
    )


# --- the plan -------------------------------------------------------------------------

class RolePlan:
    """What frende_db_role does for one role, decided before anything is sent.

    ``steps``: ``[(database, [statement, ...]), ...]`` in execution order, one
    transaction per database. ``before``/``after``: the diff. ``role``: the role as
    it will be (the module's ``role`` result). ``privileges``: the PrivilegeTarget to
    read again after applying, or None. ``predicted``: the attribute view the
    after-check compares the server with.
    """

    def __init__(self, steps, before, after, role, predicted=None, privileges=None, warnings=()):
        self.steps = [(database, list(statements)) for database, statements in steps if statements]
        self.before = before
        self.after = after
        self.role = role
        self.predicted = predicted
        self.privileges = privileges
        self.warnings = list(warnings)

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def role_view(current, password_kind):
    """The role as the diff shows it (never a password or hash: only its storage kind)."""
    if current is None:
        return dict(exists=False)
    view = dict(exists=True)
    for attr in ATTRIBUTES:
        view[attr] = current[attr]
    view["connection_limit"] = current["connection_limit"]
    view["valid_until"] = current["valid_until"]
    view["member_of"] = list(current["member_of"])
    view["password"] = password_kind
    return view


def predict(current, wanted, join, leave, password_after):
    """The view of the role after the statements of the plan have run."""
    after = dict(exists=True)
    for attr in ATTRIBUTES:
        after[attr] = wanted[attr]
    for attr in ("connection_limit", "valid_until"):
        if wanted[attr] is not None:
            after[attr] = wanted[attr]
        else:
            after[attr] = current[attr] if current else (-1 if attr == "connection_limit" else None)
    after["member_of"] = sorted((set(current["member_of"] if current else ()) | set(join)) - set(leave))
    after["password"] = password_after
    return after


def result_role(name, view):
    """The module's ``role`` return value from a view."""
    if not view.get("exists"):
        return dict(name=name, exists=False)
    return dict(
        name=name,
        exists=True,
        attributes={attr: view[attr] for attr in ATTRIBUTES if attr != "login"},
        login=view["login"],
        connection_limit=view["connection_limit"],
        valid_until=view["valid_until"],
        member_of=view["member_of"],
        password_set=bool(view["password"]) and view["password"] != "none",
    )


def plan_role(params, current, wanted, target=None, privilege_state=None, login_db="postgres",
              make_verifier=scram_verifier) -> RolePlan:
    """The plan for ``state=present``.

    ``current``: the role as read.read_role() returns it, or None. ``wanted``: the
    attributes, ``connection_limit`` and the server-normalized ``valid_until`` (None:
    not managed). ``target``/``privilege_state``: the PrivilegeTarget and what the
    role holds there (read.read_privilege_state()), or None when privileges are not
    managed. ``make_verifier``: computes a new SCRAM verifier (random salt); the only
    input that is not plain data, so tests can pass a fixed one.
    """
    name = params["name"]
    exists = current is not None
    changes = attribute_changes(current, wanted)
    password = params.get("password")
    set_password, password_before, password_after = password_plan(
        exists, current["rolpassword"] if exists else None, password, params.get("update_password"))
    verifier = verifier_to_send(password, make_verifier) if set_password else None

    role_statements = []
    if not exists:
        role_statements.append(create_role_statement(name, wanted, verifier))
    else:
        alter = alter_role_statement(name, changes)
        if alter:
            role_statements.append(alter)
        if set_password:
            role_statements.append(password_statement(name, verifier))
    join, leave = membership_changes(current["member_of"] if exists else [], params.get("member_of"))
    role_statements += membership_statements(name, join, leave)

    before = dict(role_view(current, password_before), name=name)
    predicted = predict(current, wanted, join, leave, password_after)
    after = dict(predicted, name=name)
    warnings = []
    steps = [(login_db, role_statements)]
    if target is not None:
        privileges = plan_privileges(name, target.preset, target.schemas, privilege_state, target.owner)
        before["privileges"] = privileges.before
        after["privileges"] = privileges.after
        warnings += privileges.warnings
        if target.database == login_db:
            steps = [(login_db, role_statements + privileges.statements)]
        else:
            steps.append((target.database, privileges.statements))
    return RolePlan(steps, before, after, result_role(name, predicted), predicted=predicted, privileges=target,
                    warnings=warnings)


def plan_drop(name, current, dependencies, reassign_owned_to, login_db):
    """The plan for ``state=absent``; raises FrendeDbError when the role still owns what nothing takes over.

    ``dependencies``: ``{database or None: {owned_count, owned: [descriptions], ...}}``.
    """
    gone = dict(name=name, exists=False)
    if current is None:
        return RolePlan([], gone, gone, gone)
    steps, refusal = drop_plan(name, dependencies, reassign_owned_to, login_db)
    if refusal:
        raise FrendeDbError(refusal, owned={
            (k or "(shared)"): d["owned_count"] for k, d in dependencies.items() if d["owned_count"]})
    before = dict(role_view(current, None), name=name)
    before.pop("password", None)
    before["owned_objects"] = {(k or "(shared)"): d["owned_count"] for k, d in dependencies.items()}
    return RolePlan(steps, before, gone, gone)
