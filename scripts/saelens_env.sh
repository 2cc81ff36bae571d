#!/usr/bin/env bash
# Set up (idempotent) ./.venv-saelens: the dev environment in ./.venv plus SAELens, for the interop
# tests (tests/features/test_saelens_interop.py) and the side-by-side training benchmark.
#
# SAELens cannot live in ./.venv itself: it needs typeguard>=4.2 (through transformer-lens) while
# inseq (a dev dependency) pins typeguard<=2.13.3. So this is a thin environment layered over
# ./.venv: a .pth file adds ./.venv's packages after its own, and only what SAELens adds (or needs
# newer, like typeguard) is installed here. ./.venv is never changed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh --dev

base=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")
if [ ! -x .venv-saelens/bin/python ]; then
  .venv/bin/python -m venv .venv-saelens
fi
own=$(.venv-saelens/bin/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")
echo "import site; site.addsitedir('$base')" > "$own/pellucid_base_env.pth"
spec=$(.venv/bin/python - <<'PY'
import tomllib
print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["saelens"])
PY
)
if ! .venv-saelens/bin/python -c "import sae_lens" 2>/dev/null; then
  # pip notes that inseq (in ./.venv, unused here) wants the older typeguard: the log keeps that.
  # shellcheck disable=SC2086
  if ! .venv-saelens/bin/python -m pip install --disable-pip-version-check -q $spec >.venv-saelens/install.log 2>&1; then
    cat .venv-saelens/install.log >&2
    exit 1
  fi
fi
echo ".venv-saelens: $(.venv-saelens/bin/python -c 'import sae_lens; print("sae-lens", sae_lens.__version__)') over .venv" >&2
