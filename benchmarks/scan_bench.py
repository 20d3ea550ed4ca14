"""Scan benchmarks: theanine's numba backend against hand-written baselines.

    python benchmarks/scan_bench.py               # all cases, Markdown tables on stdout
    python benchmarks/scan_bench.py --cases 1,3   # some cases
    python benchmarks/scan_bench.py --quick       # smaller sizes, fewer runs

Cases (targets are ratios to the best baseline; see benchmarks/RESULTS.md):
1. scalar recurrence x_t = c*x_{t-1} + a_t, float64, N = 1e4, 1e5, 1e6
   (hand-written numba loop, NumPy Python loop, scipy.signal.lfilter)
2. map scan tanh(x)*2 over X (10000, 100) float32 (np.tanh(X) * 2)
3. vanilla RNN h_t = tanh(x_t W + h_{t-1} U + b), B=32, T=100, D=64, H=32 and 256,
   float32, forward and forward+BPTT of sum(h_T**2) (hand-written NumPy and numba)
4. 2-layer LSTM language model (B=16, T=50, H=128, vocab 1000), scan + grad: time
   from graph construction to first result, cold (empty cache) and warm (new
   process, cache filled), each in a fresh process
5. peak memory of the RNN forward+BPTT at T=1000, H=256 above the process baseline
6. training from a cold start: 100 and 1,000 steps of the case-4 LSTM LM, the case-3
   RNN (H=256) and the char-LSTM demo's model, each in a fresh process, timed from
   process start (theanine with an empty cache, then with the cache it filled;
   JAX with jax.jit), see benchmarks/training_runs.py

Every case runs its systems in one process, interleaved (one call of each system
per round), and reports the median of >= 5 rounds after warm-up calls; BLAS and
numba use one thread. theanine runs with compiled kernels (``f.fn.compile_now()``
before timing), except in case 4, which measures the default tiered behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import lstm_lm, peers  # noqa: E402


def interleaved(systems, rounds, warmup=2):
    """{name: median seconds} of callables, run round-robin."""
    for fn in systems.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in systems}
    for _ in range(rounds):
        for k, fn in systems.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def table(title, header, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    sys.stdout.flush()


def _theano():
    import theanine as theano
    import theanine.tensor as T

    return theano, T


def _compiled(f):
    ok = f.fn.compile_now()
    if not ok:
        raise RuntimeError("a kernel failed to compile")
    return f


def case1(quick):
    import numba
    from scipy.signal import lfilter

    theano, T = _theano()
    x, c = T.dvector("x"), T.dscalar("c")
    h, _ = theano.scan(lambda a, h, c: c * h + a, sequences=x, outputs_info=T.constant(0.0),
                       non_sequences=c)
    f = _compiled(theano.function([x, c], h, mode="NUMBA"))

    @numba.njit
    def hand(a, c):
        out = np.empty_like(a)
        h = 0.0
        for i in range(a.shape[0]):
            h = c * h + a[i]
            out[i] = h
        return out

    def np_loop(a, c):
        out = np.empty_like(a)
        h = 0.0
        for i in range(a.shape[0]):
            h = c * h + a[i]
            out[i] = h
        return out

    jax_run = peers.scalar_recurrence("jax")
    rows = []
    for n in ([10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]):
        a = np.random.default_rng(0).normal(size=n)
        cv = np.asarray(0.9)  # a 0-d array: Python floats cost ~40 us in input checks
        assert np.allclose(f(a, cv), hand(a, 0.9))
        systems = {"theanine": lambda a=a, cv=cv: f(a, cv),
                   "numba loop": lambda a=a: hand(a, 0.9),
                   "lfilter": lambda a=a: lfilter([1.0], [1.0, -0.9], a)}
        if jax_run is not None:
            assert np.allclose(np.asarray(jax_run(a, 0.9)), hand(a, 0.9))
            systems["JAX"] = lambda a=a: jax_run(a, 0.9)
        if n <= 100_000 or not quick:
            systems["NumPy loop"] = lambda a=a: np_loop(a, 0.9)
        t = interleaved(systems, 3 if quick else 7, warmup=1)
        cols = [k for k in ("theanine", "numba loop", "JAX", "lfilter", "NumPy loop")
                if k in t]
        best = min(v for k, v in t.items() if k != "theanine")
        rows.append([f"{n:.0e}"] + [f"{t[k] / n * 1e9:.2f}" for k in
                                    cols] + [f"{t['theanine'] / t['numba loop']:.2f}x",
                                             f"{t['theanine'] / best:.2f}x"])
    table("1. scalar recurrence, float64 (ns per step; target <= 2x the numba loop)",
          ["N", *cols, "vs numba loop", "vs best"], rows)


def case2(quick):
    theano, T = _theano()
    X = T.fmatrix("X")
    ys, _ = theano.map(lambda r: T.tanh(r) * 2, sequences=X)
    f = _compiled(theano.function([X], ys, mode="NUMBA"))
    Xv = np.random.default_rng(0).normal(size=(10000, 100)).astype("float32")
    np.testing.assert_allclose(f(Xv), np.tanh(Xv) * 2, rtol=1e-5, atol=1e-6)
    systems = {"theanine": lambda: f(Xv), "NumPy": lambda: np.tanh(Xv) * 2}
    for name, label in (("jax", "JAX"), ("torch", "torch")):
        run = peers.map_tanh(name)
        if run is not None:
            np.testing.assert_allclose(np.asarray(run(Xv)), np.tanh(Xv) * 2, rtol=1e-5,
                                       atol=1e-6)
            systems[label] = lambda run=run: run(Xv)
    t = interleaved(systems, 5 if quick else 15)
    table("2. map scan tanh(x)*2 over X (10000, 100) float32 (ms; target <= 1.1x NumPy)",
          [*t, "vs NumPy", "vs best peer"],
          [[f"{v * 1e3:.3f}" for v in t.values()]
           + [f"{t['theanine'] / t['NumPy']:.2f}x",
              f"{t['theanine'] / min(v for k, v in t.items() if k != 'theanine'):.2f}x"]])


def rnn_graph(theano, T, grad):
    X = T.ftensor3("X")
    W, U, b, h0 = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b"), T.fmatrix("h0")
    hs, _ = theano.scan(lambda xt, h, W, U, b: T.tanh(T.dot(xt, W) + T.dot(h, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b])
    cost = (hs[-1] ** 2).sum()
    outs = [cost] + (theano.grad(cost, [W, U, b]) if grad else [])
    return theano.function([X, W, U, b, h0], outs, mode="NUMBA")


def rnn_numpy(X, W, U, b, h0, grad):
    hs = [h0]
    for t in range(X.shape[0]):
        hs.append(np.tanh(X[t] @ W + hs[-1] @ U + b))
    cost = (hs[-1] ** 2).sum()
    if not grad:
        return [cost]
    gW, gU, gb = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    gh = 2 * hs[-1]
    for t in range(X.shape[0] - 1, -1, -1):
        ga = gh * (1 - hs[t + 1] ** 2)
        gW += X[t].T @ ga
        gU += hs[t].T @ ga
        gb += ga.sum(0)
        gh = ga @ U.T
    return [cost, gW, gU, gb]


def _rnn_numba():
    import numba

    @numba.njit
    def fwd(X, W, U, b, h0):
        T_ = X.shape[0]
        hs = np.empty((T_ + 1,) + h0.shape, X.dtype)
        hs[0] = h0
        for t in range(T_):
            hs[t + 1] = np.tanh(X[t] @ W + hs[t] @ U + b)
        return hs

    @numba.njit
    def bwd(X, W, U, hs):
        gW, gU = np.zeros_like(W), np.zeros_like(U)
        gb = np.zeros(W.shape[1], X.dtype)
        gh = 2 * hs[-1]
        UT = np.ascontiguousarray(U.T)
        for t in range(X.shape[0] - 1, -1, -1):
            ga = gh * (1 - hs[t + 1] ** 2)
            gW += np.ascontiguousarray(X[t].T) @ ga
            gU += np.ascontiguousarray(hs[t].T) @ ga
            gb += ga.sum(0)
            gh = ga @ UT
        return gW, gU, gb

    def run(X, W, U, b, h0, grad):
        hs = fwd(X, W, U, b, h0)
        cost = (hs[-1] ** 2).sum()
        return [cost] + (list(bwd(X, W, U, hs)) if grad else [])

    return run


def case3(quick):
    theano, T = _theano()
    hand = _rnn_numba()
    rows = []
    for H in (32, 256):
        rng = np.random.default_rng(0)
        B, T_, D = 32, 100, 64
        args = [rng.normal(size=(T_, B, D)).astype("float32"),
                (rng.normal(size=(D, H)) / np.sqrt(D)).astype("float32"),
                (rng.normal(size=(H, H)) / np.sqrt(H)).astype("float32"),
                np.zeros(H, "float32"), np.zeros((B, H), "float32")]
        for grad in (False, True):
            f = _compiled(rnn_graph(theano, T, grad))
            ref = rnn_numpy(*args, grad)
            for a, r in zip(f(*args), ref):
                np.testing.assert_allclose(a, r, rtol=2e-3, atol=2e-3)
            systems = {"theanine": lambda f=f, a=args: f(*a),
                       "NumPy": lambda a=args, g=grad: rnn_numpy(*a, g),
                       "numba": lambda a=args, g=grad: hand(*a, g)}
            for name, label in (("jax", "JAX"), ("torch", "torch")):
                run = peers.rnn(name, grad)
                if run is not None:
                    for a, r in zip(peers.to_numpy(run(*args)), ref):
                        np.testing.assert_allclose(a, r, rtol=2e-3, atol=2e-3)
                    systems[label] = lambda run=run, a=args: run(*a)
            t = interleaved(systems, 5 if quick else 9)
            best = min(v for k, v in t.items() if k != "theanine")
            jax_ratio = f"{t['theanine'] / t['JAX']:.2f}x" if "JAX" in t else "n/a"
            rows.append([H, "fwd+BPTT" if grad else "fwd"]
                        + [f"{t[k] * 1e3:.2f}" if k in t else "n/a" for k in COLS3]
                        + [jax_ratio, f"{t['theanine'] / best:.2f}x"])
    table("3. vanilla RNN, B=32, T=100, D=64, float32 (ms; targets vs JAX: <= 1.0x at "
          "H=256, <= 0.5x at H=32)",
          ["H", "pass", *COLS3, "vs JAX", "vs best"], rows)


COLS3 = ("theanine", "JAX", "torch", "NumPy", "numba")


LSTM_SCRIPT = textwrap.dedent("""
    import json, sys, time
    t_start = time.perf_counter()
    import numpy as np
    import theanine as theano, theanine.tensor as T
    t_import = time.perf_counter()
""") + lstm_lm.THEANINE + textwrap.dedent("""
    f = theano.function([tok, tgt], [cost] + grads)
    toks = rng.integers(0, V, size=(TT, B)).astype("int32")
    res = f(toks, toks)
    t_first = time.perf_counter()
    out = {"import": t_import - t_start, "first": t_first - t_import, "cost": float(res[0]),
           "backend": f.maker.mode.backend}
    t = time.perf_counter(); f(toks, toks); out["second"] = time.perf_counter() - t
    out["loaded"] = sum(nk.ready() for nk in f.fn.kernels)
    out["kernels"] = len(f.fn.kernels)
    t = time.perf_counter(); f(toks, toks); out["third"] = time.perf_counter() - t
    if "--until-compiled" in sys.argv:
        from theanine.backends.numba import background
        f.fn.compile_now() if "--sync" in sys.argv else None
        if hasattr(f.fn, "on_jax"):  # compile/interim.py: on JAX, numba asked for nothing
            f.fn.request()
        for nk in f.fn.kernels:
            nk.request()
        background.wait()
        if hasattr(f.fn, "on_jax"):
            f.fn.compile_now()  # loads what the workers wrote; numba from here on
        f(toks, toks)
        out["compiled"] = time.perf_counter() - t_import
        out["ready"] = f.fn.ready()
        t = time.perf_counter(); f(toks, toks); out["step_numba"] = time.perf_counter() - t
    print(json.dumps(out))
""")


def _lstm_run(cache_dir, *flags):
    env = dict(os.environ, THEANINE_CACHE_DIR=cache_dir, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", LSTM_SCRIPT, *flags], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=900)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _peer_run(src):
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                       env=dict(os.environ), cwd=ROOT, timeout=900)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def case4(quick):
    rows = []
    with tempfile.TemporaryDirectory() as d:
        cold = _lstm_run(d, "--until-compiled")
        warm = [_lstm_run(d) for _ in range(1 if quick else 3)]
    w = sorted(warm, key=lambda r: r["first"])[len(warm) // 2]
    rows.append(["cold (empty cache)", f"{cold['import']:.2f}", f"{cold['first']:.2f}",
                 f"{cold['second']:.3f}", f"{cold['compiled']:.1f}",
                 f"{cold['step_numba']:.3f}", "<= 1.6"])
    rows.append(["warm (new process)", f"{w['import']:.2f}", f"{w['first']:.2f}",
                 f"{w['second']:.3f} ({w['loaded']}/{w['kernels']} kernels loaded)", "-",
                 f"{w['third']:.3f}", "<= 0.5"])
    jax_src = peers.lstm_first_result("jax")
    if jax_src is not None:
        runs = sorted((_peer_run(jax_src) for _ in range(1 if quick else 3)),
                      key=lambda r: r["first"])
        j = runs[len(runs) // 2]
        rows.append(["JAX (jit, new process)", f"{j['import']:.2f}", f"{j['first']:.2f}",
                     f"{j['second']:.3f}", "-", f"{j['second']:.3f}", "-"])
    table("4. 2-layer LSTM LM (B=16, T=50, H=128, vocab 1000) with grad: seconds from "
          "graph construction to first result (default mode FAST_RUN)",
          ["run", "import theanine", "to first result", "2nd call",
           "until all kernels compiled", "call with compiled kernels", "target"], rows)


MEM_SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time
    sys.path.insert(0, os.environ["ROOT"])
    import numpy as np
    from benchmarks.scan_bench import rnn_graph
    import theanine as theano, theanine.tensor as T
    f = rnn_graph(theano, T, True)
    f.fn.compile_now()
    rng = np.random.default_rng(0)
    B, TT, D, H = 32, 1000, 64, 256
    args = [rng.normal(size=(TT, B, D)).astype("float32"),
            (rng.normal(size=(D, H)) / 8).astype("float32"),
            (rng.normal(size=(H, H)) / 16).astype("float32"),
            np.zeros(H, "float32"), np.zeros((B, H), "float32")]
    f(*args)
    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    base = rss(); peak = [base]; stop = [False]
    def sample():
        while not stop[0]:
            peak[0] = max(peak[0], rss()); time.sleep(0.0005)
    th = threading.Thread(target=sample); th.start()
    f(*args)
    stop[0] = True; th.join()
    print(json.dumps({"peak_mib": (peak[0] - base) / 2 ** 20}))
""")


def case5(quick):
    if not os.path.exists("/proc/self/statm"):
        print("\n5. skipped: needs /proc/self/statm")
        return
    env = dict(os.environ, ROOT=ROOT, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", MEM_SCRIPT], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=900)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    peak = json.loads(r.stdout.strip().splitlines()[-1])["peak_mib"]
    rows = [["theanine", f"{peak:.1f}", "<= 80"]]
    jax_src = peers.rnn_memory("jax")
    if jax_src is not None:
        rows.append(["JAX", f"{_peer_run(jax_src)['peak_mib']:.1f}", "-"])
    table("5. peak memory of the RNN forward+BPTT, T=1000, B=32, D=64, H=256, float32",
          ["system", "above baseline (MiB)", "target"], rows)


def _run_script(src, steps, env_extra):
    env = dict(os.environ, PYTHONPATH=ROOT, ROOT=ROOT, **env_extra)
    r = subprocess.run([sys.executable, "-c", src, str(steps)], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=3600)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def case6(quick):
    from benchmarks import training_runs as tr

    steps = 100 if quick else 1000
    have_jax = peers.installed("jax")
    for name, (theanine_src, jax_src) in tr.SCRIPTS.items():
        rows = []
        with tempfile.TemporaryDirectory() as d:
            cold = _run_script(theanine_src, steps, {"THEANINE_CACHE_DIR": d})
            tr.wait_detached(d)  # compiles a cold run left to detached workers finish
            runs = [("theanine, cold cache", cold),
                    ("theanine, warm cache", _run_script(theanine_src, steps,
                                                         {"THEANINE_CACHE_DIR": d}))]
            tr.wait_detached(d)
        if have_jax:
            runs.append(("JAX (jit)", _run_script(jax_src, steps, {})))
        jax_marks = runs[-1][1]["marks"] if have_jax else None
        for label, r in runs:
            m = r["marks"]
            row = [label, f"{m['1']:.2f}",
                   "-" if r.get("full_speed") is None else f"{r['full_speed']:.1f}",
                   f"{m['100']:.1f}", f"{m[str(steps)]:.1f}" if steps > 100 else "-",
                   f"{r['step_s'] * 1e3:.1f}"]
            if jax_marks:
                row.append(" / ".join(f"{m[k] / jax_marks[k]:.2f}x"
                                      for k in ("100", str(steps)) if k in m))
            rows.append(row)
        table(f"6. {tr.TITLES[name]}: seconds from process start, {steps} training steps "
              "(target: <= JAX at 100 and 1,000 steps)",
              ["run", "step 1 done", "full speed at", "100 steps", f"{steps} steps",
               "step (ms)"] + (["vs JAX (100 / " + f"{steps})"] if have_jax else []), rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="1,2,3,4,5,6")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    import numba
    import scipy

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
          + "".join(v + ", " for v in peers.versions())
          + f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}")
    for c in a.cases.split(","):
        {"1": case1, "2": case2, "3": case3, "4": case4, "5": case5,
         "6": case6}[c.strip()](a.quick)


if __name__ == "__main__":
    _ = threading  # (used by the memory script's sampler)
    main()
