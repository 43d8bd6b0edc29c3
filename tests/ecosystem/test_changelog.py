"""changelogs/: the fragments lint clean, a bad one is caught, and a release renders them all."""

from __future__ import annotations

import os
import shutil
import subprocess

import yaml

from tests.ecosystem.conftest import MODULES, REPO, VENV_BIN, run


def fragments():
    return sorted((REPO / "changelogs" / "fragments").glob("*.y*ml"))


def collection_copy(base):
    """changelogs/, galaxy.yml, meta/ and plugins/ at ansible_collections/frende/db (antsibull-changelog
    asks ansible-doc for the plugins, which finds them only there)."""
    root = base / "ansible_collections" / "frende" / "db"
    root.mkdir(parents=True)
    for name in ("changelogs", "meta", "plugins"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", ".plugin-cache.yaml"))
    shutil.copy(REPO / "galaxy.yml", root)
    return root


def test_repository_fragments_lint_clean():
    assert fragments(), "no changelog fragment at all"
    run([VENV_BIN / "antsibull-changelog", "lint"], cwd=REPO)


def test_lint_catches_a_broken_fragment(tmp_path):
    root = collection_copy(tmp_path)
    (root / "changelogs" / "fragments" / "broken.yml").write_text("new_stuff:\n  - not a section this config knows\n")
    proc = subprocess.run([str(VENV_BIN / "antsibull-changelog"), "lint"], cwd=root, capture_output=True, text=True,
                          check=False)
    assert proc.returncode != 0
    assert "broken.yml" in proc.stdout + proc.stderr and "new_stuff" in proc.stdout + proc.stderr


def test_a_release_renders_every_fragment_and_module(tmp_path, galaxy):
    """Release galaxy.yml's version in a copy: the fragments and the modules it adds all appear."""
    root = collection_copy(tmp_path)
    version = str(galaxy["version"])
    env = {"ANSIBLE_COLLECTIONS_PATH": str(tmp_path), "PATH": str(VENV_BIN) + os.pathsep + os.environ["PATH"]}
    run([VENV_BIN / "antsibull-changelog", "release", "--version", version, "--date", "2026-01-01"], cwd=root, env=env)
    rendered = " ".join((root / "CHANGELOG.rst").read_text().split())
    for fragment in fragments():
        for section, entries in yaml.safe_load(fragment.read_text()).items():
            for entry in entries if isinstance(entries, list) else [entries]:
                assert " ".join(entry.split()) in rendered, "%s (%s) missing from CHANGELOG.rst" % (fragment.name, section)
    for module in MODULES:
        # antsibull-changelog lists a module as new in the release named by its version_added.
        assert "frende.db.%s" % module in rendered, (
            "module %s is not listed as new in the %s CHANGELOG.rst: is its version_added %s?" % (module, version, version))


def test_every_module_says_it_was_added_in_a_version_of_this_collection(galaxy):
    """version_added names a release in changelogs/changelog.yaml or the version being prepared, never a later one."""
    releases = set((yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text()).get("releases") or {}))
    known = releases | {str(galaxy["version"])}
    for module in MODULES:
        source = (REPO / "plugins" / "modules" / (module + ".py")).read_text()
        doc = yaml.safe_load(source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])
        assert str(doc["version_added"]) in known, (
            "%s: version_added %s is not a version of frende.db (%s)" % (module, doc["version_added"],
                                                                         ", ".join(sorted(known))))
