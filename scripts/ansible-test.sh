#!/usr/bin/env bash
# Runs ansible-test on this collection the way ansible-test wants it:
#   scripts/ansible-test.sh sanity [ansible-test options...]
#   scripts/ansible-test.sh units  [ansible-test options...]
#
# ansible-test only works inside .../ansible_collections/<namespace>/<name>/ and
# lists the files to test through git. The repository root is the collection
# root but sits at no such path, so the collection's files (as
# `ansible-galaxy collection build` picks them: galaxy.yml build_ignore applies)
# are synced to build/ansible-test/ansible_collections/frende/db, which is its
# own git repository with one commit per changed sync.
#
# HOME points into build/ so ansible-test's cache (its per-test virtual
# environments under ~/.ansible/test/venv) belongs to this project and makes
# re-runs fast; `make clean` throws it away. ansible-test bootstraps pip in each
# new venv with a get-pip script it downloads from a site that is not reachable
# here; the shim placed in its cache installs pip from PyPI instead.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
PY=$VENV/bin/python
WORK=$REPO/build/ansible-test
COPY=$WORK/ansible_collections/frende/db
export HOME=$WORK/home
CACHE=$HOME/.ansible/test/cache

command=${1:?"usage: $0 sanity|units [ansible-test options...]"}
shift
case "$command" in
  sanity | units) ;;
  *) echo "$0: unknown command '$command' (known: sanity, units)" >&2; exit 2 ;;
esac

# Venv interpreters live at $HOME/.ansible/test/venv/<test>/3.11/<hash>/bin/python;
# Linux refuses shebangs longer than 127 bytes, which breaks every venv script.
if [ ${#HOME} -gt 70 ]; then
  echo "$0: $HOME is too long (${#HOME} > 70 characters) for ansible-test's venv shebangs;" \
       "clone the repository to a shorter path" >&2
  exit 2
fi

mkdir -p "$COPY" "$CACHE"

# The shim ansible-test runs as `python get_pip_<version>.py <pip install args>`.
pip_version=$("$PY" - <<'EOF'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="3.11"))["pip"])
EOF
)
cat >"$CACHE/get_pip_${pip_version//./_}.py" <<'EOF'
"""Stand-in for the get-pip script ansible-test would download: pip comes from ensurepip, then PyPI."""
import subprocess
import sys

# --no-setuptools / --no-wheel are get-pip's own options: pip install does not know them.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet"] + args, check=True)
EOF

# Sync the collection's files into the copy: the selection of ansible-galaxy's
# build (its default ignores + galaxy.yml build_ignore), plus what the tarball
# leaves out only because it is test tooling; galaxy.yml stays, because
# ansible-test reads the collection version from it. Unchanged
# files are left alone; files gone from the repository are removed.
"$PY" - "$REPO" "$COPY" <<'EOF'
import filecmp
import fnmatch
import os
import shutil
import sys

import yaml

repo, copy = sys.argv[1:3]
with open(os.path.join(repo, "galaxy.yml")) as f:
    galaxy = yaml.safe_load(f)
patterns = ["MANIFEST.json", "FILES.json", ".git", "*.pyc", "*.retry", "tests/output",
            "%s-%s-*.tar.gz" % (galaxy["namespace"], galaxy["name"])]
# What build_ignore leaves out of the tarball because it is how the collection is
# tested (tests/, test hosts, benchmarks, tool configs) is exactly what
# ansible-test must see: only the development state stays out of the copy.
TESTED_NOT_SHIPPED = {"scripts", "bench", "tests", "molecule", "requirements", "Makefile", "pytest.ini",
                      ".ansible-lint", ".yamllint", "execution-environment.yml"}
patterns += [p for p in galaxy.get("build_ignore") or [] if p not in TESTED_NOT_SHIPPED]
ignore_dirs = {"CVS", ".bzr", ".hg", ".git", ".svn", "__pycache__", ".tox"}
keep_in_copy = {".git", "tests/output"}  # the copy's own repository and ansible-test's results


def ignored(rel):
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


wanted = set()
for top, dirs, files in os.walk(repo):
    rel_top = os.path.relpath(top, repo)
    rel_top = "" if rel_top == "." else rel_top
    kept = []
    for d in sorted(dirs):
        rel = os.path.join(rel_top, d)
        if d in ignore_dirs or ignored(rel):
            continue
        if os.path.islink(os.path.join(top, d)):
            files.append(d)  # copied as the link it is
        else:
            kept.append(d)
    dirs[:] = kept
    for name in files:
        rel = os.path.join(rel_top, name)
        if not ignored(rel):
            wanted.add(rel)

for rel in sorted(wanted):
    src, dst = os.path.join(repo, rel), os.path.join(copy, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(src):
        target = os.readlink(src)
        if os.path.islink(dst) and os.readlink(dst) == target:
            continue
        if os.path.lexists(dst):
            shutil.rmtree(dst) if os.path.isdir(dst) and not os.path.islink(dst) else os.remove(dst)
        os.symlink(target, dst)
        continue
    if os.path.lexists(dst) and (os.path.islink(dst) or os.path.isdir(dst)):
        shutil.rmtree(dst) if not os.path.islink(dst) else os.remove(dst)
    if os.path.exists(dst) and filecmp.cmp(src, dst, shallow=False):
        if os.stat(src).st_mode != os.stat(dst).st_mode:
            shutil.copymode(src, dst)
        continue
    shutil.copy2(src, dst)

for top, dirs, files in os.walk(copy, topdown=True):
    rel_top = os.path.relpath(top, copy)
    rel_top = "" if rel_top == "." else rel_top
    dirs[:] = [d for d in dirs if os.path.join(rel_top, d) not in keep_in_copy]
    for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
        rel = os.path.join(rel_top, name)
        if rel not in wanted:
            os.remove(os.path.join(top, name))
for top, dirs, files in os.walk(copy, topdown=False):
    rel_top = os.path.relpath(top, copy)
    if rel_top != "." and not any(rel_top == k or rel_top.startswith(k + "/") for k in keep_in_copy):
        if not os.listdir(top):
            os.rmdir(top)
EOF

cd "$COPY"
if [ ! -d .git ]; then
  git init -q .
  git config user.name "frende.db ansible-test"
  git config user.email "ansible-test@frende.invalid"
  printf 'tests/output/\n' >>.git/info/exclude
fi
git add -A
git diff --cached --quiet || git commit -q -m "collection files for ansible-test"

# The Makefile's collections path links to the repository itself; ansible-test
# must see only the copy it runs in.
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
export PATH=$VENV/bin:$PATH

case "$command" in
  sanity) exec "$VENV/bin/ansible-test" sanity --venv --python 3.11 --color no "$@" ;;
  units) exec "$VENV/bin/ansible-test" units --venv --python 3.11 --color no "$@" ;;
esac
