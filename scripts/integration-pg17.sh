#!/usr/bin/env bash
# The integration tests of the three modules (frende_db_role, frende_db_health,
# frende_db_backup) against PostgreSQL 17, inside a Debian 13 test host: its
# PostgreSQL 17, pg_dump/pg_restore 17 and Python 3.13, all from Debian's
# archive, as on a Debian 13 database host. The repository is mounted at the
# same path, so the collection link in build/ resolves; ansible.posix & co.
# come from the venv's collections (plain files, any Python reads them).
# The image with the test packages is built once from the trixie base image
# and cached (localhost/frende-test-pg17:trixie), with the German locale that one
# health test makes the server log in (made at run time, PostgreSQL 17 in a fresh
# container refused it); the tests run without network.
# Usage: scripts/integration-pg17.sh [pytest args...]   (default: the three modules' tests)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/podman/containers.conf}
BASE=localhost/frende-test-base:trixie
PACKAGES="postgresql-17 postgresql-common python3-psycopg2 python3-pytest python3-cryptography python3-yaml"
PACKAGES+=" python3-prometheus-client ansible-core zstd age gzip procps locales"
# The tag follows the package list: a machine with an image of an older list builds the new one.
IMAGE=localhost/frende-test-pg17:trixie-$(printf '%s' "$PACKAGES" | sha1sum | cut -c1-8)

bash scripts/system-deps.sh hosts
bash scripts/podman/build-image.sh "$BASE"
if ! podman image exists "$IMAGE"; then
  echo "integration-pg17: building $IMAGE (PostgreSQL 17 and the test tools from Debian 13)"
  builder=frende-pg17-build-$$
  trap 'podman rm -f "$builder" >/dev/null 2>&1 || true' EXIT
  # shellcheck disable=SC2086  # the package list is meant to split
  podman run --name "$builder" "$BASE" /bin/sh -c \
    "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null \
     && localedef -i de_DE -c -f UTF-8 de_DE.UTF-8 \
     && pg_dropcluster --stop 17 main && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb"
  podman commit -q "$builder" "$IMAGE" >/dev/null
  podman rm -f "$builder" >/dev/null
  trap - EXIT
fi

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(tests/integration/test_frende_db_role.py tests/integration/test_frende_db_role_absent.py
         tests/integration/test_frende_db_role_bad_input.py tests/integration/test_frende_db_role_password.py
         tests/integration/test_frende_db_role_privileges.py tests/integration/test_frende_db_health.py
         tests/integration/test_frende_db_backup.py tests/integration/test_metrics.py)
fi
collections=$("$ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$ROOT/build/collections/ansible_collections/frende"
ln -sfn "$ROOT" "$ROOT/build/collections/ansible_collections/frende/db"
start=$SECONDS
echo "=== integration tests on PostgreSQL 17 (Debian 13, $(podman run --rm "$IMAGE" python3 --version))"
podman run --rm --network none -v "$ROOT:$ROOT" -w "$ROOT" \
  -e FRENDE_PG_VERSION=17 -e FRENDE_EXTRA_COLLECTIONS_PATH="$collections" -e PYTHONDONTWRITEBYTECODE=1 \
  -e ANSIBLE_HOME=/tmp/ansible-home \
  "$IMAGE" python3 -m pytest -p no:cacheprovider --basetemp=/tmp/frende-pg17 "${tests[@]}"
echo "=== integration tests on PostgreSQL 17 passed in $((SECONDS - start)) s"
