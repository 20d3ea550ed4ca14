"""Call overhead: a compiled theanine function vs the same NumPy expression.

    python benchmarks/call_overhead.py                 # Markdown table on stdout
    python benchmarks/call_overhead.py --mode PY       # another compilation mode
    python benchmarks/call_overhead.py --profile       # + cProfile of the theanine calls

For small inputs the run time is dominated by fixed per-call costs (argument
checking, the generated graph function, output handling), which is what this
measures. Each time is the median, over --repeat batches, of the mean time of
one call within a batch (a batch lasts about --batch-ms milliseconds); the
batches of NumPy and theanine alternate, and the ratio is the median of the
per-batch ratios, so that load from other processes cancels out.

Columns: NumPy evaluates the expression directly; `theanine` calls the compiled
function as a user does, `f(*args)`; `graph fn` calls the backend's generated
callable alone (`f.fn`), so `theanine - graph fn` is the Function wrapper's own
cost and `graph fn - NumPy` the backend's. The target is ratio <= 2.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

# One BLAS thread: small products gain nothing from threads, and idle BLAS
# threads competing for the cores make the timings noisy. Set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402


def _add(m, x, y):
    return x + y


def _layer(m, x, w, b):
    return m.tanh(m.dot(x, w) + b)


def _chain(m, x, y):
    """Ten elementwise ops."""
    z = x * y + x  # 2
    z = m.tanh(z) - y  # 4
    z = m.exp(-(z * z))  # 7
    z = z / (x * x + 1.0)  # 10
    return z


def _cases(rng, dtype):
    def arr(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def tvar(a):
        return T.TensorType(dtype, (False,) * a.ndim)()

    small, big = 10, 100
    specs = [
        ("x + y", _add, f"{small}", [arr(small), arr(small)]),
        ("x + y", _add, f"{big}x{big}", [arr(big, big), arr(big, big)]),
        ("tanh(dot(x, W) + b)", _layer, f"x: {small}, W: {small}x{small}",
         [arr(small), arr(small, small), arr(small)]),
        ("tanh(dot(x, W) + b)", _layer, f"{big}x{big}",
         [arr(big, big), arr(big, big), arr(big)]),
        ("10-op elementwise chain", _chain, f"{small}", [arr(small), arr(small)]),
        ("10-op elementwise chain", _chain, f"{big}x{big}", [arr(big, big), arr(big, big)]),
    ]
    for label, build, size, values in specs:
        yield label, build, size, values, [tvar(v) for v in values]


def _batch_size(fn, args, batch_ms):
    """Calls per batch so that one batch lasts about `batch_ms`."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        if time.perf_counter() - t0 >= batch_ms / 1000.0 or n >= 1 << 20:
            return n
        n *= 2


def _measure(fns, args, repeat, batch_ms):
    """Median seconds per call of each of `fns`, and the median over batches of
    each one's time relative to the first. The batches of the different
    functions are interleaved, so that load from other processes on the machine
    falls on all of them alike."""
    sizes = [_batch_size(fn, args, batch_ms) for fn in fns]
    samples = [[] for _ in fns]
    for _ in range(repeat):
        for fn, n, out in zip(fns, sizes, samples):
            t0 = time.perf_counter()
            for _ in range(n):
                fn(*args)
            out.append((time.perf_counter() - t0) / n)
    medians = [statistics.median(s) for s in samples]
    ratios = [statistics.median(a / b for a, b in zip(s, samples[0])) for s in samples]
    return medians, ratios


def run(mode=None, repeat=51, batch_ms=1.0, profile=False, seed=0, out=sys.stdout):
    dtype = theano.config.floatX
    rng = np.random.default_rng(seed)
    rows, funcs = [], []
    for label, build, size, values, inputs in _cases(rng, dtype):
        f = theano.function(inputs, build(T, *inputs), mode=mode)
        expected = build(np, *values)
        np.testing.assert_allclose(f(*values), expected, rtol=1e-5, atol=1e-6)

        def numpy_fn(*a, _build=build):
            return _build(np, *a)

        raw = getattr(f, "fn", None)
        fns = [numpy_fn, f] + ([raw] if callable(raw) else [])
        times, ratios = _measure(fns, values, repeat, batch_ms)
        t_raw = times[2] if len(times) > 2 else None
        rows.append((label, size, times[0], times[1], ratios[1], t_raw))
        funcs.append((label, size, f, values))

    rows += _wide_rows(mode, rng, dtype, repeat, batch_ms)
    mode_name = str(theano.compile.mode.get_mode(mode))
    print(f"Call overhead, mode {mode_name}, floatX={dtype}, numpy {np.__version__}, "
          f"Python {sys.version.split()[0]}; median of {repeat} batches.\n", file=out)
    print("| graph | inputs | NumPy (µs) | theanine (µs) | ratio | graph fn only (µs) |",
          file=out)
    print("|---|---|---:|---:|---:|---:|", file=out)
    for label, size, t_np, t_f, ratio, t_raw in rows:
        raw = f"{t_raw * 1e6:.1f}" if t_raw is not None else "n/a"
        print(f"| `{label}` | {size} | {t_np * 1e6:.1f} | {t_f * 1e6:.1f} | "
              f"{ratio:.2f}x | {raw} |", file=out)
    if profile:
        for label, size, f, values in funcs:
            _profile(f, values, f"{label} ({size})", out)
    return rows


def _wide_rows(mode, rng, dtype, repeat, batch_ms):
    """Many outputs and many shared updates: the per-call cost must grow linearly
    with their number (it grew with its square: issue 13, item 13)."""
    rows = []
    x = T.TensorType(dtype, ())("x")
    xv = np.asarray(rng.standard_normal(), dtype=dtype)
    for n in (250, 1000):
        f = theano.function([x], [x * i for i in range(1, n + 1)], mode=mode)
        np.testing.assert_allclose(f(xv), [xv * i for i in range(1, n + 1)], rtol=1e-6)

        def numpy_fn(a, n=n):
            return [a * i for i in range(1, n + 1)]

        times, ratios = _measure([numpy_fn, f, f.fn], [xv], max(5, repeat // 5), batch_ms)
        rows.append((f"{n:,} scalar outputs x * i", "x: scalar", times[0], times[1],
                     ratios[1], times[2]))
    for n in (50, 200):
        state = [theano.shared(np.zeros((), dtype)) for _ in range(n)]
        f = theano.function([x], [], updates=[(v, v + x) for v in state], mode=mode)
        mirror = [np.zeros((), dtype) for _ in range(n)]

        def numpy_fn(a, mirror=mirror):
            mirror[:] = [v + a for v in mirror]

        times, ratios = _measure([numpy_fn, f], [xv], max(5, repeat // 5), batch_ms)
        rows.append((f"{n} shared updates s + x", "x: scalar", times[0], times[1],
                     ratios[1], None))
    return rows


def _profile(f, values, title, out, calls=2000):
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        f(*values)
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).strip_dirs().sort_stats("tottime").print_stats(12)
    print(f"\n### cProfile: {title}, {calls} calls, by own time\n\n```", file=out)
    print(s.getvalue().strip(), file=out)
    print("```", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default=None, help="compilation mode (default: config.mode)")
    ap.add_argument("--repeat", type=int, default=51, help="batches per measurement")
    ap.add_argument("--batch-ms", type=float, default=1.0, help="length of one batch")
    ap.add_argument("--profile", action="store_true", help="print cProfile of each graph")
    args = ap.parse_args(argv)
    return run(args.mode, args.repeat, args.batch_ms, args.profile)


if __name__ == "__main__":
    main()
