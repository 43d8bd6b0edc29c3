# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""containers.podman's podman connection, with pipelining.

Test infrastructure only (Molecule, make demo, bench): found through
ANSIBLE_CONNECTION_PLUGINS=tests/support/connection_plugins, it takes the
place of the short name ``podman`` that Molecule writes into its inventory.

The stock plugin refuses pipelining because ``podman exec`` without ``-i``
does not pass standard input on. With ``-i`` it does, so a module runs in one
``podman exec`` instead of four (mkdir, chmod, python, rm). That is what
production runs over SSH with ``pipelining = True`` do, and what the role's
timing targets assume; bench/converge.sh measures both connections.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: podman
    short_description: Run tasks in podman containers, with pipelining
    description:
      - The containers.podman.podman connection, with pipelining through C(podman exec -i).
    extends_documentation_fragment:
      - connection_pipelining
    options:
      remote_addr:
        description: The name or ID of the container.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User to run commands as inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments for the podman command line.
        default: ''
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: The podman executable.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as StockPodmanConnection


class Connection(StockPodmanConnection):
    transport = "podman"
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        if in_data is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec", "-i"]
        if self.user:
            args.extend(("--user", self.user))
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
