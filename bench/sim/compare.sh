#!/usr/bin/env bash
# Reproduces the simulator tables of bench/README.md. Not part of CI or scripts/test. Makes its
# own pinned virtualenv (.venv-bench, from bench/sim/requirements.txt), builds bench_run in
# release mode, generates the circuits once and runs bench/sim/compare.py in one of its modes:
#
#   bench/sim/compare.sh                 # "Simulator comparison": qws (double and single precision)
#                                        # against qsim, qulacs and qiskit-aer; 20, 24 and 26 qubits,
#                                        # medians of 3; writes the table into bench/README.md
#   SIZES="20 24" bench/sim/compare.sh
#   REPS_LARGE=1 bench/sim/compare.sh    # one run, no warm-up, at 26 qubits (qulacs and Aer take
#                                        # minutes per run there)
#   bench/sim/compare.sh --mode aer      # "Simulator": qws against Aer, fusion on and off;
#                                        # 16, 20 and 24 qubits, 5 runs (3 from 24 qubits on)
#   SIZES="16 20" REPS=5 REPS_LARGE=3 bench/sim/compare.sh --mode aer
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=sims
case "${1:-}" in
  "") ;;
  --mode) MODE=${2:?--mode takes sims or aer} ;;
  *) echo "usage: $0 [--mode sims|aer]" >&2; exit 2 ;;
esac
case "$MODE" in sims | aer) ;; *) echo "unknown mode '$MODE' (sims or aer)" >&2; exit 2 ;; esac

VENV=${VENV:-.venv-bench}
if [ ! -x "$VENV/bin/python" ] || ! cmp -s bench/sim/requirements.txt "$VENV/.requirements"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/sim/requirements.txt
  cp bench/sim/requirements.txt "$VENV/.requirements"
fi
if [ "$MODE" = aer ]; then
  SIZES=${SIZES:-16 20 24}
  REPS=${REPS:-5}
  OUT=${OUT:-target/bench-sim}
  GEN=() MARK=(qft .json) # a file gen.py writes for each size
else
  SIZES=${SIZES:-20 24 26}
  REPS=${REPS:-3}
  OUT=${OUT:-target/bench-compare}
  GEN=(--compare) MARK=(hea .gates.json)
fi
mkdir -p "$OUT/circuits"

if [ -z "${BIN:-}" ]; then # BIN: a bench_run built already (e.g. a debug build, for a quick try)
  cargo build --release -p qws-sim --example bench_run
  BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_run
fi

# Circuits are generated once (seeded), then every simulator reads the same files.
for n in $SIZES; do
  [ -f "$OUT/circuits/${MARK[0]}-$n${MARK[1]}" ] || "$VENV/bin/python" bench/sim/gen.py "${GEN[@]}" "$OUT/circuits" "$n"
done

MACHINE="$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(free -g | awk '/^Mem:/{print $2}') GiB; load before $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$MACHINE" >"$OUT/machine.txt"
if [ "$MODE" = aer ]; then
  "$VENV/bin/python" bench/sim/compare.py --mode aer --circuits "$OUT/circuits" --bin "$BIN" \
    --sizes $SIZES --reps "$REPS" --reps-large "${REPS_LARGE:-3}" --json-out "$OUT/results.json" \
    | tee "$OUT/table.txt"
else
  "$VENV/bin/python" bench/sim/compare.py --circuits "$OUT/circuits" --bin "$BIN" --sizes $SIZES \
    --reps "$REPS" --reps-large "${REPS_LARGE:-$REPS}" --json-out "$OUT/results.json" --readme bench/README.md \
    --machine "$MACHINE" --command "SIZES=\"$SIZES\" REPS=$REPS REPS_LARGE=${REPS_LARGE:-$REPS} bench/sim/compare.sh" | tee "$OUT/table.txt"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
