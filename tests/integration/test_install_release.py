"""files/install-release.sh with real sh, tar and sha256sum: versioned releases switched by one link."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = REPO / "roles" / "frende_db" / "files"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs as root, like the role")


def pack(tmp_path, tweak=None):
    """Pack this checkout's commands (optionally changed by ``tweak(copy)``); the release description."""
    copy = tmp_path / ("collection-%d" % len(list(tmp_path.glob("collection-*"))))
    copy.mkdir()
    subprocess.run(["cp", "-r", str(REPO / "bin"), str(REPO / "plugins"), str(copy)], check=True)
    if tweak:
        tweak(copy)
    proc = subprocess.run([sys.executable, str(FILES / "pack-release.py"), str(copy), str(FILES / "libexec"),
                           str(tmp_path / "out")], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["commands"]


def install(tmp_path, release, mode="apply", payload=None, extra=()):
    store, link, bindir = tmp_path / "lib" / "releases", tmp_path / "lib" / "current", tmp_path / "bin"
    argv = ["sh", str(FILES / "install-release.sh"), str(store), release["id"], str(link), mode,
            "%s/frende-db-backup=bin/frende-db" % bindir, *extra]
    data = payload if payload is not None else Path(release["path"]).read_bytes()
    return subprocess.run(argv, input=data, capture_output=True, check=False)


def with_an_obsolete_module(copy):
    """A collection in which _units.py imports one more module (that the next one drops)."""
    utils = copy / "plugins" / "module_utils"
    (utils / "_obsolete.py").write_text("OLD = True\n")
    with open(utils / "_units.py", "a", encoding="utf-8") as handle:
        handle.write("from ansible_collections.frende.db.plugins.module_utils import _obsolete  # noqa\n")


def test_install_switch_settle_and_remove_what_the_collection_dropped(tmp_path):
    first = pack(tmp_path, with_an_obsolete_module)
    assert "plugins/module_utils/_obsolete.py" in first["files"]
    proc = install(tmp_path, first, mode="check")
    assert proc.returncode == 0 and proc.stdout.decode().startswith("would change: release"), proc
    assert not (tmp_path / "lib").exists(), "check mode created files"

    proc = install(tmp_path, first)
    assert proc.returncode == 0 and proc.stdout.decode().startswith("changed: "), proc.stderr
    current = tmp_path / "lib" / "current"
    assert os.readlink(current) == str(tmp_path / "lib" / "releases" / first["id"])
    assert os.readlink(tmp_path / "bin" / "frende-db-backup") == str(current / "bin" / "frende-db")
    ran = subprocess.run([str(tmp_path / "bin" / "frende-db-backup"), "--help"], capture_output=True, text=True,
                         check=False)
    assert ran.returncode == 0 and "--action" in ran.stdout, ran.stderr
    assert install(tmp_path, first).stdout == b"unchanged\n"

    # A file changed on the host is drift: check reports it and changes nothing, apply puts it back.
    target = current / "plugins" / "module_utils" / "_units.py"
    original = target.read_bytes()
    target.write_bytes(original + b"# edited on the host\n")
    proc = install(tmp_path, first, mode="check")
    assert b"were changed on the host" in proc.stdout and target.read_bytes() != original
    assert install(tmp_path, first).returncode == 0 and target.read_bytes() == original
    (current / "plugins" / "stray.py").write_text("x = 1\n")
    assert b"holds files it did not ship" in install(tmp_path, first, mode="check").stdout
    install(tmp_path, first)
    assert not (current / "plugins" / "stray.py").exists()

    # The next collection drops a file: the new release lacks it, the old release is gone.
    second = pack(tmp_path)
    assert second["id"] != first["id"] and (current / "plugins" / "module_utils" / "_obsolete.py").exists()
    proc = install(tmp_path, second)
    assert proc.returncode == 0 and b"old releases to remove: %s" % first["id"].encode() in proc.stdout
    assert os.listdir(tmp_path / "lib" / "releases") == [second["id"]]
    assert os.readlink(current) == str(tmp_path / "lib" / "releases" / second["id"])
    assert not (current / "plugins" / "module_utils" / "_obsolete.py").exists()
    assert install(tmp_path, second).stdout == b"unchanged\n"


def test_a_damaged_release_is_never_switched_to(tmp_path):
    good = pack(tmp_path)
    install(tmp_path, good)
    bad = pack(tmp_path, lambda copy: (copy / "bin" / "frende-db").write_text("# changed\n"))
    raw = base64.b64decode(Path(bad["path"]).read_bytes())
    tampered = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(raw)) as src, tarfile.open(fileobj=tampered, mode="w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "bin/frende-db":
                data = b"#!/bin/sh\necho tampered\n"
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    proc = install(tmp_path, bad, payload=base64.b64encode(tampered.getvalue()))
    assert proc.returncode != 0 and b"does not match its own file list" in proc.stderr
    assert os.readlink(tmp_path / "lib" / "current") == str(tmp_path / "lib" / "releases" / good["id"])
    assert sorted(os.listdir(tmp_path / "lib" / "releases")) == [good["id"]]


def test_the_layout_before_versioned_releases_is_replaced(tmp_path):
    lib = tmp_path / "lib"
    (lib / "bin").mkdir(parents=True)
    (lib / "plugins" / "module_utils").mkdir(parents=True)
    (lib / "plugins" / "module_utils" / "_backup_cli.py").write_text("old = 1\n")
    (lib / "current").mkdir()  # a real directory where the link goes
    release = pack(tmp_path)
    extra = ("absent=%s" % (lib / "bin"), "absent=%s" % (lib / "plugins"))
    proc = install(tmp_path, release, mode="check", extra=extra)
    assert b"is left over" in proc.stdout and (lib / "plugins").exists()
    assert install(tmp_path, release, extra=extra).returncode == 0
    assert not (lib / "bin").exists() and not (lib / "plugins").exists()
    assert (lib / "current").is_symlink()
    assert install(tmp_path, release, extra=extra).stdout == b"unchanged\n"


@pytest.mark.parametrize("mode", ["apply", "check"])
def test_the_whole_archive_is_read_even_when_nothing_changes(tmp_path, mode):
    """The command module writes the archive to stdin in full: a script that exits first breaks its pipe."""
    release = pack(tmp_path)
    install(tmp_path, release)
    store, link = tmp_path / "lib" / "releases", tmp_path / "lib" / "current"
    proc = subprocess.Popen(["sh", str(FILES / "install-release.sh"), str(store), release["id"], str(link), mode,
                             "%s/frende-db-backup=bin/frende-db" % (tmp_path / "bin")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    payload = Path(release["path"]).read_bytes()
    assert len(payload) > 1 << 16  # more than a pipe holds (64 KiB)
    time.sleep(0.5)  # let the script finish its checks first
    proc.stdin.write(payload)  # BrokenPipeError here if the script did not read it
    proc.stdin.close()
    assert proc.stdout.read() == b"unchanged\n" and proc.wait() == 0
