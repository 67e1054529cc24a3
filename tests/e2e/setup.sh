#!/usr/bin/env bash
# What the browser tests need, installed only when missing (make e2e-setup, CI):
# Debian's Chromium (Playwright drives it through executable_path: no browser download) and
# axe-core from the lock file. Without root, it says what is missing and the browser tests
# skip (they say why); CI runs as root and installs both.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "tests/e2e/setup.sh: /usr/bin/chromium is missing (apt-get install chromium as root); browser tests will skip" >&2
  fi
fi
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --silent
  else
    echo "tests/e2e/setup.sh: npm is missing: axe-core cannot be installed" >&2
  fi
fi
