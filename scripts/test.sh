#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, PostgreSQL included, then the numerics-sensitive
# tests again on the other kernel paths (see scripts/kernel_passes.sh), so a test that holds for one
# CPU kernel only cannot hide. Extra arguments go to pytest; naming test paths skips the extra passes.
# A throwaway PostgreSQL cluster is started on 127.0.0.1:55432 for the store tests and stopped
# afterwards; without PostgreSQL binaries (and without root to install them) those tests skip,
# except under CI=true, where that is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
# shellcheck disable=SC1091
. .venv/bin/activate

pgdir=""
cleanup() { [ -n "$pgdir" ] && scripts/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ -z "${PELLUCID_TEST_POSTGRES_URL:-}" ] && [ -x scripts/postgres.sh ]; then
  pgdir=$(mktemp -d)
  if url=$(scripts/postgres.sh start "$pgdir"); then
    export PELLUCID_TEST_POSTGRES_URL="$url"
  elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL could not be started for the store tests" >&2
    exit 1
  else
    echo "PostgreSQL not available: its store tests will be skipped" >&2
    pgdir=""
  fi
fi
# Lint and types first (seconds): mypy over the package, --strict over the layers the rest builds on.
ruff check src tests
mypy src/pellucid
mypy --strict src/pellucid/types.py src/pellucid/errors.py src/pellucid/settings.py src/pellucid/spec.py \
  src/pellucid/inspect_specs.py src/pellucid/service src/pellucid/models
python -m pytest "$@"
for arg in "$@"; do
  case "$arg" in -*) ;; *) exit 0 ;; esac   # specific tests were named: just those
done
scripts/kernel_passes.sh "$@"
# SAELens reading and writing our dictionary folders, in .venv plus SAELens (see scripts/saelens_env.sh):
# the main run skips these tests, since SAELens cannot be installed beside inseq.
scripts/saelens_env.sh
.venv-saelens/bin/python -m pytest tests/features/test_saelens_interop.py -p no:cacheprovider -q
