#!/usr/bin/env bash
# The README's main job: builds .venv if needed, then runs the training job on a bundled data set.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
exec forecast train "$@"
