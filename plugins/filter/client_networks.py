# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""frende.db.client_networks: the entries of frende_db_allowed_clients as networks pg_hba.conf can use."""

from __future__ import annotations

import ipaddress
import re
import socket

from ansible.errors import AnsibleFilterError

# RFC 1123 host names: labels of letters, digits and '-', not starting or ending with '-'.
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def _resolve(name):
    """Every address ``name`` resolves to on the controller, or a reason it does not."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return None, str(exc)
    return sorted(set(info[4][0].split("%", 1)[0] for info in infos)), None


def networks(entries, resolve=_resolve):
    """``(networks, problems)``: each entry as CIDR networks, and one sentence per entry that is none.

    An address becomes a /32 (/128) network, a network keeps its prefix (host bits
    cleared, as pg_hba.conf applies it), a host name becomes the networks of every
    address it resolves to here. Anything else is a problem, named with what to do.
    """
    found, problems = [], []
    if isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__"):
        return [], ["frende_db_allowed_clients must be a list of addresses, networks (CIDR) or host names, got %r."
                    % (entries,)]
    for entry in entries:
        text = str(entry).strip() if isinstance(entry, str) else None
        if not text:
            problems.append("%r is not an address, a network or a host name." % (entry,))
            continue
        try:
            found.append(ipaddress.ip_network(text, strict=False).with_prefixlen)
            continue
        except ValueError:
            pass
        if "/" in text or not _HOSTNAME_RE.match(text) or re.match(r"^[0-9.]+$", text):
            problems.append("%r is not an address, a network (CIDR such as 10.0.4.0/24) or a host name." % text)
            continue
        addresses, reason = resolve(text)
        if not addresses:
            problems.append("host name %r does not resolve on the controller (%s); give its address or make it "
                            "resolvable." % (text, reason or "no address"))
            continue
        found.extend(ipaddress.ip_network(address).with_prefixlen for address in addresses)
    return sorted(set(found), key=lambda n: (ipaddress.ip_network(n).version, ipaddress.ip_network(n))), problems


def client_networks(entries):
    result, problems = networks(entries)
    if problems:
        raise AnsibleFilterError(
            "frende_db_allowed_clients is refused, nothing was changed: %s" % " ".join(problems))
    return result


class FilterModule:
    def filters(self):
        return dict(client_networks=client_networks)
