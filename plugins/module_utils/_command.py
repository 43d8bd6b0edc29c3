# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the frende-db-* commands share: where settings come from, value checks, the event log.

Private to frende.db; standard library only (bin/frende-db runs it on the
database host without Ansible; the modules use the value checks and the log).

Settings. Every value is a ``Setting(value, origin, where)``: ``where`` names
the flag, environment variable or config file key it came from, so an error
says what to fix. Priority, lowest first: built-in defaults, libpq's PG*
environment, the config file (INI, one section), command-line flags. No
password is ever a setting: libpq reads it from ~/.pgpass or PGPASSWORD.

Event log. One line per event, the same shape for every command::

    <UTC time> <prog>[<pid>] <LEVEL> action=<action> event=<event> key=value ... msg="..."

A value with characters outside ``[A-Za-z0-9_.:/@+,-]`` is JSON-quoted, so a
line splits unambiguously; ``msg`` (a sentence for people) comes last.
"""

from __future__ import annotations

import collections
import configparser
import datetime
import errno
import json
import math
import os
import pwd
import re

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

# -- settings ------------------------------------------------------------------

Setting = collections.namedtuple("Setting", "value origin where")
ORIGINS = ("default", "environment", "config", "flag")
EXCLUSIVE = ("login_host", "login_unix_socket")
# libpq's variables and the option each one stands for; PGHOST and PGDATABASE are
# special (a socket directory or a host; the database means something per command).
PG_ENVIRONMENT = (("PGPORT", "login_port"), ("PGUSER", "login_user"), ("PGSSLMODE", "ssl_mode"),
                  ("PGSSLROOTCERT", "ssl_rootcert"), ("PGCONNECT_TIMEOUT", "connect_timeout"))


def flag_name(key):
    return "--" + key.replace("_", "-")


def defaults(values):
    return dict((key, Setting(value, "default", "%s (default)" % key))
                for key, value in values.items() if value is not None)


def flags(values):
    """Command-line values; None means the flag was not given."""
    return dict((key, Setting(value, "flag", flag_name(key))) for key, value in values.items() if value is not None)


def environment(environ, database_key):
    """Settings implied by libpq's PG* variables, so the command sees what pg_dump and psql see.

    ``database_key``: the option PGDATABASE fills (the maintenance database of
    the backup command, the database that the maintenance command works on).
    """
    layer = {}
    host = environ.get("PGHOST")
    if host:
        # libpq reads a PGHOST that starts with '/' as the directory of a Unix socket.
        layer["login_unix_socket" if host.startswith("/") else "login_host"] = Setting(host, "environment", "PGHOST")
    for var, key in PG_ENVIRONMENT + (("PGDATABASE", database_key),):
        if environ.get(var):
            layer[key] = Setting(environ[var], "environment", var)
    return layer


def _is_secret(key, known):
    # A known key is a setting about passwords (expected_password_encryption), never one.
    return key not in known and ("password" in key or "passwd" in key)


def read_config(path, section, known, explicit, prog, command_line_only=("action",)):
    """{key: Setting} from the ``[section]`` of the INI file at ``path`` (values are the file's text).

    A missing file is fine unless it was named with --config. Keys may be written
    with '-' or '_'. A password key, a key of ``command_line_only`` and a key not in
    ``known`` are refused, each with what to do instead; a secret is never echoed.
    """
    if not os.path.exists(path):
        if explicit:
            raise FrendeDbError("The config file %s does not exist (given with --config)." % path)
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeError) as exc:
        raise FrendeDbError("Cannot read the config file %s: %s." % (path, exc))
    except configparser.Error as exc:
        raise FrendeDbError("The config file %s is not valid INI: %s" % (path, str(exc).splitlines()[0]))
    if not parser.has_section(section):
        raise FrendeDbError("The config file %s has no [%s] section." % (path, section))
    layer = {}
    for raw_key, value in parser.items(section):
        key = raw_key.strip().replace("-", "_")
        where = "%s [%s] %s" % (path, section, raw_key)
        if _is_secret(key, known):
            raise FrendeDbError("%s is refused: passwords are never read from a config file. The password comes "
                                "only from ~/.pgpass (mode 0600) or PGPASSWORD of the user running %s."
                                % (where, prog))
        if key in command_line_only:
            raise FrendeDbError("%s: %s is chosen on the command line (%s), not in the config file."
                                % (where, key, flag_name(key)))
        if key not in known:
            raise FrendeDbError("%s: unknown key %r in [%s]; known keys: %s."
                                % (path, raw_key, section, ", ".join(sorted(known))))
        layer[key] = Setting(value.strip(), "config", where)
    return layer


def merge(*layers):
    """{key: Setting} from layers in rising priority (defaults, environment, config, flags).

    One layer may not set both login_host and login_unix_socket; a layer that
    sets one drops the other from the layers below it, so ``--login-host db2``
    overrides a socket from PGHOST or the config file.
    """
    merged = {}
    for layer in layers:
        given = dict((key, setting) for key, setting in layer.items() if setting.value is not None)
        if all(key in given for key in EXCLUSIVE):
            raise FrendeDbError("login_host (%s) and login_unix_socket (%s) are mutually exclusive; give one of them."
                                % (given["login_host"].where, given["login_unix_socket"].where))
        for key, other in (EXCLUSIVE, EXCLUSIVE[::-1]):
            if key in given:
                merged.pop(other, None)
        merged.update(given)
    return merged


# -- value checks --------------------------------------------------------------
# ``what`` names the value for the message: an option, a flag, a variable or a file key.

def _bounded(number, value, what, minimum, maximum):
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            raise FrendeDbError("%s must be at least %s, got %s." % (what, minimum, value))
        if minimum is None:
            raise FrendeDbError("%s must be at most %s, got %s." % (what, maximum, value))
        raise FrendeDbError("%s must be between %s and %s, got %s." % (what, minimum, maximum, value))
    return number


def to_int(value, what, minimum=None, maximum=None):
    if isinstance(value, bool):
        raise FrendeDbError("%s must be a whole number, got %r." % (what, value))
    if isinstance(value, int):
        return _bounded(value, value, what, minimum, maximum)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise FrendeDbError("%s must be a whole number, got %r." % (what, value))
    return _bounded(number, str(value).strip(), what, minimum, maximum)


def to_number(value, what, minimum=None, maximum=None):
    """A finite decimal number (float)."""
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        raise FrendeDbError("%s must be a number, got %r." % (what, value))
    return _bounded(number, str(value).strip(), what, minimum, maximum)


def to_bool(value, what):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "on", "true", "yes"):
        return True
    if text in ("0", "off", "false", "no"):
        return False
    raise FrendeDbError("%s must be true or false (yes/no, on/off, 1/0), got %r." % (what, value))


def to_choice(value, what, choices):
    """The choice ``value`` names, in the choice's own spelling (config files differ in case)."""
    for choice in choices:
        if str(value).strip().lower() == choice.lower():
            return choice
    raise FrendeDbError("%s must be one of %s, got %r." % (what, ", ".join(choices), value))


OS_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]*$")


def to_os_user(value, what):
    """An OS user name (the user the commands become when started as root)."""
    if not isinstance(value, str) or not OS_USER_RE.match(value):
        raise FrendeDbError("%s must be an OS user name such as postgres, got %r." % (what, value))
    return value


def to_path(value, what, absolute=False):
    if value is None:
        return None
    if not isinstance(value, str) or value.strip() == "" or "\x00" in value:
        raise FrendeDbError("%s must be a file system path, got %r." % (what, value))
    if absolute and not os.path.isabs(value):
        raise FrendeDbError("%s must be an absolute path, got %r." % (what, value))
    return value


# -- event log -----------------------------------------------------------------

LEVELS = ("INFO", "WARNING", "ERROR")
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/@+,-]*$")


def run_as(user, environ=None):
    """Run as OS user ``user`` from here on when started as root, as Debian's pg_ctlcluster does.

    Peer authentication over the local socket then sees the database's OS user,
    not root, and every file the command writes belongs to that user, as under
    cron. Returns the user's name when it switched, None otherwise (not root, or
    ``user`` is root itself). HOME, USER and LOGNAME follow, so libpq reads that
    user's ~/.pgpass; the rest of the environment (PGPASSWORD, PG*) is kept.
    """
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise FrendeDbError("The OS user %r does not exist on this host. Run as root, the command switches to the "
                            "database's OS user (owner, usually postgres); set owner to that user." % user)
    if entry.pw_uid == 0:
        return None
    os.initgroups(entry.pw_name, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    environ = os.environ if environ is None else environ
    environ.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    try:
        os.chdir(entry.pw_dir)
    except OSError:
        os.chdir("/")
    return entry.pw_name


def log_path_hint(flag_value, config_path, section, default, key="log_file"):
    """Where a failure before the settings were understood is logged: the flag, else the config file's
    log_file (read leniently, it may be what is broken), else the default. ``key``: another path setting
    found the same way (metrics_file)."""
    if isinstance(flag_value, str) and os.path.isabs(flag_value):
        return flag_value
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(config_path, "r", encoding="utf-8") as handle:
            parser.read_file(handle)
        for spelling in (key, key.replace("_", "-")):
            value = parser.get(section, spelling, fallback="").strip()
            if os.path.isabs(value):
                return value
    except (OSError, UnicodeError, configparser.Error):
        pass
    return default


def os_user_ids(name):
    """(uid, gid) of OS user ``name`` when running as root, else None; KeyError if there is no such user."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def format_value(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "%.3f" % value
    text = str(value)
    return text if text and _PLAIN.match(text) else json.dumps(text)


def format_line(prog, pid, moment, level, action, event, fields):
    """One log line; ``fields`` in their order, None left out, ``msg`` last with its white space folded."""
    if level not in LEVELS:
        raise ValueError("unknown log level %r" % level)
    parts = ["%s %s[%d] %s action=%s event=%s" % (moment.strftime("%Y-%m-%dT%H:%M:%SZ"), prog, pid, level,
                                                  action, event)]
    parts.extend("%s=%s" % (key, format_value(value)) for key, value in fields.items()
                 if value is not None and key != "msg")
    if fields.get("msg") is not None:
        parts.append("msg=%s" % format_value(" ".join(str(fields["msg"]).split())))
    return " ".join(parts)


def log_failure(path, prog, action, message, enabled=True, owner=None, **fields):
    """One ERROR line for a failure; a log that cannot be written must not hide the failure itself.

    ``owner``: the OS user a log file created by root goes to (ignored when no such user exists).
    """
    try:
        ids = os_user_ids(owner) if owner else None
    except KeyError:
        ids = None
    try:
        EventLog(path, prog, enabled=enabled, owner_ids=ids).error(action, "failed", msg=message, **fields)
    except FrendeDbError:
        pass


class EventLog:
    """Appends one line per event to ``path``; ``enabled=False`` (check mode, list) writes nothing.

    A directory or file this log creates gets 0750 or 0640 and, with ``owner_ids``,
    goes to that (uid, gid): a run as root must not leave a log that the database
    user's cron job cannot append to. A symbolic link as the log file is refused
    (the log directory belongs to that user; root must not write where a link points).
    ``echo``: a stream that also gets the WARNING and ERROR lines.
    """

    def __init__(self, path, prog, enabled=True, owner_ids=None, echo=None):
        self.path = path
        self.prog = prog
        self.enabled = enabled and bool(path)
        self.owner_ids = owner_ids
        self.echo = echo

    def _open(self):
        parent = os.path.dirname(self.path)
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, mode=0o750)
            os.chmod(parent, 0o750)
            if self.owner_ids:
                os.chown(parent, *self.owner_ids)
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            return os.open(self.path, flags)
        try:
            os.fchmod(fd, 0o640)
            if self.owner_ids:
                os.fchown(fd, *self.owner_ids)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _fail(self, exc):
        reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        return FrendeDbError("Cannot write the log file %s: %s. Set log_file (or --log-file) to a writable path."
                             % (self.path, reason))

    def open_check(self):
        """Fail before any work when the log cannot be written."""
        if not self.enabled:
            return
        try:
            os.close(self._open())
        except OSError as exc:
            raise self._fail(exc)

    def write(self, level, action, event, /, **fields):
        line = format_line(self.prog, os.getpid(), datetime.datetime.now(datetime.timezone.utc), level, action,
                           event, fields)
        if self.echo is not None and level != "INFO":
            self.echo.write(line + "\n")
        if not self.enabled:
            return
        try:
            fd = self._open()
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._fail(exc)

    def info(self, action, event, /, **fields):
        self.write("INFO", action, event, **fields)

    def warning(self, action, event, /, **fields):
        self.write("WARNING", action, event, **fields)

    def error(self, action, event, /, **fields):
        self.write("ERROR", action, event, **fields)
