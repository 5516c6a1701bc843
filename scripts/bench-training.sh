#!/usr/bin/env bash
# Superseded: training and per-layer figures are one benchmark now. Kept as an alias of scripts/bench.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/bench.sh" "$@"
