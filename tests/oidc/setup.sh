#!/usr/bin/env bash
# Installs what the SSO tests (tests/oidc.rs) need: npm `oidc-provider` into
# tests/oidc/node_modules, from package-lock.json. Idempotent: does nothing when it is
# already there. Needs node (>= 20) and npm.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'oidc setup: %s\n' "$*" >&2; }
die() { printf 'oidc setup: error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "Node.js >= 20 is required"
command -v npm >/dev/null 2>&1 || die "npm is required"

if [[ ! -f "$HERE/node_modules/oidc-provider/package.json" ]]; then
  log "installing oidc-provider with npm"
  (cd "$HERE" && if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi) >&2
fi
