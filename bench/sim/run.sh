#!/usr/bin/env bash
# Reproduces the qws-sim vs qiskit-aer table of bench/README.md ("Simulator").
# Not part of CI. Needs a Python with qiskit 2.6.2 + qiskit-aer 0.18.2: PYTHON, default the
# pinned .venv that scripts/test creates (it is made here if missing). About 10-15 minutes on a
# 2-core machine.
#
#   bench/sim/run.sh                  # sizes 16 20 24
#   SIZES="16 20" REPS=5 bench/sim/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${PYTHON:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
    cp tests/compat/requirements.txt .venv/.requirements
  fi
  PYTHON=.venv/bin/python
fi
SIZES=${SIZES:-16 20 24}
REPS=${REPS:-5}
REPS_LARGE=${REPS_LARGE:-3}
OUT=${OUT:-target/bench-sim}
mkdir -p "$OUT/circuits"

cargo build --release -p qws-sim --example bench_run
BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_run

# Circuits are generated once, then both simulators read the same files.
"$PYTHON" bench/sim/gen.py "$OUT/circuits" $SIZES

{
  echo "date: $(date -u +%FT%TZ)  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  lscpu | grep -E '^(Model name|CPU\(s\)|L3 cache)' || true
  free -g | head -2
} | tee "$OUT/machine.txt"

"$PYTHON" bench/sim/bench.py --circuits "$OUT/circuits" --bin "$BIN" --sizes $SIZES \
  --reps "$REPS" --reps-large "$REPS_LARGE" --json-out "$OUT/results.json" | tee "$OUT/table.txt"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
