#!/usr/bin/env bash
# Lints the whole collection: ansible-lint with the production profile
# (.ansible-lint, .yamllint) and the changelog fragments with antsibull-changelog.
# Usage: scripts/lint.sh [ansible-lint options...]
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
cd "$REPO"

# ansible-lint installs nothing and asks no Galaxy server (offline: true): the
# collections the roles use come from the `ansible` package in the venv, and
# frende.db (for `frende.db.frende_db` and the modules in the syntax check) from
# the link to this repository that the Makefile's `collection` target also
# makes. ANSIBLE_HOME in build/ keeps whatever ~/.ansible holds (an old
# frende.db, roles) out of the result.
mkdir -p build/collections/ansible_collections/frende build/lint/ansible-home
ln -sfn "$REPO" build/collections/ansible_collections/frende/db
export ANSIBLE_COLLECTIONS_PATH=$REPO/build/collections
export ANSIBLE_HOME=$REPO/build/lint/ansible-home
export PATH=$VENV/bin:$PATH

status=0
echo "== ansible-lint (profile: production)"
ansible-lint "$@" || status=1
echo "== antsibull-changelog lint"
antsibull-changelog lint || status=1
antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml || status=1
exit $status
