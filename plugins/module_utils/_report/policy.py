# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report's policy checks: what was measured on a host, held against the security document.

Private to frende.db. Pure: ``evaluate(measured)`` returns the checks, each pass, warn, fail or
unknown with its evidence, the document's section it comes from and, where one matches, the CIS
PostgreSQL Benchmark recommendation (numbers of the PostgreSQL 15 benchmark, v1.x; docs/report.md).
"""

from __future__ import annotations

from ansible_collections.frende.db.plugins.module_utils._health.role_audit import BOOTSTRAP

PASS, WARN, FAIL, UNKNOWN = "pass", "warn", "fail", "unknown"
# frende_db_health's statuses, as the report says them.
FROM_HEALTH = {"healthy": PASS, "degraded": WARN, "unhealthy": FAIL, "unknown": UNKNOWN}
STATUS_ORDER = (FAIL, WARN, UNKNOWN, PASS)

TLS_SECTION = "Security Features: 1. SSL/TLS Encryption"
LIMITS_SECTION = "Security Features: 4. Access Controls"
USERS_SECTION = "Security Features: 3. Database User Management"
PASSWORD_SECTION = "Security Best Practices: 1. Password Management"
NETWORK_SECTION = "Security Best Practices: 2. Network Security"
ACCESS_SECTION = "Security Best Practices: 3. Access Control"
DATA_SECTION = "Security Best Practices: 4. Data Protection"
AUDIT_SECTION = "Compliance: Data Protection (Access Logs, Audit Trail)"
BACKUP_SECTION = "Backup and Recovery"
DRILL_SECTION = "Disaster Recovery: Recovery Time Objectives"
LOGGING_SECTION = "Compliance: Monitoring (Logging)"

TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
DRILL_MAX_AGE_S = 35 * 86400  # monthly drills, with the FrendeDbDrillFailed alert's margin


def check(check_id: str, title: str, status: str, evidence: str, section: str, cis: str | None = None) -> dict:
    return dict(id=check_id, title=title, status=status, evidence=evidence, section=section, cis=cis)


def worst(statuses) -> str:
    statuses = list(statuses)
    for status in STATUS_ORDER:
        if status in statuses:
            return status
    return PASS


def _from_health(health, name):
    entry = (health or {}).get(name)
    if entry is None:
        return UNKNOWN, "not measured"
    return FROM_HEALTH.get(entry["status"], UNKNOWN), entry.get("message") or ""


def _tls(settings, health):
    ssl, minimum = settings.get("ssl"), settings.get("ssl_min_protocol_version")
    evidence = "ssl = %s, ssl_min_protocol_version = %s" % (ssl, minimum)
    if ssl is None:
        return check("tls", "TLS and its protocols", UNKNOWN, evidence, TLS_SECTION, "6.7, 6.8")
    ok = ssl == "on" and minimum in TLS_VERSIONS and TLS_VERSIONS.index(minimum) >= TLS_VERSIONS.index("TLSv1.2")
    status = PASS if ok else FAIL
    return check("tls", "TLS and its protocols", status, evidence, TLS_SECTION, "6.7, 6.8")


def _logging(settings):
    problems = []
    if settings.get("log_timezone") not in ("UTC", "Etc/UTC"):
        problems.append("log_timezone is %s, not UTC" % settings.get("log_timezone"))
    if "%a" not in (settings.get("log_line_prefix") or ""):
        problems.append("log_line_prefix has no application name (%a)")
    if settings.get("log_replication_commands") != "on":
        problems.append("log_replication_commands is off")
    for name in ("log_connections", "log_disconnections"):
        if settings.get(name) != "on":
            problems.append("%s is off" % name)
    evidence = "log_timezone = %s, log_line_prefix = '%s', log_connections = %s, log_disconnections = %s, " \
               "log_replication_commands = %s" % tuple(settings.get(n) for n in (
                   "log_timezone", "log_line_prefix", "log_connections", "log_disconnections",
                   "log_replication_commands"))
    if not settings:
        return check("logging", "Connection and statement logging", UNKNOWN, "settings not readable", LOGGING_SECTION,
                     "3.1.20, 3.1.21, 3.1.23, 3.1.25")
    return check("logging", "Connection and statement logging", WARN if problems else PASS,
                 "; ".join(problems) if problems else evidence, LOGGING_SECTION, "3.1.20, 3.1.21, 3.1.23, 3.1.25")


def _pgaudit(settings, audit_log_present):
    preload = [p.strip() for p in (settings.get("shared_preload_libraries") or "").split(",")]
    classes = [c.strip().lower() for c in (settings.get("pgaudit.log") or "").split(",") if c.strip()]
    problems = []
    if "pgaudit" not in preload:
        problems.append("pgaudit is not preloaded")
    missing = [c for c in ("ddl", "role") if c not in classes and "all" not in classes]
    if missing:
        problems.append("pgaudit.log lacks %s" % ", ".join(missing))
    if not audit_log_present:
        problems.append("no audit trail of frende.db's own operations yet (/var/log/frende/audit.log)")
    evidence = "pgaudit.log = %s (covers log_statement = ddl); the collection's operations in audit.log" % (
        ",".join(classes) or "none")
    status = FAIL if "pgaudit is not preloaded" in problems else (WARN if problems else PASS)
    return check("audit_trail", "Audit trail (pgaudit and the collection's operations)", status,
                 "; ".join(problems) if problems else evidence, AUDIT_SECTION, "3.1.24, 3.2")


def _socket(settings, umask):
    mode, group = settings.get("unix_socket_permissions"), settings.get("unix_socket_group")
    problems = []
    if mode is not None and int(mode, 8) & 0o007:
        problems.append("unix_socket_permissions %s lets every local user connect" % mode)
    if umask is not None and int(umask, 8) & 0o077 != 0o077:
        problems.append("the server's umask is %s, not 0077" % umask)
    evidence = "unix_socket_permissions = %s, unix_socket_group = %s, server umask = %s" % (
        mode, group or "-", umask or "unknown")
    status = UNKNOWN if mode is None else (WARN if problems else PASS)
    return check("socket", "Local socket and file permissions", status, "; ".join(problems) or evidence,
                 ACCESS_SECTION, "2.1, 2.5")


def _limits(health, roles, auth_delay):
    status, evidence = _from_health(health, "connections")
    settings_checks = [e for n, e in (health or {}).items() if n.startswith("settings.")]
    # postgres is the bootstrap superuser: a limit on it could lock out the recovery of a full server.
    unlimited = [r["name"] for r in roles if r["login"] and r["name"] != BOOTSTRAP
                 and (r["connection_limit"] is None or r["connection_limit"] < 0)]
    statuses = [status] + [FROM_HEALTH.get(e["status"], UNKNOWN) for e in settings_checks]
    lines = [evidence.rstrip(".")] + [e["message"].rstrip(".") for e in settings_checks if e["status"] != "healthy"]
    if unlimited:
        statuses.append(WARN)
        lines.append("login roles without a connection limit: %s" % ", ".join(unlimited))
    if auth_delay in (None, "0", ""):
        statuses.append(WARN)
        lines.append("auth_delay is not loaded: failed logins are not slowed down")
    else:
        lines.append("auth_delay %s ms" % auth_delay)
    return check("limits", "Connection limits, timeouts and brute-force delay", worst(statuses), "; ".join(lines),
                 LIMITS_SECTION)


def _roles(health, public_usage):
    status, evidence = _from_health(health, "roles")
    if public_usage:
        return check("roles", "Roles and privileges", worst([status, WARN]),
                     evidence + " PUBLIC may use the schema public.", USERS_SECTION, "4.2")
    return check("roles", "Roles and privileges", status, evidence + " PUBLIC has no USAGE on the schema public.",
                 USERS_SECTION, "4.2")


def _firewall(firewall):
    if firewall is None:
        return None
    if firewall.get("expected") == "none":
        return check("firewall", "Host firewall", WARN, "frende_db_firewall is none: the role keeps no firewall table "
                     "here (pg_hba.conf and basic auth are the only walls)", NETWORK_SECTION)
    loaded = firewall.get("loaded")
    if loaded is None:
        return check("firewall", "Host firewall", UNKNOWN, firewall.get("error") or "nft could not be asked",
                     NETWORK_SECTION)
    dropped = firewall.get("dropped") or {}
    shown = ", ".join("%s %d" % (k, v) for k, v in sorted(dropped.items())) or "no counter yet"
    if not loaded:
        return check("firewall", "Host firewall", FAIL, "the table inet frende_db is not loaded", NETWORK_SECTION)
    return check("firewall", "Host firewall", PASS, "table inet frende_db loaded; packets dropped: %s" % shown,
                 NETWORK_SECTION)


def _backup_encryption(logical):
    if not logical:
        return check("backup_encryption", "Backup encryption", UNKNOWN, "no logical backup set in the window",
                     DATA_SECTION)
    plain = [b["name"] for b in logical if not b["encrypted"]]
    newest = logical[-1]
    if not newest["encrypted"]:
        return check("backup_encryption", "Backup encryption", FAIL, "the newest set %s is not encrypted" %
                     newest["name"], DATA_SECTION)
    if plain:
        return check("backup_encryption", "Backup encryption", WARN, "%d of %d sets in the window are plaintext "
                     "(the newest is encrypted)" % (len(plain), len(logical)), DATA_SECTION)
    return check("backup_encryption", "Backup encryption", PASS, "all %d sets in the window are age-encrypted"
                 % len(logical), DATA_SECTION)


def _backups(health, logical):
    parts = [_from_health(health, name) for name in ("backup_age", "wal_archive", "repository")]
    failed_verify = [b["name"] for b in logical if b["verified"] is False]
    statuses = [p[0] for p in parts] + ([FAIL] if failed_verify else [])
    lines = [p[1] for p in parts] + (["verification failed: %s" % ", ".join(failed_verify)] if failed_verify else [])
    return check("backups", "Backups, verification and WAL archive", worst(statuses), " ".join(lines),
                 BACKUP_SECTION, "8.2")


def _drills(drills, now_s):
    if not drills:
        return check("drills", "Restore drills", WARN, "no drill in the window: the document asks for monthly drills",
                     DRILL_SECTION)
    newest = drills[-1]
    text = "newest %s drill %s: RTO %s s (target %s s), RPO %s s (target %s s)" % (
        newest["kind"], "passed" if newest["passed"] else "FAILED", newest["rto_s"], newest["rto_target_s"],
        newest["rpo_s"], newest["rpo_target_s"])
    return check("drills", "Restore drills", PASS if newest["passed"] else FAIL, text, DRILL_SECTION)


def _encryption_at_rest(facts):
    if facts is None:
        return None
    if facts.get("encrypted") is True:
        status = PASS
    elif facts.get("encrypted") is False:
        status = WARN
    else:
        status = UNKNOWN
    return check("encryption_at_rest", "Encryption at rest (information)", status, facts.get("evidence") or "",
                 DATA_SECTION)


def _client(env):
    if env is None:
        return []
    if not env.get("exists"):
        return [check("client_tls", "Application's connection settings", FAIL, "%s does not exist" % env["path"],
                      TLS_SECTION)]
    mode = env.get("mode")
    tls_ok = env.get("sslmode") == "verify-full" and env.get("rootcert_exists")
    evidence = "sslmode = %s, root certificate %s %s" % (
        env.get("sslmode"), env.get("rootcert") or "(none)", "present" if env.get("rootcert_exists") else "missing")
    found = [check("client_tls", "Application's connections verify the server", PASS if tls_ok else FAIL, evidence,
                   TLS_SECTION)]
    private = mode is not None and int(mode, 8) & 0o007 == 0
    found.append(check("client_secrets", "Password kept in a private environment file", PASS if private else FAIL,
                       "%s mode %s" % (env["path"], mode), PASSWORD_SECTION))
    return found


def evaluate(measured: dict) -> list:
    """The checks of one host from ``measured`` (gather.py): database, backup or application host parts."""
    found = []
    if measured.get("database"):
        db = measured["database"]
        health, settings = db.get("health") or {}, db.get("settings") or {}
        found.append(_tls(settings, health))
        status, evidence = _from_health(health, "certificate")
        found.append(check("certificate", "Server certificate expiry", status, evidence, TLS_SECTION))
        found.append(_logging(settings))
        found.append(_pgaudit(settings, db.get("audit_log_present")))
        status, evidence = _from_health(health, "hba")
        found.append(check("hba", "pg_hba.conf admits the application servers only", status, evidence,
                           NETWORK_SECTION, "5.1, 5.2"))
        found.append(_socket(settings, db.get("umask")))
        found.append(_limits(health, db.get("roles") or [], settings.get("auth_delay.milliseconds")))
        found.append(_roles(health, db.get("public_usage")))
        status, evidence = _from_health(health, "password_age")
        found.append(check("password_age", "Application password age", status, evidence, PASSWORD_SECTION))
        status, evidence = _from_health(health, "failed_auth")
        found.append(check("failed_auth", "Failed logins", status, evidence, ACCESS_SECTION))
        status, evidence = _from_health(health, "data_checksums")
        found.append(check("data_checksums", "Data checksums", status, evidence, DATA_SECTION))
        found.append(_backup_encryption(db.get("logical") or []))
        found.append(_backups(health, db.get("logical") or []))
        found.append(_drills(db.get("drills") or [], None))
        found.append(_encryption_at_rest(db.get("encryption_at_rest")))
    if measured.get("backup") is not None:
        drills = measured["backup"].get("drills") or []
        if drills:
            found.append(_drills(drills, None))
            found[-1]["id"] = "physical_drills"
            found[-1]["title"] = "Physical restore drills"
    found += _client(measured.get("application"))
    found.append(_firewall(measured.get("firewall")))
    return [c for c in found if c is not None]
