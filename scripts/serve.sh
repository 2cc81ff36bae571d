#!/usr/bin/env bash
# Set up (idempotent) and start `pellucid serve` on the bundled SmolLM2 at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/pellucid serve "$@"
