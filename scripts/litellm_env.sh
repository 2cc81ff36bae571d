#!/usr/bin/env bash
# Set up (idempotent) ./.venv-litellm: LiteLLM's proxy server, the peer gateway that
# benchmarks/bench_proxy.py measures side by side with Pellucid's proxy (`--peer litellm`).
#
# A separate environment of its own: LiteLLM's proxy pins its own FastAPI, httpx and friends,
# which must not change the versions Pellucid is tested with in ./.venv. The version is pinned so
# that benchmark figures name what they compared against.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.108.7
python=${PYTHON:-python3}
if [ ! -x .venv-litellm/bin/python ]; then
  "$python" -m venv .venv-litellm
fi
if [ "$(.venv-litellm/bin/python -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$version" ]; then
  if ! .venv-litellm/bin/python -m pip install --disable-pip-version-check -q "litellm[proxy]==$version" \
      >.venv-litellm/install.log 2>&1; then
    cat .venv-litellm/install.log >&2
    exit 1
  fi
fi
echo ".venv-litellm: litellm $version (proxy extras)" >&2
