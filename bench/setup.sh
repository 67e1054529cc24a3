#!/usr/bin/env bash
# Once per machine, before bench/run.py: the peer and autocannon (npm, pinned by the lockfile)
# and, where Debian's apt-get is at hand, the Go toolchain and grpc-go for the Go gRPC load
# generator (harness/grpc_load.go; without them the Python generator runs, and the table says
# which one ran). Nothing else is fetched: the Go generator builds from Debian's packages alone.
set -euo pipefail
cd "$(dirname "$0")"

echo "== the peer and autocannon (npm ci)"
npm ci --no-audit --no-fund

if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/google.golang.org/grpc ]; then
  echo "== Go and grpc-go are installed"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== the Go gRPC load generator's packages (golang-go, golang-google-grpc-dev)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-google-grpc-dev >/dev/null
else
  echo "== no Go generator: install golang-go and golang-google-grpc-dev (Debian) for it;" \
       "the Python generator runs meanwhile" >&2
fi
