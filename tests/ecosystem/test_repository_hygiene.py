"""What tests, the demo and operators generate in the checkout stays out of git."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.ecosystem.conftest import REPO

# Generated files, one example path each: the role's controller-side CA (default
# {{ inventory_dir | default(playbook_dir) }}/.frende-db-pki, private key inside),
# build trees and caches.
GENERATED = [
    ".frende-db-pki/ca.key",
    "inventories/example/.frende-db-pki/ca.key",
    "inventories/example/.frende-db-pki/frende-db.key",
    "molecule/default/.frende-db-pki/ca.key",
    "playbooks/.frende-db-pki/ca.key",
    "build/demo/inventory/hosts.yml",
    ".venv/bin/python",
    "bench/results/run.json",
    "plugins/modules/__pycache__/frende_db_role.cpython-311.pyc",
    ".pytest_cache/v/cache/lastfailed",
    "frende-db-0.1.0.tar.gz",
]


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("path", GENERATED)
def test_generated_files_are_ignored_by_git(path):
    proc = subprocess.run(["git", "check-ignore", "--quiet", "--no-index", path], cwd=REPO, check=False)
    assert proc.returncode == 0, "%s would show up in `git status`; add its pattern to .gitignore" % path
