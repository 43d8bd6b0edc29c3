#!/usr/bin/env bash
# Lints the whole collection: ansible-lint with the production profile
# (.ansible-lint, .yamllint) and the changelog fragments with antsibull-changelog.
# Usage: scripts/lint.sh [ansible-lint options...]
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
cd "$REPO"

# ansible-lint installs nothing and asks no Galaxy server (offline: true); the
# collections the roles use come from the `ansible` package in the venv. It
# must see this collection as frende.db, which it does from galaxy.yml; the
# Makefile's build/collections link to the same files would be a second copy.
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
export PATH=$VENV/bin:$PATH

status=0
echo "== ansible-lint (profile: production)"
ansible-lint "$@" || status=1
echo "== antsibull-changelog lint"
antsibull-changelog lint || status=1
antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml || status=1
exit $status
