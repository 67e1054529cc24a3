#!/usr/bin/env bash
# What the browser tests need, installed only when missing (called by .ci/run):
# Debian's Chromium (Playwright drives it through executable_path: no browser download) and
# axe-core from the lock file.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  npm ci --no-audit --no-fund
fi
