# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to frende.db: connection options shared by every module, kept equal to
# plugins/module_utils/_postgres.py connection_argument_spec().

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server.
      - When neither this nor O(login_unix_socket) is set, libpq's default (the local Unix socket) is used.
      - Mutually exclusive with O(login_unix_socket).
    type: str
  login_port:
    description: TCP port of the server (also the port of the Unix socket file).
    type: int
    default: 5432
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Never logged, never shown in task output.
      - Not needed for peer authentication over the local socket.
    type: str
  login_unix_socket:
    description:
      - Directory of the server's Unix socket, for example V(/var/run/postgresql).
      - Mutually exclusive with O(login_host).
    type: str
  login_db:
    description: Database to connect to. Defaults to V(postgres) unless the module says otherwise.
    type: str
  ssl_mode:
    description:
      - libpq C(sslmode). V(verify-full) checks the certificate chain against O(ssl_rootcert) and that the
        certificate names O(login_host).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ssl_rootcert:
    description: CA certificate file that signs the server certificate (for V(verify-ca) and V(verify-full)).
    type: path
  connect_timeout:
    description: Seconds to wait for the connection before giving up.
    type: int
    default: 10
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) on the host that runs the module.
"""

    ATTRIBUTES = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return a truthful change prediction without modifying the target.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) in diff mode.
  idempotent:
    description: Run twice in a row with the same arguments, the second run reports no change.
  action_group:
    description: Use C(group/frende.db.frende_db) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - frende.db.frende_db
"""
