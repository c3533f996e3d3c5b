#!/usr/bin/env bash
# Builds the browser client into web/dist (npm ci from the lock file, then tsc).
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
