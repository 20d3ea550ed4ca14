"""The jax backend against the same models written by hand in JAX, and against the
numba backend, on every case of scan_bench.py, and on the cost of one call of a small
function (case 0) (results: RESULTS.md, "The jax backend").

    python benchmarks/jax_bench.py                # all cases, Markdown tables on stdout
    python benchmarks/jax_bench.py --cases 3,5    # some cases
    python benchmarks/jax_bench.py --quick        # smaller sizes, fewer rounds

Systems: **jax** (theanine, mode JAX), **JAX** (hand-written: ``jax.jit`` of
``lax.scan``, ``jax.grad``; benchmarks/peers.py) and **numba** (theanine, mode NUMBA,
kernels compiled before timing in cases 1-3 and 5). Targets (issue 12): jax run time
<= 1.1x JAX, jax compile time <= 1.2x JAX, jax BPTT peak memory <= JAX.

A theanine function takes NumPy arrays and returns NumPy arrays the caller owns; the
hand-written JAX is timed two ways: **JAX** on device arrays (converted once, outputs
left on the device: the floor) and **JAX np** with theanine's contract (NumPy in, each
call converting it, and writable NumPy copies out). On the CPU the difference is the
copies in and out, which dominate the short cases.

- Run times: one process, interleaved rounds (one call of each system per round),
  medians of CPU time (process time) on the CPU, of wall time on a GPU; every
  system's results checked against NumPy first.
- Compile times (cases 1-3): from the model's definition to its first result: for
  jax, the symbolic graph (scan, grad), ``theano.function`` (rewrites, planning) and
  the first call (trace, XLA compile, run); for JAX, ``jax.jit`` and the first call
  (trace, XLA compile, run). Median of interleaved repetitions; each repetition
  compiles anew (theanine's cache of structurally equal graphs is cleared).
- Cases 4 and 5 run each system in fresh processes (benchmarks/jax_bench_lstm.py).

One BLAS / numba / XLA thread. The machine is shared: rounds are interleaved so
that load falls on every system alike (each round in a random order: see rounds),
and ratios are per-round medians.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from benchmarks import jax_bench_lstm, peers, timing  # noqa: E402
from benchmarks.scan_bench import rnn_numpy, table  # noqa: E402
from theanine.backends.jax import linker as jax_linker  # noqa: E402

COMPILES = []  # rows of the compile-time table, filled by cases 1-3
# CPU time is robust to other processes on a shared CPU; on a GPU the work is not the
# process's CPU time, so wall time (main() picks)
CLOCK = [time.process_time]


def rounds(systems, n, warmup=2):
    """{name: median seconds}, {name: median of per-round time / time of 'JAX'}, and
    'jax np': the median of per-round jax / 'JAX np'.

    Each round calls the systems in a new random order (timing.random_rounds)."""
    times = timing.random_rounds(systems, n, CLOCK[0], warmup)
    med = {k: float(np.median(v)) for k, v in times.items()}
    ratio = {k: float(np.median(np.divide(v, times["JAX"]))) for k, v in times.items()}
    if "JAX np" in times:  # jax against the same contract, per round too
        ratio["jax np"] = float(np.median(np.divide(times["jax"], times["JAX np"])))
    return med, ratio


def compile_time(label, build_jax_backend, build_hand, reps):
    """Median seconds from definition to first result, jax backend and JAX, alternated."""
    got = {"jax": [], "JAX": []}
    for _ in range(reps):
        jax_linker._shared.clear()  # each repetition compiles anew
        t = CLOCK[0]()
        build_jax_backend()
        got["jax"].append(CLOCK[0]() - t)
        t = CLOCK[0]()
        build_hand()
        got["JAX"].append(CLOCK[0]() - t)
    med = {k: float(np.median(v)) for k, v in got.items()}
    ratios = np.divide(got["jax"], got["JAX"])
    COMPILES.append([label, f"{med['jax']:.3f}", f"{med['JAX']:.3f}",
                     f"{float(np.median(ratios)):.2f}x"])


def numpy_contract(hand):
    """The hand-written JAX function called as a theanine function is: NumPy arguments
    (converted by JAX at each call), writable NumPy copies of the results."""
    def call(*args):
        out = hand.raw(*args)
        return [np.array(o) for o in out] if isinstance(out, list) else np.array(out)

    return call


def row_of(med, ratio, scale, fmt):
    """Table cells: each system's median, then jax / JAX, jax / JAX np, numba / JAX."""
    return ([fmt.format(med[k] * scale) for k in SYSTEMS]
            + [f"{ratio['jax']:.2f}x", f"{ratio['jax np']:.2f}x",
               f"{ratio['numba']:.2f}x"])


SYSTEMS = ("jax", "JAX", "JAX np", "numba")
RATIOS = ["jax / JAX", "jax / JAX np", "numba / JAX"]


def numba_ready(f):
    if not f.fn.compile_now():
        raise RuntimeError("a numba kernel failed to compile")
    return f


# -- 0. call overhead --------------------------------------------------------------------
CALLS = 500  # calls per timed batch: one call is too short for the CPU clock


def call_fns(mode):
    """A 10-element float32 function, and a step updating a shared vector with it."""
    x, y = T.fvector("x"), T.fvector("y")
    w = theano.shared(np.ones(10, "float32"), name="w")
    return (theano.function([x, y], T.tanh(x * y) + x, mode=mode),
            theano.function([x], (w * x).sum(), updates=[(w, w - 0.01 * x * w)], mode=mode))


def case0(quick):
    import jax
    import jax.numpy as jnp

    xv, yv = np.linspace(-1, 1, 10, dtype="float32"), np.ones(10, "float32")
    (fj, sj), (fn, sn) = call_fns("JAX"), call_fns("NUMBA")
    numba_ready(fn), numba_ready(sn)
    plain = jax.jit(lambda a, b: jnp.tanh(a * b) + a)

    def step(w, a):
        return (w * a).sum(), w - 0.01 * a * w

    step_jit = jax.jit(step, donate_argnums=0)
    state = {"w": jnp.ones(10, "float32"), "w np": jnp.ones(10, "float32")}

    def hand_step(a, key):
        cost, state[key] = step_jit(state[key], a)
        return cost

    def batch(fn, *args):
        def run():
            for _ in range(CALLS):
                fn(*args)
        return run

    xd, yd = jax.device_put(xv), jax.device_put(yv)
    rows = []
    for what, systems in (
            ("tanh(x * y) + x", {"jax": batch(fj, xv, yv), "JAX": batch(plain, xd, yd),
                                 "JAX np": batch(lambda a, b: np.array(plain(a, b)), xv, yv),
                                 "numba": batch(fn, xv, yv)}),
            ("shared update w -= 0.01 x w", {
                "jax": batch(sj, xv), "JAX": batch(hand_step, xd, "w"),
                "JAX np": batch(lambda a: np.array(hand_step(a, "w np")), xv),
                "numba": batch(sn, xv)})):
        med, ratio = rounds(systems, 7 if quick else 21)
        rows.append([what] + row_of(med, ratio, 1e6 / CALLS, "{:.2f}"))
    table("0. call overhead: 10-element float32 functions (us per call)",
          ["function", *SYSTEMS, *RATIOS], rows)


# -- 1. scalar recurrence ----------------------------------------------------------------
def recurrence_fn(mode):
    x, c = T.dvector("x"), T.dscalar("c")
    h, _ = theano.scan(lambda a, h, c: c * h + a, sequences=x, outputs_info=T.constant(0.0),
                       non_sequences=c)
    return theano.function([x, c], h, mode=mode)


def case1(quick):
    fj, fn = recurrence_fn("JAX"), numba_ready(recurrence_fn("NUMBA"))
    rows = []
    for n in [10_000, 100_000] + ([] if quick else [1_000_000]):
        a = np.random.default_rng(0).normal(size=n)
        c = np.asarray(0.9)
        hand = peers.scalar_recurrence("jax")
        ref = np.asarray(hand(a, 0.9))
        for f in (fj, fn):
            np.testing.assert_allclose(f(a, c), ref, rtol=1e-9, atol=1e-12)
        hand_np = numpy_contract(hand)
        med, ratio = rounds({"jax": lambda a=a, c=c: fj(a, c), "JAX": lambda a=a, h=hand: h(a, 0.9),
                             "JAX np": lambda a=a, h=hand_np: h(a, 0.9),
                             "numba": lambda a=a, c=c: fn(a, c)}, 5 if quick else 31)
        rows.append([f"{n:.0e}"] + row_of(med, ratio, 1e9 / n, "{:.2f}"))

        def hand_first(a=a):
            peers.scalar_recurrence("jax")(a, 0.9)

        compile_time(f"1. scalar recurrence N={n:.0e}",
                     lambda a=a, c=c: recurrence_fn("JAX")(a, c), hand_first, 3)
    table("1. scalar recurrence x_t = c x_{t-1} + a_t, float64 (ns per step)",
          ["N", *SYSTEMS, *RATIOS], rows)


# -- 2. map ------------------------------------------------------------------------------
def map_fn(mode):
    X = T.fmatrix("X")
    ys, _ = theano.map(lambda r: T.tanh(r) * 2, sequences=X)
    return theano.function([X], ys, mode=mode)


def case2(quick):
    Xv = np.random.default_rng(0).normal(size=(10000, 100)).astype("float32")
    fj, fn = map_fn("JAX"), numba_ready(map_fn("NUMBA"))
    hand = peers.map_tanh("jax")
    for run in (fj, fn, hand):
        np.testing.assert_allclose(np.asarray(run(Xv)), np.tanh(Xv) * 2, rtol=1e-5, atol=1e-6)
    hand_np = numpy_contract(hand)
    med, ratio = rounds({"jax": lambda: fj(Xv), "JAX": lambda: hand(Xv),
                         "JAX np": lambda: hand_np(Xv), "numba": lambda: fn(Xv)},
                        7 if quick else 21)
    table("2. map tanh(x)*2 over X (10000, 100) float32 (ms)", [*SYSTEMS, *RATIOS],
          [row_of(med, ratio, 1e3, "{:.3f}")])
    compile_time("2. map tanh(x)*2", lambda: map_fn("JAX")(Xv),
                 lambda: peers.map_tanh("jax")(Xv), 3)


# -- 3. vanilla RNN, forward and forward+BPTT -----------------------------------------
def rnn_fn(grad, mode):
    X = T.ftensor3("X")
    W, U, b, h0 = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b"), T.fmatrix("h0")
    hs, _ = theano.scan(lambda xt, h, W, U, b: T.tanh(T.dot(xt, W) + T.dot(h, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b])
    cost = (hs[-1] ** 2).sum()
    outs = [cost] + (theano.grad(cost, [W, U, b]) if grad else [])
    return theano.function([X, W, U, b, h0], outs, mode=mode)


def rnn_args(H, T_=100, B=32, D=64):
    rng = np.random.default_rng(0)
    return [rng.normal(size=(T_, B, D)).astype("float32"),
            (rng.normal(size=(D, H)) / np.sqrt(D)).astype("float32"),
            (rng.normal(size=(H, H)) / np.sqrt(H)).astype("float32"),
            np.zeros(H, "float32"), np.zeros((B, H), "float32")]


def case3(quick):
    rows = []
    for H in (32, 256):
        args = rnn_args(H)
        for grad in (False, True):
            fj, fn = rnn_fn(grad, "JAX"), numba_ready(rnn_fn(grad, "NUMBA"))
            hand = peers.rnn("jax", grad)
            hand_np = numpy_contract(hand)
            ref = rnn_numpy(*args, grad)
            for got in (fj(*args), fn(*args), peers.to_numpy(hand(*args))):
                for a, r in zip(got, ref):
                    np.testing.assert_allclose(a, r, rtol=2e-3, atol=2e-3)
            med, ratio = rounds({"jax": lambda f=fj, a=args: f(*a),
                                 "JAX": lambda h=hand, a=args: h(*a),
                                 "JAX np": lambda h=hand_np, a=args: h(*a),
                                 "numba": lambda f=fn, a=args: f(*a)}, 5 if quick else 31)
            what = "fwd+BPTT" if grad else "fwd"
            rows.append([H, what] + row_of(med, ratio, 1e3, "{:.2f}"))
            compile_time(f"3. RNN H={H} {what}", lambda g=grad, a=args: rnn_fn(g, "JAX")(*a),
                         lambda g=grad, a=args: peers.rnn("jax", g)(*a), 3)
    table("3. vanilla RNN, B=32, T=100, D=64, float32 (ms)",
          ["H", "pass", *SYSTEMS, *RATIOS], rows)


def compile_table():
    if COMPILES:
        table("compile time: from the model's definition to its first result (s)",
              ["case", "jax", "JAX", "jax / JAX"], COMPILES)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="0,1,2,3,4,5")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    import jax

    if jax.default_backend() != "cpu":
        CLOCK[0] = time.perf_counter
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}")
    cases = {"0": case0, "1": case1, "2": case2, "3": case3, "4": jax_bench_lstm.case4,
             "5": jax_bench_lstm.case5}
    for c in a.cases.split(","):
        cases[c.strip()](a.quick)
    compile_table()


if __name__ == "__main__":
    main()
