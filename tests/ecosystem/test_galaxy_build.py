"""galaxy.yml, the built tarball, and the collection installed from it."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.ecosystem.conftest import MODULES, REPO, VENV_BIN, load_yaml, run

INSTALLED = Path(VENV_BIN).parent.joinpath("lib").glob("python3*/site-packages/ansible_collections")
VENV_COLLECTIONS = next(INSTALLED, None)

# Paths that are development state, never part of the collection.
NOT_SHIPPED = re.compile(r"(^|/)(\.venv|build|\.ci|\.git|\.pytest_cache|__pycache__|\.tox|\.ansible|\.cache"
                         r"|\.frende-db-pki)(/|$)"
                         r"|^(bench|scripts|tests|molecule|requirements)(/|$)|\.pyc$|\.tar\.gz$")
# Collections only an AWX user needs (requirements.yml, the EE), never a dependency of the collection.
AWX_ONLY = {"awx.awx": ["playbooks/awx_configure.yml"]}
SECRET_NAMES = re.compile(r"(^|/)(\.env|\.pgpass|\.vault_pass.*|id_(rsa|ecdsa|ed25519)|.*\.(key|pem|p12|pfx|age))$")
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*\n[A-Za-z0-9+/=\s]{40,}-----END")


def tar_members(tarball):
    with tarfile.open(tarball) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_galaxy_metadata_is_complete(galaxy):
    for key in ("repository", "documentation", "homepage", "issues"):
        assert re.match(r"https://\S+$", galaxy.get(key) or ""), "galaxy.yml %s must be an https URL" % key
    assert galaxy["license"] or galaxy.get("license_file")
    assert galaxy["description"] and galaxy["authors"] and galaxy["tags"]
    assert galaxy["readme"] and (REPO / galaxy["readme"]).is_file()


def test_dependencies_have_floors_the_tests_satisfy(galaxy):
    """Each floor is met by the release the test venv runs, in the same major series."""
    assert VENV_COLLECTIONS, "no ansible_collections in the venv (the `ansible` package)"
    for fqcn, spec in galaxy["dependencies"].items():
        floor = re.fullmatch(r">=(\d+)\.(\d+)\.(\d+)", spec)
        assert floor, "galaxy.yml dependency %s: %r is not a '>=X.Y.Z' floor" % (fqcn, spec)
        manifest = VENV_COLLECTIONS.joinpath(*fqcn.split("."), "MANIFEST.json")
        assert manifest.is_file(), "%s is not in the test venv; the tests never ran with it" % fqcn
        tested = tuple(int(x) for x in json.loads(manifest.read_text())["collection_info"]["version"].split(".")[:3])
        wanted = tuple(int(x) for x in floor.groups())
        assert wanted <= tested, "%s floor %s is above the tested %s" % (fqcn, spec, tested)
        assert wanted[0] == tested[0], "%s floor %s is another major release than the tested %s" % (fqcn, spec, tested)


def test_requirements_yml_lists_the_galaxy_dependencies_and_what_only_awx_needs(galaxy):
    listed = {c["name"]: c.get("version", "*") for c in load_yaml(REPO / "requirements.yml")["collections"]}
    assert {k: v for k, v in listed.items() if k not in AWX_ONLY} == galaxy["dependencies"]
    assert set(AWX_ONLY) <= set(listed), "requirements.yml must list what AWX users need: %s" % sorted(AWX_ONLY)
    assert not set(AWX_ONLY) & set(galaxy["dependencies"]), "installing frende.db must not pull %s" % sorted(AWX_ONLY)


def _used_collections():
    """Collections named by roles, playbooks (FQCNs outside comments) and plugins (imports): {name: [files]}."""
    known = {"%s.%s" % (p.parent.name, p.name) for p in VENV_COLLECTIONS.glob("*/*") if p.is_dir()}
    known |= {"ansible.builtin", "frende.db"}
    used = {}
    for top in ("roles", "playbooks"):
        for path in sorted((REPO / top).rglob("*")) if (REPO / top).is_dir() else []:
            if path.suffix not in (".yml", ".yaml", ".j2") or not path.is_file():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                code = line.split("#", 1)[0] if path.suffix != ".j2" else line
                for ns, coll in re.findall(r"\b([a-z_0-9]+)\.([a-z_0-9]+)\.[a-z_0-9]+\b", code):
                    if "%s.%s" % (ns, coll) in known:
                        used.setdefault("%s.%s" % (ns, coll), set()).add(str(path.relative_to(REPO)))
    for path in sorted((REPO / "plugins").rglob("*.py")):
        for ns, coll in re.findall(r"ansible_collections\.([a-z_0-9]+)\.([a-z_0-9]+)", path.read_text(encoding="utf-8")):
            used.setdefault("%s.%s" % (ns, coll), set()).add(str(path.relative_to(REPO)))
    for own in ("ansible.builtin", "frende.db"):
        used.pop(own, None)
    return used


def test_dependencies_are_exactly_the_collections_used(galaxy):
    used = _used_collections()
    for name, files in AWX_ONLY.items():
        assert used.get(name) == set(files), "%s is used by %s, not only by %s" % (name, sorted(used.get(name, ())), files)
        used.pop(name)
    declared = set(galaxy["dependencies"])
    missing = {c: sorted(p) for c, p in used.items() if c not in declared}
    unused = declared - set(used)
    assert not missing, "used but not in galaxy.yml dependencies (collection: first file): %s" % missing
    assert not unused, "in galaxy.yml dependencies but used by no role, playbook or plugin: %s" % sorted(unused)


def test_build_ignore_keeps_development_state_out(tmp_path, galaxy):
    """Plant development files next to this galaxy.yml: none of them may reach the tarball."""
    src = tmp_path / "src"
    (src / "meta").mkdir(parents=True)
    shutil.copy(REPO / "galaxy.yml", src)
    shutil.copy(REPO / galaxy["readme"], src)
    shutil.copy(REPO / "meta" / "runtime.yml", src / "meta")
    planted = [".venv/bin/python", "build/collections/x", "bench/results/run.json", ".ci/run",
               ".pytest_cache/v/x", "plugins/modules/__pycache__/m.cpython-311.pyc", "plugins/x.pyc",
               "tests/output/junit/x.xml", ".ansible/collections/x", ".tox/x", "frende-db-0.0.1.tar.gz",
               "changelogs/.plugin-cache.yaml",
               # the role's CA (private key included) next to an inventory or playbook
               ".frende-db-pki/ca.key", "inventories/example/.frende-db-pki/ca.key",
               "molecule/default/.frende-db-pki/ca.key",
               # test helpers, test hosts, benchmarks: how the collection is tested, not what it is
               "tests/support/connection_plugins/podman.py", "tests/unit/plugins/test_x.py",
               "scripts/podman/build-image.sh", "bench/converge.sh", "molecule/default/molecule.yml",
               "requirements/test.txt", "Makefile", "pytest.ini"]
    for rel in planted + ["plugins/modules/kept.py"]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x\n")
    run([VENV_BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path, src])
    names = tar_members(next(tmp_path.glob("frende-db-*.tar.gz")))
    assert "plugins/modules/kept.py" in names
    shipped = sorted({n for n in names if NOT_SHIPPED.search(n)} | {rel for rel in planted if rel in names})
    assert not shipped, "build_ignore lets these into the tarball: %s" % shipped


def test_tarball_holds_no_development_state_or_secrets(collection_tarball):
    members = tar_members(collection_tarball)
    assert "MANIFEST.json" in members and "meta/runtime.yml" in members
    assert not [n for n in members if NOT_SHIPPED.search(n)]
    assert not [n for n in members if SECRET_NAMES.search(n)], "secret-looking file names in the tarball"
    with tarfile.open(collection_tarball) as tar:
        leaks = [m.name for m in tar.getmembers() if m.isfile() and PEM_PRIVATE_KEY.search(tar.extractfile(m).read())]
    assert not leaks, "private keys in the tarball: %s" % leaks


def test_tarball_manifest_carries_galaxy_metadata(collection_tarball, galaxy):
    with tarfile.open(collection_tarball) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    for key in ("namespace", "name", "version", "dependencies", "repository", "documentation", "issues"):
        assert info[key] == galaxy[key], key


def test_installed_copy_lists_every_module(installed_collections):
    proc = run([VENV_BIN / "ansible-doc", "--list", "--json", "frende.db"],
               env={"ANSIBLE_COLLECTIONS_PATH": str(installed_collections)})
    assert sorted(json.loads(proc.stdout)) == ["frende.db.%s" % m for m in MODULES]


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_reads_the_installed_module(installed_collections, module):
    proc = run([VENV_BIN / "ansible-doc", "--json", "frende.db.%s" % module],
               env={"ANSIBLE_COLLECTIONS_PATH": str(installed_collections)})
    doc = json.loads(proc.stdout)["frende.db.%s" % module]
    assert Path(doc["doc"]["filename"]).resolve().is_relative_to(Path(installed_collections).resolve())
    assert doc["doc"]["short_description"] and doc["doc"]["options"]
    assert doc["examples"] and "frende.db.%s" % module in doc["examples"]
    assert doc["return"]


def test_action_group_names_only_modules_that_exist():
    groups = load_yaml(REPO / "meta" / "runtime.yml").get("action_groups", {})
    for group, members in groups.items():
        absent = [m for m in members if isinstance(m, str) and m not in MODULES]
        assert not absent, "meta/runtime.yml action group %s names modules that do not exist: %s" % (group, absent)
