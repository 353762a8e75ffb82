#!/usr/bin/env bash
# The README's test command: builds .venv if needed, then runs the whole suite on CPU.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
exec python -m pytest -q "$@"
