# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Quick verification of a backup set: manifest, checksums, decompression, table of contents.

Private to frende.db; stdlib only. The same pass that proves a dump decompresses
can also write it out for pg_restore (restore needs a seekable file for -j).
"""

from __future__ import annotations

import os

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._backup.files import PartialFile
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._backup.pipeline import (
    CountingSink, DiskFullError, Pipeline, ProcessSink, run, sha256_file)

GLOBALS_HEAD = b"--\n-- PostgreSQL database cluster dump"
GLOBALS_TAIL = b"-- PostgreSQL database cluster dump complete"
PLAIN_HEAD = b"-- PostgreSQL database dump"
PLAIN_TAIL = b"-- PostgreSQL database dump complete"


class VerifyFailed(FrendeDbError):
    """A set failed verification; ``details['verification']`` says which check."""


class Checks:
    """The list of checks of one verification, in order."""

    def __init__(self, name):
        self.name = name
        self.items = []

    def ok(self, check, detail):
        self.items.append(dict(check=check, ok=True, detail=detail))

    def fail(self, check, detail):
        self.items.append(dict(check=check, ok=False, detail=detail))
        raise VerifyFailed("Backup %s failed verification (%s): %s" % (self.name, check, detail))


def toc_tables(toc_text):
    """``schema.table`` of every TABLE DATA entry in ``pg_restore --list`` output."""
    found = set()
    for line in toc_text.splitlines():
        if line.startswith(";") or " TABLE DATA " not in line:
            continue
        words = line.split(" TABLE DATA ", 1)[1].split()
        if len(words) >= 3:
            found.add("%s.%s" % (words[0], " ".join(words[1:-1])))
    return found


def set_path(directory, manifest, role):
    return os.path.join(directory, manifest["files"][role]["name"])


def decompress_stages(ctx, path, compression, encrypted, identity_file):
    """Stages that turn a set file into its plain content; ``path`` None reads stdin."""
    stages = []
    source = [path] if path else []
    if encrypted:
        stages.append([ctx.program("age"), "--decrypt", "--identity", identity_file] + source)
        source = []
    if compression == "zstd":
        stages.append([ctx.program("zstd"), "-q", "-d", "-c"] + source)
    else:
        stages.append([ctx.program("gzip"), "-d", "-c"] + source)
    return stages


def _explain_decrypt(error, manifest):
    text = str(error)
    if "no identity matched" in text or "incorrect identity" in text.lower():
        return ("identity_file does not match any recipient of this backup (encrypted for %s)"
                % ", ".join(manifest.get("recipients") or ["unknown"]))
    return text


def check_identity_file(identity_file):
    if not os.path.isfile(identity_file) or not os.access(identity_file, os.R_OK):
        raise FrendeDbError("identity_file %s does not exist or is not readable." % identity_file)


def quick_verify(ctx, entry, identity_file=None, materialize_dir=None):
    """Verify a set; returns the result dict. Raises VerifyFailed on the first failing check.

    With ``materialize_dir`` the decompressed dump is kept there as a partial
    file whose path is returned under ``dump_path`` (the caller removes it).
    """
    directory = os.path.dirname(entry["path"])
    checks = Checks(entry["name"])
    result = dict(name=entry["name"], format=entry["format"], checks=checks.items, dump_path=None)
    try:
        if entry["format"] != "custom":
            _verify_legacy(ctx, entry, checks)
            result["level"] = "quick"
            return result
        manifest = entry["manifest"]
        problems = catalog.validate_manifest(manifest, entry["name"])
        if problems:
            checks.fail("manifest", "; ".join(problems))
        checks.ok("manifest", "present and well-formed")
        for role in ("globals", "dump"):
            if not os.path.isfile(set_path(directory, manifest, role)):
                checks.fail("sha256", "%s is missing" % manifest["files"][role]["name"])
        _check_digest(checks, manifest, "globals", sha256_file(set_path(directory, manifest, "globals")))
        encrypted = manifest["encrypted"]
        if encrypted and not identity_file:
            _check_digest(checks, manifest, "dump", sha256_file(set_path(directory, manifest, "dump")))
            checks.ok("sha256", "both files match the manifest")
            result["level"] = "checksum-only"
            checks.ok("decompress", "skipped: the set is encrypted and no identity_file was given, so only "
                                    "the checksums were verified")
            return result
        if encrypted:
            check_identity_file(identity_file)
        _verify_globals(ctx, directory, manifest, identity_file, checks)
        toc = _read_dump(ctx, directory, manifest, identity_file, checks, result, materialize_dir)
        missing = sorted(set(manifest["tables"]) - toc_tables(toc))
        if missing:
            checks.fail("toc", "the archive lacks data for tables %s" % ", ".join(missing[:5]))
        checks.ok("toc", "pg_restore reads the table of contents; data for all %d tables present"
                  % len(manifest["tables"]))
        result["level"] = "quick"
        return result
    except BaseException as exc:
        if result.get("dump_path"):
            os.unlink(result["dump_path"])
            result["dump_path"] = None
        if isinstance(exc, VerifyFailed):
            result["level"] = "failed"
            exc.details["verification"] = dict((k, v) for k, v in result.items() if k != "dump_path")
        raise


def _run_into(pipeline_stages, ctx, sink, what):
    with Pipeline(pipeline_stages, ctx.env(), what) as pipe:
        pipe.pump(sink)
        pipe.wait()


def _verify_globals(ctx, directory, manifest, identity_file, checks):
    sink = CountingSink()
    path = set_path(directory, manifest, "globals")
    try:
        _run_into(decompress_stages(ctx, path, manifest["compression"], manifest["encrypted"], identity_file),
                  ctx, sink, "reading %s" % os.path.basename(path))
    except VerifyFailed:
        raise
    except FrendeDbError as exc:
        checks.fail("decompress", _explain_decrypt(exc, manifest))
    if not sink.head.startswith(GLOBALS_HEAD) or GLOBALS_TAIL not in sink.tail:
        checks.fail("decompress", "%s is not a complete pg_dumpall globals file" % os.path.basename(path))


def _check_digest(checks, manifest, role, fed):
    expected = manifest["files"][role]
    digest, size = fed
    if size != expected["size"]:
        checks.fail("sha256", "%s has %d bytes, the manifest says %d (truncated or replaced)"
                    % (expected["name"], size, expected["size"]))
    if digest != expected["sha256"]:
        checks.fail("sha256", "%s does not match its SHA-256 in the manifest (the file is corrupt)"
                    % expected["name"])


def _read_dump(ctx, directory, manifest, identity_file, checks, result, materialize_dir):
    """One pass over the dump: hash it, decompress it, and read its table of contents.

    The digest is judged first, so a corrupt file is reported as such even when
    decompression failed on it too.
    """
    path = set_path(directory, manifest, "dump")
    stages = decompress_stages(ctx, None, manifest["compression"], manifest["encrypted"], identity_file)
    what = "reading %s" % os.path.basename(path)
    part = sink = None
    if materialize_dir:
        part = PartialFile(materialize_dir, "restore-%s.dump" % manifest["name"], ctx.ids)
        result["dump_path"] = part.path
    else:
        sink = ProcessSink([ctx.binary("pg_restore"), "--list"], ctx.env(), "pg_restore --list")
    failure = None
    try:
        with Pipeline(stages, ctx.env(), what, feed_path=path, stdout_fd=part.fd if part else None) as pipe:
            if sink:
                pipe.pump(sink)
            fed = pipe.wait()
        if part:
            part.close_unsynced()
    except DiskFullError:
        if part:
            part.discard()
            result["dump_path"] = None
        raise
    except FrendeDbError as exc:
        failure, fed = exc, exc.details.get("fed")
    if failure is not None:
        if part:
            part.discard()
            result["dump_path"] = None
        if sink:
            sink.abort()
        if fed:
            _check_digest(checks, manifest, "dump", fed)
        checks.fail("decompress", _explain_decrypt(failure, manifest))
    _check_digest(checks, manifest, "dump", fed)
    checks.ok("sha256", "both files match the manifest")
    checks.ok("decompress", "decompressed%s completely" % (" and decrypted" if manifest["encrypted"] else ""))
    try:
        if part:
            return run([ctx.binary("pg_restore"), "--list", result["dump_path"]], ctx.env(), "pg_restore --list")
        return sink.finish()
    except FrendeDbError as exc:
        checks.fail("toc", str(exc))


def _verify_legacy(ctx, entry, checks):
    checks.ok("manifest", "legacy pg_dump | gzip file: no manifest, no checksums to compare")
    sink = CountingSink()
    try:
        _run_into([[ctx.program("gzip"), "-d", "-c", entry["path"]]], ctx, sink,
                  "reading %s" % os.path.basename(entry["path"]))
    except FrendeDbError as exc:
        checks.fail("decompress", str(exc))
    if not sink.head.startswith(b"--\n" + PLAIN_HEAD) or PLAIN_TAIL not in sink.tail:
        checks.fail("decompress", "%s is not a complete plain pg_dump file" % os.path.basename(entry["path"]))
    checks.ok("decompress", "gunzips completely into a complete plain SQL dump (%d bytes)" % sink.size)
