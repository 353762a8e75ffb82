#!/usr/bin/env bash
# A local Prefect server on 127.0.0.1 (schedules need one; the ephemeral server cannot schedule).
#   bash scripts/prefect-server.sh [PORT]          # default 4200; Ctrl-C stops it
# then, in another shell:
#   export PREFECT_API_URL=http://127.0.0.1:PORT/api && forecast serve
source "$(dirname "$0")/env.sh"
cd "$ROOT"
exec forecast server --port "${1:-${PREFECT_SERVER_PORT:-4200}}"
