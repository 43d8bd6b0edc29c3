"""The collection as others get it: built by ansible-galaxy, installed from the tarball."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")


def run(cmd, **kwargs):
    """Run a tool from the venv; a failure shows its whole output."""
    env = dict(os.environ)
    # The Makefile's collections path links to the repository: the tests must
    # see only the copy they installed.
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
    env.update(kwargs.pop("env", {}))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, check=False, **kwargs)
    if proc.returncode != 0:
        pytest.fail("%s failed (%d):\n%s\n%s" % (" ".join(map(str, cmd)), proc.returncode, proc.stdout, proc.stderr))
    return proc


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="session")
def galaxy():
    return load_yaml(REPO / "galaxy.yml")


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory, galaxy):
    out = tmp_path_factory.mktemp("galaxy-build")
    run([VENV_BIN / "ansible-galaxy", "collection", "build", "--output-path", out, REPO])
    tarball = out / ("%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"]))
    assert tarball.is_file(), "ansible-galaxy built no %s" % tarball.name
    return tarball


@pytest.fixture(scope="session")
def installed_collections(tmp_path_factory, collection_tarball):
    """A collections path holding only frende.db, installed from the tarball without Galaxy."""
    path = tmp_path_factory.mktemp("collections")
    # Only this path counts as "installed": a frende.db in ~/.ansible/collections
    # would otherwise make ansible-galaxy skip the install.
    run([VENV_BIN / "ansible-galaxy", "collection", "install", "--offline", "--no-deps",
         "--collections-path", path, collection_tarball], env={"ANSIBLE_COLLECTIONS_PATH": str(path)})
    assert (path / "ansible_collections" / "frende" / "db" / "MANIFEST.json").is_file()
    return path
