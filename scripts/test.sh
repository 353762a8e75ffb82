#!/usr/bin/env bash
# The README's test command: builds .venv if needed, checks the style (ruff lint and format), then
# runs the whole suite on CPU.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
ruff check --no-cache .
ruff format --check --no-cache .
exec python -m pytest -q "$@"
