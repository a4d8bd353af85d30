#!/usr/bin/env bash
# Validates the committed OpenAPI document (src/schema/openapi.json, which tests/contract.rs
# keeps equal to what the code generates) as OpenAPI 3.1 with an independent validator:
# openapi-spec-validator from PyPI, installed once into a venv under ~/.cache/vkyc/.
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.9.0
venv="${VKYC_CACHE:-$HOME/.cache/vkyc}/openapi-spec-validator-$version"
bin="$venv/bin/openapi-spec-validator"
if [ ! -x "$bin" ]; then
  echo "installing openapi-spec-validator $version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$version"
fi
"$bin" --schema 3.1 --validation-errors all src/schema/openapi.json
