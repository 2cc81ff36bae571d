#!/usr/bin/env bash
# Build the workbench (frontend/, TypeScript + Vite) into src/pellucid/serve/static/: idempotent.
#   scripts/build_frontend.sh           build when the sources changed since the last build
#   scripts/build_frontend.sh --force   always rebuild
# First it regenerates frontend/src/lib/api-types.generated.ts from the API (see below).
# Without Node.js/npm it keeps the built files that are there (they ship in the package) and
# fails only when there are none. Only the npm registry is contacted (npm ci / npm install).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=src/pellucid/serve/static
STAMP=$OUT/.build-stamp
force=0
[ "${1:-}" = "--force" ] && force=1

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ -f "$OUT/index.html" ]; then
    echo "Node.js/npm not found: keeping the built workbench in $OUT." >&2
    exit 0
  fi
  echo "Node.js 20+ and npm are needed to build the workbench (no built files in $OUT)." >&2
  exit 1
fi

# The API's TypeScript types come from its OpenAPI document: regenerate them first (a Python with
# Pellucid's dependencies: $PYTHON, else .venv/bin/python, else python3), and stop when they
# differ from the committed file, so a changed API contract is reviewed and committed with its
# types. Outside a git checkout (an unpacked sdist) the file is regenerated without that check.
TYPES=frontend/src/lib/api-types.generated.ts
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$python" -m pellucid.serve.api_types
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- "$TYPES"; then
  echo "The API contract changed: $TYPES was regenerated from the response models." >&2
  echo "Review it (git diff $TYPES), commit it with the API change, and build again." >&2
  exit 1
fi

# A hash of everything the build reads (the front end, and the colour scale it shares with
# Python): skip when nothing changed and the output is there.
sources_hash() {
  { find frontend -path frontend/node_modules -prune -o -type f -print; echo src/pellucid/render/assets/colors.json; } |
    LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}
hash=$(sources_hash)
if [ "$force" = 0 ] && [ -f "$OUT/index.html" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$hash" ]; then
  echo "Workbench is up to date in $OUT." >&2
  exit 0
fi

cd frontend
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build
cd ..
echo "$hash" > "$STAMP"
echo "Workbench built into $OUT." >&2
