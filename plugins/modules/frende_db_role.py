#!/usr/bin/python
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: frende_db_role
short_description: Least-privilege PostgreSQL roles with SCRAM passwords and privilege presets
version_added: 0.1.0
description:
  - Creates, corrects or drops one PostgreSQL role.
  - Role attributes (O(superuser), O(createdb), O(createrole), O(replication), O(bypassrls)) are false unless
    asked for; an existing role that holds one it should not is corrected and the diff shows it.
  - The password never reaches the server. The module computes the SCRAM-SHA-256 verifier itself
    (4096 iterations, random 16-byte salt, SASLprep as PostgreSQL applies it) and sends only that, the way
    C(psql)'s C(\password) does. With C(log_statement=all) the server log shows the verifier, never the
    password. An unchanged password is recognised by checking the stored verifier with its own salt, so
    a second run reports no change. A stored md5 hash (or plaintext, or none) is replaced by a SCRAM verifier.
  - With O(database) and O(privileges), the role holds exactly the privileges of a preset in that database
    (see O(privileges)). What is missing is granted, what is more is revoked, and only the difference is
    executed. Only privileges granted to the role itself are compared; privileges that PUBLIC holds (for
    example CONNECT on every database, by default) are not changed by this module.
  - The module reads C(pg_authid), so it must connect as a superuser, for example as C(postgres) over the
    local Unix socket with C(become_user=postgres). A clear error says so when it cannot read C(pg_authid).
author:
  - Frende database team (@frende)
extends_documentation_fragment:
  - frende.db._postgres
  - frende.db._postgres.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details: Only reads reach the server; RV(queries) lists the statements that would run.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - Name of the role. Letters, digits, V(_), V($) and V(-), starting with a letter or V(_), at most 63 bytes.
      - Names reserved by PostgreSQL (V(public), names starting with V(pg_), ...) and the role the module
        connects as (O(login_user)) are refused.
    type: str
    required: true
  state:
    description:
      - V(present) creates or corrects the role; V(absent) drops it.
      - With V(absent), a role that still owns objects is only dropped when O(reassign_owned_to) is given;
        then C(REASSIGN OWNED BY) it C(TO) that role and C(DROP OWNED BY) it run in every database where it has
        dependencies (C(pg_shdepend)), then C(DROP ROLE). Without O(reassign_owned_to) the module fails, naming
        the databases and objects it still owns, and changes nothing.
      - A role that holds only privileges (owns nothing) is dropped after C(DROP OWNED BY) in the databases
        where it holds them; C(DROP OWNED) then only revokes privileges and default privileges.
      - Each database's statements run in one transaction; the databases are handled one after the other, with
        C(DROP ROLE) last.
    type: str
    default: present
    choices: [present, absent]
  password:
    description:
      - Password of the role. Sent to the server only as a SCRAM-SHA-256 verifier, never as plaintext; never
        shown in output.
      - A precomputed SCRAM-SHA-256 verifier (C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), as
        C(pg_authid) stores it and as C(psql)'s C(\password) or a secret manager makes it) is taken as the
        verifier itself and stored unchanged, never hashed again. It is unchanged when the stored verifier is
        the same string; a verifier of the same password with another salt replaces it.
      - An md5 hash (C(md5) and 32 hex digits) and a value that starts with C(SCRAM-SHA-256$) but is not a
        valid verifier are refused, so that nothing is stored that no client could log in with.
      - Omit it to leave the password as it is (a new role then has no password).
      - An empty password is refused.
    type: str
  update_password:
    description:
      - V(always) sets the password when the stored verifier does not match O(password) (or is md5, plaintext
        or missing).
      - V(on_create) sets it only when the role is created and leaves an existing role's password alone.
    type: str
    default: always
    choices: [always, on_create]
  login:
    description: Whether the role can log in (C(LOGIN) / C(NOLOGIN)).
    type: bool
    default: true
  superuser:
    description: C(SUPERUSER). False unless asked for; an existing superuser role is demoted.
    type: bool
    default: false
  createdb:
    description: C(CREATEDB). False unless asked for; removed from an existing role.
    type: bool
    default: false
  createrole:
    description: C(CREATEROLE). False unless asked for; removed from an existing role.
    type: bool
    default: false
  replication:
    description: C(REPLICATION). False unless asked for; removed from an existing role.
    type: bool
    default: false
  bypassrls:
    description: C(BYPASSRLS). False unless asked for; removed from an existing role.
    type: bool
    default: false
  connection_limit:
    description:
      - C(CONNECTION LIMIT) of the role. V(-1) means no limit. Values below V(-1) are refused.
      - Omit it to leave the limit as it is.
    type: int
  valid_until:
    description:
      - Expiry of the password (C(VALID UNTIL)), any timestamp PostgreSQL accepts, or V(infinity) for none.
      - Compared after the server normalised it, so V(2030-12-31) and V(2030-12-31 00:00:00+00) are the same
        when the server's time zone is UTC. Omit it to leave the expiry as it is.
    type: str
  database:
    description:
      - Database in which O(privileges) are managed. Also the default of O(login_db).
    type: str
  privileges:
    description:
      - Privilege preset for the role in O(database). When omitted, privileges are not managed.
      - V(app) is C(CONNECT) on the database; C(USAGE) on each of O(schemas); C(SELECT), C(INSERT), C(UPDATE),
        C(DELETE) on all their tables (and views, materialized views, foreign and partitioned tables); C(USAGE),
        C(SELECT) on all their sequences; and default privileges (C(ALTER DEFAULT PRIVILEGES FOR ROLE) O(owner)
        C(IN SCHEMA)) with the same table and sequence privileges, so that what O(owner) creates later is covered.
      - V(readonly) is C(CONNECT), C(USAGE) on O(schemas), C(SELECT) on their tables, and default privileges
        C(SELECT) on tables created later by O(owner).
      - V(none) means the role holds none of these privileges in O(database) and O(schemas), nor default
        privileges there from any role; what a preset would have granted is revoked.
      - Presets are exact on what they cover. Other privileges of the role on the database, the schemas, their
        tables and sequences (for example C(CREATE) on a schema, C(TRUNCATE) on a table, or any privilege
        held C(WITH GRANT OPTION)) are revoked, and the diff names every object that changes.
      - Objects that belong to an extension (members in C(pg_depend) with C(deptype='e'), for example the views
        C(pg_stat_statements) and C(pg_stat_statements_info) that C(CREATE EXTENSION pg_stat_statements) puts
        into C(public)) are covered too, with no privilege. Every preset grants nothing on them and revokes what
        the role holds on them directly (earlier versions granted the preset there). What the extension itself
        grants, such as C(SELECT) on C(pg_stat_statements) to C(PUBLIC), is left alone.
      - Tables and sequences are granted and revoked object by object (only those that differ), never with
        C(ON ALL TABLES IN SCHEMA), which would reach extension objects and objects the role owns too.
      - Schemas, tables and sequences that the role O(name) itself owns are left alone with a warning, because an owner
        holds every privilege on what it owns, whatever its ACL says. Let O(owner) own them.
      - V(app) and V(readonly) require O(owner).
    type: str
    choices: [app, none, readonly]
  schemas:
    description:
      - Schemas in O(database) that O(privileges) cover. They must exist for V(app) and V(readonly).
    type: list
    elements: str
    default: [public]
  owner:
    description:
      - The role that owns the schemas and runs migrations. It must exist.
      - It is granted C(CONNECT) on O(database) and C(CREATE) and C(USAGE) on O(schemas) where it lacks them;
        nothing is ever revoked from it. The default privileges of O(privileges) are defined C(FOR ROLE) it.
      - The role O(name) itself never gets C(CREATE) on O(schemas).
    type: str
  member_of:
    description:
      - Roles this role is a member of, for example V(pg_monitor). When given, membership is made exactly
        this list (missing ones granted, others revoked); when omitted, memberships are left alone.
      - Every role named must exist; otherwise the module fails and changes nothing.
    type: list
    elements: str
  reassign_owned_to:
    description:
      - With O(state=absent), the role that takes over what the dropped role owns. See O(state).
    type: str
  login_db:
    description: Database to connect to. Defaults to O(database) when that is set, else V(postgres).
notes:
  - The module needs superuser rights (it reads C(pg_authid)). Run it as C(postgres) over the local socket.
  - Check mode makes no change and sends no statement that changes anything; it only reads.
  - Privileges that the role holds through PUBLIC or through membership in another role are not revoked by
    this module. A warning names a listed schema on which PUBLIC holds C(CREATE).
seealso:
  - name: PostgreSQL roles and privileges
    description: CREATE ROLE, GRANT and ALTER DEFAULT PRIVILEGES.
    link: https://www.postgresql.org/docs/15/user-manag.html
"""

EXAMPLES = r"""
- name: The application role with the app preset, the migration role owning the schema
  frende.db.frende_db_role:
    name: frende_app
    password: "{{ frende_db_app_password }}"
    database: frende
    privileges: app
    schemas: [public]
    owner: frende_owner
    connection_limit: 150
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres

- name: A monitoring role that only reads statistics
  frende.db.frende_db_role:
    name: frende_monitor
    password: "{{ frende_db_monitor_password }}"
    member_of: [pg_monitor]
    connection_limit: 5
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres

- name: A read-only reporting role whose password expires
  frende.db.frende_db_role:
    name: frende_report
    password: "{{ frende_db_report_password }}"
    update_password: on_create
    valid_until: "2026-12-31"
    database: frende
    privileges: readonly
    owner: frende_owner
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres

- name: Drop a former role, handing what it owns to the owner role
  frende.db.frende_db_role:
    name: frende_old
    state: absent
    reassign_owned_to: frende_owner
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres
"""

RETURN = r"""
queries:
  description: Statements executed (in check mode, that would be executed). Passwords show as C(********).
  returned: always
  type: list
  elements: str
  sample:
    - CREATE ROLE "frende_app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '********'
    - GRANT CONNECT ON DATABASE "frende" TO "frende_app"
role:
  description: The role after the run (predicted in check mode). Never holds a password or a hash.
  returned: always
  type: dict
  contains:
    name:
      description: Role name.
      type: str
      returned: always
    exists:
      description: Whether the role exists.
      type: bool
      returned: always
    attributes:
      description: The attributes C(superuser), C(createdb), C(createrole), C(replication), C(bypassrls).
      type: dict
      returned: when the role exists
    login:
      description: Whether the role can log in.
      type: bool
      returned: when the role exists
    connection_limit:
      description: Connection limit, V(-1) for none.
      type: int
      returned: when the role exists
    valid_until:
      description: Password expiry in UTC (ISO 8601), V(infinity), or null.
      type: str
      returned: when the role exists
    member_of:
      description: Roles this role is a direct member of.
      type: list
      elements: str
      returned: when the role exists
    password_set:
      description: Whether the role has a password.
      type: bool
      returned: when the role exists
  sample:
    name: frende_app
    exists: true
    attributes: {superuser: false, createdb: false, createrole: false, replication: false, bypassrls: false}
    login: true
    connection_limit: 150
    valid_until: null
    member_of: []
    password_set: true
diff:
  description:
    - Role state before and after. The password appears only as its storage kind (V(md5), V(scram-sha-256),
      V(none)) and whether it is set or changed. With O(privileges), C(privileges) maps each object whose
      privileges are managed (tables and sequences only when they change) to the privileges held.
  returned: always
  type: dict
  contains:
    before:
      description: State before the run.
      type: dict
      returned: always
    after:
      description: State after the run (predicted in check mode).
      type: dict
      returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._role.manager import RoleManager
from ansible_collections.frende.db.plugins.module_utils._role.options import module_spec


def main():
    module = AnsibleModule(**module_spec())
    manager = RoleManager(module.params, check_mode=module.check_mode)
    try:
        result = manager.run()
    except FrendeDbError as exc:
        module.fail_json(msg=exc.msg, queries=manager.queries, **exc.details)
    for warning in manager.warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
