"""files/pack-release.py: what goes to a database or backup host is exactly what the commands import."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[5]
PACK = REPO / "roles" / "frende_db" / "files" / "pack-release.py"
LIBEXEC = REPO / "roles" / "frende_db" / "files" / "libexec"

# Runs a command from an unpacked release with Ansible unimportable, then prints which
# collection files Python loaded and whether anything of Ansible was.
PROBE = r"""
import json, os, sys
sys.modules["ansible"] = None          # import ansible / ansible.x now raises ImportError
link = os.path.join(os.path.dirname(RELEASE), sys.argv[1])
os.symlink(os.path.join(RELEASE, "bin", "frende-db"), link)   # as /usr/local/bin/frende-db-backup is
sys.argv = [link, "--help"]
code = None
try:
    exec(compile(open(link).read(), link, "exec"), dict(__name__="__main__", __file__=link))
except SystemExit as exc:
    code = exc.code
finally:
    os.unlink(link)
loaded = sorted(m.__file__[len(RELEASE) + 1:] for name, m in list(sys.modules.items())
                if name.startswith("ansible_collections.frende.db.") and getattr(m, "__file__", None))
ansible = sorted(name for name, m in sys.modules.items() if (name == "ansible" or name.startswith("ansible."))
                 and m is not None)
print(json.dumps(dict(code=code, loaded=loaded, ansible=ansible)))
"""


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    out = tmp_path_factory.mktemp("releases")
    proc = subprocess.run([sys.executable, str(PACK), str(REPO), str(LIBEXEC), str(out)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout), out


def members(release):
    data = base64.b64decode(Path(release["path"]).read_bytes())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def unpack(release, target):
    for name, data in members(release).items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return target


COMMANDS = ("frende-db-backup", "frende-db-maintenance", "frende-db-repository")


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_runs_from_its_release_without_ansible(packed, tmp_path, command):
    releases, _out = packed
    root = unpack(releases["commands"], tmp_path / "release")
    # As cron or root would run it: Python free to write bytecode unless the command says otherwise.
    environ = dict((k, v) for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE")
    proc = subprocess.run([sys.executable, "-c", "RELEASE = %r\n" % str(root) + PROBE, command],
                          capture_output=True, text=True, check=False, env=environ)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.splitlines()[-1])
    assert doc["code"] == 0 and doc["ansible"] == [], doc
    assert doc["loaded"], "the probe loaded nothing of the collection"
    # Run as root, a command must leave its release as it was installed (no __pycache__).
    assert sorted(str(p.relative_to(root)) for p in root.rglob("__pycache__")) == []


def test_the_release_holds_exactly_the_import_closure_of_the_commands(packed, tmp_path):
    releases, _out = packed
    root = unpack(releases["commands"], tmp_path / "release")
    loaded = set()
    for command in COMMANDS:
        proc = subprocess.run([sys.executable, "-c", "RELEASE = %r\n" % str(root) + PROBE, command],
                              capture_output=True, text=True, check=True)
        loaded |= set(json.loads(proc.stdout.splitlines()[-1])["loaded"])
    shipped = set(releases["commands"]["files"]) - {"bin/frende-db"}
    assert shipped == loaded
    # What only the modules use stays on the controller.
    assert not [f for f in shipped if f.startswith(("plugins/modules/", "plugins/module_utils/_role/"))]
    assert "plugins/module_utils/_health/options.py" not in shipped


def test_every_file_is_listed_with_its_checksum_and_the_archive_is_reproducible(packed, tmp_path):
    releases, out = packed
    files = members(releases["commands"])
    listing = dict(line.split("  ", 1)[::-1] for line in files[".files"].decode().splitlines())
    assert set(listing) == set(files) - {".files"} == set(releases["commands"]["files"])
    again = subprocess.run([sys.executable, str(PACK), str(REPO), str(LIBEXEC), str(out)], capture_output=True,
                           text=True, check=True)
    second = json.loads(again.stdout)
    assert second["commands"]["id"] == releases["commands"]["id"] and second["commands"]["new"] is False
    assert second["validators"]["id"] == releases["validators"]["id"]
    assert sorted(members(releases["validators"])) == [".files", "check-pg-hba", "check-postgresql-conf",
                                                       "firewall-metrics", "reload-postgresql", "web-config"]


def test_a_changed_file_makes_another_release(tmp_path):
    copy = tmp_path / "collection"
    subprocess.run(["cp", "-r", str(REPO / "bin"), str(REPO / "plugins"), str(tmp_path)], check=True)
    copy.mkdir()
    for name in ("bin", "plugins"):
        (tmp_path / name).rename(copy / name)
    out = tmp_path / "out"
    first = json.loads(subprocess.run([sys.executable, str(PACK), str(copy), str(LIBEXEC), str(out)],
                                      capture_output=True, text=True, check=True).stdout)
    with open(copy / "plugins" / "module_utils" / "_units.py", "a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")
    second = json.loads(subprocess.run([sys.executable, str(PACK), str(copy), str(LIBEXEC), str(out)],
                                       capture_output=True, text=True, check=True).stdout)
    assert second["commands"]["id"] != first["commands"]["id"] and second["commands"]["new"] is True
    assert second["validators"]["id"] == first["validators"]["id"]
