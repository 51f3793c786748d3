#!/usr/bin/env bash
# Reproduces the "Simulator comparison" table of bench/README.md: qws (double and single
# precision) against qsim, qulacs and qiskit-aer (double and single) on the same gate lists.
# Not part of CI or scripts/test. Makes its own pinned virtualenv (.venv-bench, from
# bench/sim/requirements.txt), builds bench_run in release mode, generates the circuits once,
# runs bench/sim/compare.py and writes the table into bench/README.md between its markers.
#
#   bench/sim/compare.sh                 # 20, 24 and 26 qubits, medians of 3
#   SIZES="20 24" bench/sim/compare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv-bench}
if [ ! -x "$VENV/bin/python" ] || ! cmp -s bench/sim/requirements.txt "$VENV/.requirements"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/sim/requirements.txt
  cp bench/sim/requirements.txt "$VENV/.requirements"
fi
SIZES=${SIZES:-20 24 26}
REPS=${REPS:-3}
OUT=${OUT:-target/bench-compare}
mkdir -p "$OUT/circuits"

cargo build --release -p qws-sim --example bench_run
BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_run

for n in $SIZES; do
  [ -f "$OUT/circuits/hea-$n.gates.json" ] || "$VENV/bin/python" bench/sim/gen.py --compare "$OUT/circuits" "$n"
done

MACHINE="$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(free -g | awk '/^Mem:/{print $2}') GiB; load before $(cut -d' ' -f1-3 /proc/loadavg)"
"$VENV/bin/python" bench/sim/compare.py --circuits "$OUT/circuits" --bin "$BIN" --sizes $SIZES \
  --reps "$REPS" --json-out "$OUT/results.json" --readme bench/README.md \
  --machine "$MACHINE" --command "SIZES=\"$SIZES\" bench/sim/compare.sh" | tee "$OUT/table.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
