# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Packs what the role installs under /usr/local/lib/frende-db, on the controller.

Two releases, each one gzipped tar named by the hash of its content:

  commands    bin/frende-db and exactly the Python files it imports: the import
              closure of the commands (_backup/cli.py, _maintenance/cli.py, _repository/cli.py),
              followed through every ``ansible_collections.frende.db`` import.
              Nothing else of the collection goes to a database host.
  validators  the role's config checkers (files/libexec/*), which tasks and
              handlers call before a file replaces the live one.

Every archive holds ``.files``: "<sha256>  <path>" per file, which
install-release.sh checks on the host. Fixed owners, modes, times and order
make equal inputs give an equal archive, so an unchanged collection is an
unchanged release.

Usage: pack-release.py COLLECTION_ROOT LIBEXEC_DIR OUT_DIR
Prints JSON: {"commands": {"id", "path", "new", "files"}, "validators": {...}},
with ``path`` a file holding the archive in base64 (what the install task
sends) and ``new`` true when this run wrote it.
"""

import ast
import base64
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

PACKAGE = "ansible_collections.frende.db"
ENTRY = "bin/frende-db"
COMMANDS = ("plugins.module_utils._backup.cli", "plugins.module_utils._maintenance.cli",
            "plugins.module_utils._repository.cli")


def module_file(root, dotted):
    """The file of collection module ``dotted`` (relative to the collection), or None for a package or none."""
    path = os.path.join(root, *dotted.split(".")) + ".py"
    return path if os.path.isfile(path) else None


def imported(root, path):
    """Collection modules (dotted, relative to the collection) that the file at ``path`` imports."""
    with open(path, "r", encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from P.pkg import mod" names a module; "from P.mod import name" names the module P.mod.
            names = [node.module] + ["%s.%s" % (node.module, alias.name) for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith(PACKAGE + "."):
                found.append(name[len(PACKAGE) + 1:])
    return [name for name in found if module_file(root, name)]


def closure(root, starts):
    """Every collection module reachable from ``starts`` through imports (relative paths, sorted)."""
    todo = list(starts)
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(root, name)
        if path is None:
            raise SystemExit("pack-release: %s imports %s, which is not in the collection" % (ENTRY, name))
        seen.add(name)
        todo.extend(imported(root, path))
    return sorted(os.path.relpath(module_file(root, name), root) for name in seen)


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def pack(kind, files, out_dir):
    """``files``: [(archive path, source path, mode)]. Writes the base64 archive; returns its description."""
    listing = "".join("%s  %s\n" % (sha256(src), name) for name, src, _mode in sorted(files))
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            entries = [(".files", listing.encode("utf-8"), 0o644)]
            for name, src, mode in sorted(files):
                with open(src, "rb") as handle:
                    entries.append((name, handle.read(), mode))
            for name, data, mode in entries:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, 946684800
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                tar.addfile(info, io.BytesIO(data))
    release = hashlib.sha256(raw.getvalue()).hexdigest()[:16]
    path = os.path.join(out_dir, "frende-db-%s-%s.b64" % (kind, release))
    new = not os.path.exists(path)
    if new:
        part = path + ".%d.partial" % os.getpid()
        with open(part, "wb") as handle:
            handle.write(base64.b64encode(raw.getvalue()))
        os.replace(part, path)
    return dict(id=release, path=path, new=new, files=[name for name, _src, _mode in sorted(files)])


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: pack-release.py COLLECTION_ROOT LIBEXEC_DIR OUT_DIR\n")
        return 2
    root, libexec, out_dir = (os.path.realpath(a) for a in argv)
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    commands = [(ENTRY, os.path.join(root, ENTRY), 0o755)]
    commands += [(rel, os.path.join(root, rel), 0o644) for rel in closure(root, COMMANDS)]
    validators = [(name, os.path.join(libexec, name), 0o755) for name in sorted(os.listdir(libexec))
                  if os.path.isfile(os.path.join(libexec, name))]
    result = dict(commands=pack("commands", commands, out_dir), validators=pack("validators", validators, out_dir))
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
