#!/usr/bin/env bash
# Install Debian's Chromium for the browser (end-to-end) tests: idempotent.
#   scripts/install_chromium.sh
# Does nothing when /usr/bin/chromium exists. Otherwise installs it with apt when run as root;
# as another user it prints the command to run and exits 1. Playwright (pip) drives this
# browser; never run `playwright install` (it downloads its own browser).
set -euo pipefail

CHROMIUM=${PELLUCID_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  echo "Chromium found: $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing; as root run: apt-get update && apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing and apt-get is not available; install a Chromium at $CHROMIUM." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
echo "Chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")" >&2
