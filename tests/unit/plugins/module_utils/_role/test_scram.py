"""SCRAM-SHA-256 verifiers: computed here, checked against verifiers PostgreSQL 15 made."""

import base64
import re

import pytest

from ansible_collections.frende.db.plugins.module_utils._role.scram import (
    SALT_BYTES,
    SCRAM_ITERATIONS,
    parse_verifier,
    saslprep,
    scram_verifier,
    stored_password_kind,
    verifier_matches,
)

# pg_authid.rolpassword after `CREATE ROLE v PASSWORD %s` on PostgreSQL 15.18 with
# password_encryption = scram-sha-256 (the server hashed the plaintext itself, using
# its own SASLprep). Produced once with tests/support/pgserver.py; the integration
# test test_frende_db_role_password.py repeats this check against a live server.
SERVER_VERIFIERS = {
    "pencil": (
        "SCRAM-SHA-256$4096:mkW2VqiW+AWCDsfYA5N03A=="
        "$H2Xv1pG7K1l6OY4HRygSuIPeToLVKq2XaUiS7wld35o=:8+qaDEcFMMWRCdzOE+ZYOX4eDn28bZZSGgbGt+O+Hwo="
    ),
    "a\x07b": (
        "SCRAM-SHA-256$4096:YA6EMRn6lJ3qZOGUYsGRfw=="
        "$VERzNqRGYQ2msu3PVchqIULGvDqLrG+HCF75e63taAE=:LElYJP4NvCH90DZZ0yKlmCW+bYIzUY+q0GcW2S0+0Ic="
    ),
    "I\u00adX": (
        "SCRAM-SHA-256$4096:NKylq3aNVDaaV//z2cdghw=="
        "$tDtj0gj/C7J6FmYofvXoftip0K7kLcBZ9P2oqLBjtew=:2wR8vDu4zf/zKXvXa1JveT3614vzJNYbU02GR5NC9/k="
    ),
    "\u2168": (
        "SCRAM-SHA-256$4096:6I7+OnZw1IRIlHEWOcYhjA=="
        "$+DZ+9z8r57R9e5iXIXOrf01bPgWae77OSJ3CERbuGNk=:IRvP7oMGhr47i0HWa1m7Bv/V5S/KQjywuqEN4EQNeDk="
    ),
    "a\u3000b": (
        "SCRAM-SHA-256$4096:Uh9RRxf3t9FkRQ8cDk3nCA=="
        "$Z5d/zELB3qV9J0d/qWdKcaC7XXkLLG+hsrC+oFhUvDQ=:RecZKpOu+JIKUTaCROz3DRiDZiSiD6aZW5iBK4ktS34="
    ),
    "\u00aa": (
        "SCRAM-SHA-256$4096:zZI/J2xBctRNQk4koPlBWg=="
        "$CEZq1Efu5hTzZAN7QS57Dz3WqldPpXvp5m0WJdKQ0Kw=:Jd7gJ5qaUArMTKTYF3MIcEnfBatd3inuJwO/X5W8ddI="
    ),
    "n\u0303": (
        "SCRAM-SHA-256$4096:vYjNfSjFVGw5Y3XfwaaiRw=="
        "$978PgoVPK5co4VRWz5anEXeed3RU9iSLN5N4QdnOs+g=:ah3QhFVQinkNiQZwArgqoCE39dZJwEE/15vr4h0bWuI="
    ),
    "a\u0007\u00e9": (
        "SCRAM-SHA-256$4096:xO9G0I6MDkhto/blPQ+2yw=="
        "$dajP5bO0gtq1ogS2cmvzVuQ+x1Ihw3fHsxBH1jjRwIw=:L+EelX3WHE2cM4MZ81KW/QcvNW/94XN/j/PR3BPPCLg="
    ),
    "\u0627\u0031": (
        "SCRAM-SHA-256$4096:L++wbA8eA0naBXpo6QfkIw=="
        "$RewTd61S48pNgpYnqhzWcqNKMQ/RbffN4EPLr/7osdg=:6IZ9ZuMDAchdG3zkk8MBl2PIyNnXt0xbs/mUAusvXJ4="
    ),
    "\u0627\u0031\u0628": (
        "SCRAM-SHA-256$4096:gjErx7or9JjRdid0GNNLHQ=="
        "$gJ+2nNxeVcU7dYukveICbraQ3FEyZKFZJFRKJzcUczg=:aRT2V5E/deZkYWACXvHSpE+6C/kXbkKuXzWOigzrb+M="
    ),
    "a\u0627": (
        "SCRAM-SHA-256$4096:4j5whdnC41nNpUiw9Q5ClA=="
        "$GGTrOzKMYU79Yr+hZ6pfkfCOxEUtlbApUbHOWBX1BjQ=:m4zUSl+/CZIR37TordT1qQOBOlzeFV9fXoX+Bp2YbhE="
    ),
    "\u00ad": (
        "SCRAM-SHA-256$4096:pDiUDCGlYgG8Lyh25BZ3xA=="
        "$w1iktcoRRcXbF9vS3yDyBgL1+mI1IegL8Nn4MT2w7fE=:CRK0wl8KyUAWapLatLP3YVhwnx5gaF8oAuUxpb5py4U="
    ),
    "\u0221x": (
        "SCRAM-SHA-256$4096:2XnRwbYJkDTV+ym61HfDaA=="
        "$XmDMNmQ+8hYTwHIU0oYORF4KGlsWj3Vz1F3p/KDAjcU=:FE3A6Nq7bTXIm+LmKgMgNrG6kVYaxRWWfi7BBEF7vg8="
    ),
    "\ue000x": (
        "SCRAM-SHA-256$4096:vltUpB2VZ1KsvASUhevOWg=="
        "$IFUVVReuWA9Tarh8kX81m07na8SxtWQlUiSRWovRwqU=:gfkVdzZ/Gh+MINvv/j1rAdmr9h0Dr9LbWquD0ioqi+o="
    ),
}


@pytest.mark.parametrize("password", sorted(SERVER_VERIFIERS))
def test_matches_what_the_server_computed(password):
    assert verifier_matches(password, SERVER_VERIFIERS[password])


@pytest.mark.parametrize("password", sorted(SERVER_VERIFIERS))
def test_recomputing_with_the_server_salt_gives_the_server_verifier(password):
    iterations, salt, _stored, _server = parse_verifier(SERVER_VERIFIERS[password])
    assert scram_verifier(password, salt=salt, iterations=iterations) == SERVER_VERIFIERS[password]


@pytest.mark.parametrize("password", sorted(SERVER_VERIFIERS))
def test_another_password_does_not_match(password):
    assert not verifier_matches(password + "x", SERVER_VERIFIERS[password])
    assert not verifier_matches("pencil2", SERVER_VERIFIERS[password])


@pytest.mark.parametrize("given, equivalent", [
    ("I\u00adX", "IX"),          # soft hyphen is mapped to nothing
    ("\u2168", "IX"),            # ROMAN NUMERAL NINE -> "IX" under NFKC
    ("a\u3000b", "a b"),         # ideographic space -> ASCII space
    ("\u00aa", "a"),             # feminine ordinal -> "a" under NFKC
    ("n\u0303", "\u00f1"),       # decomposed and composed n-tilde hash alike
])
def test_saslprep_equivalents_match_the_server_verifier(given, equivalent):
    assert verifier_matches(equivalent, SERVER_VERIFIERS[given])


@pytest.mark.parametrize("password, expected", [
    ("pencil", b"pencil"),
    ("a\x07b", b"a\x07b"),                                 # pure ASCII: used as is, controls too
    ("I\u00adX", b"IX"),
    ("\u2168", b"IX"),
    ("a\u3000b", b"a b"),
    ("a\u0007\u00e9", "a\u0007\u00e9".encode()),           # prohibited control: raw bytes
    ("\u0627\u0031", "\u0627\u0031".encode()),             # RandAL not last: raw bytes
    ("\u0627\u0031\u0628", "\u0627\u0031\u0628".encode()),  # valid bidi string
    ("a\u0627", "a\u0627".encode()),                       # LCat with RandAL: raw bytes
    ("\u00ad", "\u00ad".encode()),                         # empty after mapping: raw bytes
    ("\u0221x", "\u0221x".encode()),                       # unassigned in Unicode 3.2: raw bytes
    ("\ue000x", "\ue000x".encode()),                       # private use: raw bytes
    ("\u2168\u0007", "\u2168\u0007".encode()),             # prohibited after NFKC: raw, not "IX\x07"
    (b"\xff\xfeabc", b"\xff\xfeabc"),                      # not UTF-8: raw bytes
])
def test_saslprep_follows_postgresql(password, expected):
    assert saslprep(password) == expected


def test_verifier_format_is_postgresqls():
    verifier = scram_verifier("correct horse battery staple")
    match = re.match(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$", verifier)
    assert match
    assert int(match.group(1)) == SCRAM_ITERATIONS == 4096
    assert len(base64.b64decode(match.group(2))) == SALT_BYTES == 16
    assert len(base64.b64decode(match.group(3))) == 32
    assert len(base64.b64decode(match.group(4))) == 32
    assert verifier_matches("correct horse battery staple", verifier)
    assert "correct horse" not in verifier


def test_salt_is_random_each_time():
    first, second = scram_verifier("same"), scram_verifier("same")
    assert first != second
    assert verifier_matches("same", first) and verifier_matches("same", second)


def test_fixed_salt_is_deterministic():
    salt = bytes(range(16))
    assert scram_verifier("pw", salt=salt) == scram_verifier("pw", salt=salt)
    assert scram_verifier("pw", salt=salt, iterations=10) != scram_verifier("pw", salt=salt)


def test_both_keys_are_checked():
    iterations, salt, stored, server = parse_verifier(SERVER_VERIFIERS["pencil"])

    def b64(data):
        return base64.b64encode(data).decode()

    other = parse_verifier(scram_verifier("other", salt=salt))
    wrong_stored = "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(other[2]), b64(server))
    wrong_server = "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored), b64(other[3]))
    assert not verifier_matches("pencil", wrong_stored)
    assert not verifier_matches("pencil", wrong_server)


@pytest.mark.parametrize("stored", [
    None, "", "pencil", "md5" + "0" * 32, "SCRAM-SHA-256$4096:abc", "SCRAM-SHA-256$x:YQ==$YQ==:YQ==",
    "SCRAM-SHA-256$0:YQ==$YQ==:YQ==", "SCRAM-SHA-256$4096:Y$YQ==:YQ==",
])
def test_non_verifiers_never_match(stored):
    assert not verifier_matches("pencil", stored)


@pytest.mark.parametrize("stored, kind", [
    (None, "none"),
    ("md5" + "a1" * 16, "md5"),
    (SERVER_VERIFIERS["pencil"], "scram-sha-256"),
    ("pencil", "plaintext"),
])
def test_stored_password_kind(stored, kind):
    assert stored_password_kind(stored) == kind
