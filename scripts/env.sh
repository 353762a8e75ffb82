# Sourced by scripts/main.sh and scripts/test.sh: creates (or refreshes) the project's own
# virtual environment in .venv from constraints.txt, then exports the offline/fast settings.
# Scripts get strict mode; a terminal that sources this (README) keeps its own options, so a
# command failing later there does not close it.
INTERACTIVE=0; [[ $- == *i* ]] && INTERACTIVE=1
[ "$INTERACTIVE" = 1 ] || set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FORECAST_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.forecast-stamp"
WANT="$(cat "$ROOT/constraints.txt" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "[env] building $VENV (first run: about 2-3 minutes)" >&2
    "$PY" -m venv "$VENV"
    LOG="$VENV/install.log"
    if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0" &&
           "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" \
               -e "$ROOT[pipelines,tuning,serving,dev]"; } > "$LOG" 2>&1; then
        grep -v "is ignored: it is neither" "$LOG" | tail -30 >&2
        echo "[env] installing the environment failed; full log: $LOG" >&2
        if [ "$INTERACTIVE" = 1 ]; then return 1; else exit 1; fi
    fi
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# Offline and fast: no telemetry, a project-local Prefect home, a patient ephemeral server.
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.prefect}"
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"
export PYTHONDONTWRITEBYTECODE=1
