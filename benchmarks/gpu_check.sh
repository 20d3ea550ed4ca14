#!/usr/bin/env bash
# The jax backend on a GPU, in one go: the card, the jax test suite, the jax benchmarks.
#
#   benchmarks/gpu_check.sh                 # on a machine with an NVIDIA GPU and jax[cuda12]
#   benchmarks/gpu_check.sh --quick         # smaller benchmark sizes, fewer rounds
#   benchmarks/gpu_check.sh --cpu --quick   # try the script where there is no GPU (JAX on CPU)
#
# Options: --cpu (run on the CPU with JAX_PLATFORMS=cpu instead of requiring a GPU),
# --quick (passed to benchmarks/jax_bench.py), --no-tests, --no-bench, --tests "ARGS"
# (what pytest runs with -m jax; default tests), --cases LIST (jax_bench.py's cases;
# default all), --out DIR (where the logs go; default gpu-check-<date>). PYTHON picks
# the interpreter (default python).
#
# Exit status: 0 all passed; 1 a test or a benchmark failed; 2 no GPU (and no --cpu), or
# JAX cannot use the GPU that nvidia-smi shows. The last lines printed are the card's name
# and the benchmark tables: copy them into benchmarks/RESULTS.md ("The jax backend on a
# GPU"), with the card's name.
set -u -o pipefail

cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python}
CPU=0 QUICK="" TESTS=1 BENCH=1 OUT="" PYTEST_ARGS="tests" CASES="1,2,3,4,5"
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) CPU=1 ;;
        --quick) QUICK="--quick" ;;
        --no-tests) TESTS=0 ;;
        --no-bench) BENCH=0 ;;
        --out) shift; OUT=${1:?--out needs a directory} ;;
        --tests) shift; PYTEST_ARGS=${1:?--tests needs pytest arguments} ;;
        --cases) shift; CASES=${1:?--cases needs a list, e.g. 1,3} ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
OUT=${OUT:-gpu-check-$(date +%Y%m%d-%H%M%S)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export THEANINE_CACHE_DIR=${THEANINE_CACHE_DIR:-$PWD/$OUT/cache}

# -- which device ------------------------------------------------------------------------
if [ "$CPU" = 1 ]; then
    export JAX_PLATFORMS=cpu
    MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
    CARD="no GPU: CPU (${MODEL:-unknown model}, $(nproc) cores), run with --cpu"
else
    if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
        echo "gpu_check.sh: no GPU here (nvidia-smi is missing or finds no card)." >&2
        echo "  Run it on a machine with an NVIDIA GPU and jax[cuda12], or with --cpu to" \
             "try it on the CPU." >&2
        exit 2
    fi
    CARD=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
           | head -1)
    mkdir -p "$OUT" || exit 2
    if ! "$PY" -c "import jax, sys; sys.exit(0 if jax.devices('gpu') else 1)" \
            >"$OUT/jax_devices.log" 2>&1; then
        echo "gpu_check.sh: nvidia-smi shows $CARD, but JAX cannot use it (see" \
             "$OUT/jax_devices.log); install pip install 'jax[cuda12]'." >&2
        exit 2
    fi
    export THEANO_FLAGS="device=cuda${THEANO_FLAGS:+,$THEANO_FLAGS}"
fi
mkdir -p "$OUT" || exit 2
JAXDEV=$("$PY" -c "import jax; d = jax.devices()[0]; print(f'jax {jax.__version__}:', \
d.platform, d.device_kind, 'x', jax.device_count())") || exit 2
echo "device: $CARD"
echo "$JAXDEV"

# -- the jax suite ---------------------------------------------------------------------
STATUS=0
SUITE="not run (--no-tests)"
if [ "$TESTS" = 1 ]; then
    XDIST=""
    if "$PY" -c "import xdist" 2>/dev/null; then XDIST="-n $(nproc)"; fi
    echo "jax suite: pytest -m jax $XDIST $PYTEST_ARGS (log: $OUT/tests.log)"
    START=$SECONDS
    # shellcheck disable=SC2086  # XDIST and PYTEST_ARGS are words to split
    "$PY" -m pytest -q -m jax $XDIST -p no:cacheprovider $PYTEST_ARGS >"$OUT/tests.log" 2>&1
    RC=$?
    SUITE="$(tail -1 "$OUT/tests.log") [exit $RC, $((SECONDS - START)) s wall]"
    [ $RC -eq 0 ] || STATUS=1
fi

# -- the jax benchmarks ------------------------------------------------------------------
if [ "$BENCH" = 1 ]; then
    echo "jax benchmarks: benchmarks/jax_bench.py --cases $CASES $QUICK (log: $OUT/bench.md)"
    # shellcheck disable=SC2086  # QUICK is one word or none
    "$PY" benchmarks/jax_bench.py --cases "$CASES" $QUICK >"$OUT/bench.md" 2>"$OUT/bench.err" \
        || STATUS=1
fi

echo
echo "== gpu_check $(date '+%Y-%m-%d %H:%M') =="
echo "device: $CARD"
echo "$JAXDEV"
echo "jax suite: $SUITE"
if [ "$BENCH" = 1 ]; then
    cat "$OUT/bench.md"
    if [ -s "$OUT/bench.err" ] && [ "$STATUS" = 1 ]; then tail -20 "$OUT/bench.err"; fi
fi
exit $STATUS
