# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SCRAM-SHA-256 password verifiers in PostgreSQL's format, computed on the client.

Private to frende.db. Sending the verifier instead of the password keeps the
plaintext out of the server, its statement log and pg_stat_statements (the
same thing psql's \\password does). Checking a stored verifier against a
password (same salt, same iterations) is what makes an unchanged password
idempotent without ever reading the password back.

Only the Python standard library is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stringprep
import unicodedata

SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations
SALT_BYTES = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN

VERIFIER_RE = re.compile(
    r"^SCRAM-SHA-256\$(?P<iterations>[0-9]+):(?P<salt>[A-Za-z0-9+/]+={0,2})"
    r"\$(?P<stored_key>[A-Za-z0-9+/]+={0,2}):(?P<server_key>[A-Za-z0-9+/]+={0,2})$"
)
MD5_RE = re.compile(r"^md5[0-9a-f]{32}$")


def _prohibited(char):
    """RFC 4013 section 2.3 (and the RFC 3454 tables PostgreSQL's saslprep.c uses)."""
    return (
        stringprep.in_table_c12(char)
        or stringprep.in_table_c21_c22(char)
        or stringprep.in_table_c3(char)
        or stringprep.in_table_c4(char)
        or stringprep.in_table_c5(char)
        or stringprep.in_table_c6(char)
        or stringprep.in_table_c7(char)
        or stringprep.in_table_c8(char)
        or stringprep.in_table_c9(char)
        or stringprep.in_table_a1(char)
    )


def saslprep(password):
    """The bytes PostgreSQL hashes for ``password`` (str or bytes).

    Mirrors src/common/saslprep.c and its caller: pure ASCII is used as is; otherwise
    SASLprep (map, NFKC, prohibit, bidi check); when the input is not UTF-8 or SASLprep
    refuses it, PostgreSQL falls back to the raw bytes instead of failing, so do we.
    """
    raw = password.encode("utf-8") if isinstance(password, str) else bytes(password)
    if all(b < 0x80 for b in raw):
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    mapped = []
    for char in text:
        if stringprep.in_table_c12(char):
            mapped.append(" ")
        elif not stringprep.in_table_b1(char):
            mapped.append(char)
    if not mapped:
        return raw
    normalized = unicodedata.normalize("NFKC", "".join(mapped))
    if any(_prohibited(c) for c in normalized):
        return raw
    if any(stringprep.in_table_d1(c) for c in normalized):
        if any(stringprep.in_table_d2(c) for c in normalized):
            return raw
        if not (stringprep.in_table_d1(normalized[0]) and stringprep.in_table_d1(normalized[-1])):
            return raw
    return normalized.encode("utf-8")


def _keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` for ``password``."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    if iterations < 1:
        raise ValueError("iterations must be positive")
    stored_key, server_key = _keys(password, salt, iterations)
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def parse_verifier(verifier):
    """(iterations, salt, stored_key, server_key) or None when not a SCRAM-SHA-256 verifier."""
    if not isinstance(verifier, str):
        return None
    match = VERIFIER_RE.match(verifier)
    if not match:
        return None
    try:
        return (
            int(match.group("iterations")),
            base64.b64decode(match.group("salt"), validate=True),
            base64.b64decode(match.group("stored_key"), validate=True),
            base64.b64decode(match.group("server_key"), validate=True),
        )
    except ValueError:  # binascii.Error is a ValueError
        return None


def is_verifier(text):
    """True when ``text`` is a SCRAM-SHA-256 verifier (as given in a password option, or stored)."""
    return parse_verifier(text) is not None


def verifier_matches(password, verifier):
    """True when ``verifier`` (as stored in pg_authid.rolpassword) is for ``password``.

    Both keys are compared: StoredKey is what authenticates the client, ServerKey what
    authenticates the server; a verifier with one of them wrong would not work.
    """
    parsed = parse_verifier(verifier)
    if parsed is None:
        return False
    iterations, salt, stored_key, server_key = parsed
    if iterations < 1:
        return False
    want_stored, want_server = _keys(password, salt, iterations)
    return hmac.compare_digest(want_stored, stored_key) and hmac.compare_digest(want_server, server_key)


def stored_password_kind(rolpassword):
    """How pg_authid.rolpassword holds the password: none, md5, scram-sha-256 or plaintext."""
    if rolpassword is None:
        return "none"
    if parse_verifier(rolpassword) is not None:
        return "scram-sha-256"
    if MD5_RE.match(rolpassword):
        return "md5"
    return "plaintext"
