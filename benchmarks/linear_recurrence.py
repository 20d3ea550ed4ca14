"""Linear recurrences as parallel prefix scans (scan_parallel_linear) against sequential
loops: theanine with the rewrite, theanine without it (scan.parallel_linear=False: the
compiled sequential loop), hand-written numba loops, JAX lax.scan and a hand-written
lax.associative_scan, forward and forward+gradient.

    python benchmarks/linear_recurrence.py            # all cases, Markdown tables
    python benchmarks/linear_recurrence.py --quick    # fewer rounds
    python benchmarks/linear_recurrence.py --cases 1,2 --no-jax   # the targets only

Cases (targets from issue 15: theanine <= 0.5x the hand-written sequential loop):
1. scalar x_t = 0.999 x_{t-1} + a_t, N = 1e6, float64; gradient of sum(w * x) by a
2. gated recurrence of width 8, T = 1e5, float64: z = sigmoid(k_t),
   h_t = (1 - z) h_{t-1} + z v_t (minGRU's recurrence); gradient of sum(w * h) by k, v
3. a wide one (T = 1000, 4096 lanes, float32), where the lanes already run in parallel:
   what the rewrite costs or saves there

Forward + gradient tables add floors (plain numba loops, not implementations):
case 1 "2 copies" (each array read or written once, the traffic any implementation
needs); case 2 "memory" (the six arrays the two loops move, each once, no arithmetic)
and "exps" (the gates both loops compute, into a buffer in cache, no memory traffic).

Systems run side by side in one process, interleaved (each round in a random order;
`--alone`: each system's rounds on their own, its arrays in cache), median (and
fastest) of the rounds after warm-up; BLAS, numba and XLA on one thread; theanine's kernels compiled
before timing; the load average is printed (the machine is shared).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import subprocess
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import numba  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from benchmarks import timing  # noqa: E402
from theanine.backends.numba.kernels.vecmath import sigmoid_pair_f64  # noqa: E402
from theanine.backends.numba.kernels.vector_width import wide_vectors  # noqa: E402

try:
    import jax  # noqa: E402
    import jax.numpy as jnp  # noqa: E402

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - jax is optional
    jax = None


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CLOCK = time.process_time  # CPU time of this process: robust to other jobs' load


def keep_freed_memory():
    """glibc: large arrays from the heap and freed memory kept (no trimming). Each
    system allocates its 8 MB outputs at every call; by default glibc maps them fresh
    or trims them when freed, and the kernel then zeroes every page again (0.5-3 ms
    a call here, depending on which allocations happened to come before): the tables
    would compare page faults. Every system runs under the same setting."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and \
        bool(libc.mallopt(m_trim_threshold, 1 << 31))


ALONE = False  # --alone: each system's rounds one after another (its data in cache)


def interleaved(systems, rounds, warmup=2):
    """{name: (median, min) seconds} of callables, run round-robin. JAX's systems run
    in their own rounds, after the others: interleaved with them, XLA's allocations
    make the heap give its memory back to the kernel, so that every other system's
    output arrays page-fault (zeroed pages: +0.7 ms for 8 MB) and the comparison
    against the numba loop measures the allocator more than the loops."""
    groups = [{k: f for k, f in systems.items() if not k.startswith("JAX")},
              {k: f for k, f in systems.items() if k.startswith("JAX")}]
    if ALONE:
        groups = [{k: f} for k, f in systems.items()]
    out = {}
    for g in groups:
        if g:
            out.update(_rounds(g, rounds, warmup))
    return out


def _rounds(systems, rounds, warmup):
    """Each round in a new random order (timing.random_rounds)."""
    times = timing.random_rounds(systems, rounds, CLOCK, warmup)
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in times.items()}


def table(title, header, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    sys.stdout.flush()


def compiled(inputs, outputs, parallel=True):
    with theano.config.change_flags({"scan.parallel_linear": parallel}):
        f = theano.function(inputs, outputs, mode="NUMBA")
    if not f.fn.compile_now():
        raise RuntimeError("a kernel failed to compile")
    return f


def check(results, reference, rtol):
    for got in results:
        for a, b in zip(got, reference):
            np.testing.assert_allclose(np.asarray(a), b, rtol=rtol, atol=rtol)


def report(title, unit, scale, t, base):
    """Median (and, as a check on a shared machine, fastest) time of each system."""
    rows = [[k, f"{med * scale:.3f}", f"{med / t[base][0]:.2f}x", f"{low * scale:.3f}",
             f"{low / t[base][1]:.2f}x"] for k, (med, low) in t.items()]
    table(title, ["system", f"median {unit}", f"vs {base}", f"fastest {unit}",
                  f"vs {base}"], rows)


# -- 1. scalar recurrence ---------------------------------------------------------------
@numba.njit
def ema_loop(a, c):
    out = np.empty_like(a)
    h = 0.0
    for i in range(a.shape[0]):
        h = c * h + a[i]
        out[i] = h
    return out


@numba.njit
def ema_grad_loop(a, w, c):
    """x and d sum(w * x) / d a: the forward loop, then the reverse one."""
    x = ema_loop(a, c)
    g = np.empty_like(a)
    lam = 0.0
    for i in range(a.shape[0] - 1, -1, -1):
        lam = w[i] + c * lam
        g[i] = lam
    return x, g


@numba.njit
def copies_floor(a, w):
    """The memory traffic any forward + gradient of case 1 needs (a read, x written,
    w read, g written), as two plain copies: a floor for streaming passes."""
    x, g = np.empty_like(a), np.empty_like(w)
    for i in range(a.shape[0]):
        x[i] = a[i]
    for i in range(w.shape[0]):
        g[i] = w[i]
    return x, g


def jax_ema():
    def seq(a):
        return jax.lax.scan(lambda h, at: (0.999 * h + at,) * 2, jnp.zeros((), a.dtype), a)[1]

    def par(a):
        comb = lambda e, l: (e[0] * l[0], l[0] * e[1] + l[1])  # noqa: E731
        return jax.lax.associative_scan(comb, (jnp.full_like(a, 0.999), a))[1]

    out = {}
    for name, fn in (("JAX lax.scan", seq), ("JAX associative_scan", par)):
        fwd = jax.jit(fn)
        both = jax.jit(jax.value_and_grad(lambda a, w, fn=fn: jnp.sum(w * fn(a))))
        out[name] = (fwd, both)
    return out


def case1(rounds):
    n = 10 ** 6
    rng = np.random.default_rng(0)
    a, w = rng.normal(size=n), rng.normal(size=n)
    x, wv = T.dvector("a"), T.dvector("w")
    h, _ = theano.scan(lambda at, h: 0.999 * h + at, sequences=x, outputs_info=T.constant(0.0))
    g = theano.grad(T.sum(wv * h), x)
    ref_x, ref_g = ema_grad_loop(a, w, 0.999)
    fwd = {"theanine": compiled([x], h), "theanine sequential": compiled([x], h, False)}
    grad = {"theanine": compiled([x, wv], [h, g]),
            "theanine sequential": compiled([x, wv], [h, g], False)}
    check([[fwd[k](a)] for k in fwd], [ref_x], 1e-9)
    check([grad[k](a, w) for k in grad], [ref_x, ref_g], 1e-9)
    sys_f = {k: (lambda f=f: f(a)) for k, f in fwd.items()}
    sys_f["numba loop"] = lambda: ema_loop(a, 0.999)
    sys_g = {k: (lambda f=f: f(a, w)) for k, f in grad.items()}
    sys_g["numba loop"] = lambda: ema_grad_loop(a, w, 0.999)
    sys_g["floor: 2 copies"] = lambda: copies_floor(a, w)
    if jax is not None:
        for name, (jf, jg) in jax_ema().items():
            ja, jw = jax.device_put(a), jax.device_put(w)
            check([[jf(ja)]], [ref_x], 1e-9)
            sys_f[name] = lambda jf=jf, ja=ja: jf(ja).block_until_ready()
            sys_g[name] = lambda jg=jg, ja=ja, jw=jw: jg(ja, jw)[0].block_until_ready()
    for title, systems in (("forward", sys_f), ("forward + gradient", sys_g)):
        t = interleaved(systems, rounds)
        report(f"1. x_t = 0.999 x_(t-1) + a_t, N = 1e6, float64, {title} (ns per step)",
               "ns/step", 1e9 / n, t, "numba loop")


# -- 2. gated recurrence of width 8 -------------------------------------------------------
@numba.njit
def gated_loop(k, v):
    n, w = k.shape
    out = np.empty_like(k)
    h = np.zeros(w)
    for t in range(n):
        for i in range(w):
            z = 1.0 / (1.0 + np.exp(-k[t, i]))
            h[i] = (1.0 - z) * h[i] + z * v[t, i]
            out[t, i] = h[i]
    return out


@numba.njit
def gated_grad_loop(k, v, wt):
    n, w = k.shape
    out = gated_loop(k, v)
    gk, gv = np.empty_like(k), np.empty_like(k)
    lam = np.zeros(w)
    for t in range(n - 1, -1, -1):
        for i in range(w):
            z = 1.0 / (1.0 + np.exp(-k[t, i]))
            prev = out[t - 1, i] if t > 0 else 0.0
            lam[i] += wt[t, i]
            gv[t, i] = lam[i] * z
            gk[t, i] = lam[i] * (v[t, i] - prev) * z * (1.0 - z)
            lam[i] *= 1.0 - z
    return out, gk, gv


@numba.njit
def gated_memory_floor(k, v, wt):
    """The arrays case 2's forward and gradient loops read and write, once each, with
    no arithmetic to speak of: states from k and v; then gk, gv from k, v, w and the
    states."""
    n, w = k.shape
    st = np.empty((n + 1, w))
    kf, vf, wf, sf = k.reshape(-1), v.reshape(-1), wt.reshape(-1), st.reshape(-1)
    for i in range(n * w):
        sf[w + i] = kf[i] + vf[i]
    gk, gv = np.empty_like(k), np.empty_like(k)
    gkf, gvf = gk.reshape(-1), gv.reshape(-1)
    for i in range(n * w):
        gkf[i] = kf[i] * wf[i] + vf[i] * sf[i]
        gvf[i] = wf[i] * kf[i]
    return st, gk, gv


@numba.njit(error_model="numpy", fastmath={"contract"})  # as theanine's kernels
def gated_exps_floor(k):
    """The gates of case 2's forward and gradient loops (one sigmoid pair of each k,
    twice: each loop computes them), into a buffer that stays in cache, on vectors as
    wide as theanine's kernels ask for (kernels/vector_width.py)."""
    wide_vectors()
    kf = k.reshape(-1)
    buf = np.empty((2, 4096))
    for _ in range(2):
        for q in range(0, kf.shape[0], 4096):
            m = min(4096, kf.shape[0] - q)
            kb = kf[q:q + m]  # reading kf[q + i] in the loop took 1.8x as long on Zen 4
            for i in range(m):
                z, y = sigmoid_pair_f64(kb[i])
                buf[0, i] = z
                buf[1, i] = y
    return buf


def jax_gated():
    def seq(k, v):
        def step(h, kv):
            z = jax.nn.sigmoid(kv[0])
            h = (1 - z) * h + z * kv[1]
            return h, h
        return jax.lax.scan(step, jnp.zeros(k.shape[1], k.dtype), (k, v))[1]

    def par(k, v):
        z = jax.nn.sigmoid(k)
        comb = lambda e, l: (e[0] * l[0], l[0] * e[1] + l[1])  # noqa: E731
        return jax.lax.associative_scan(comb, (1 - z, z * v))[1]

    out = {}
    for name, fn in (("JAX lax.scan", seq), ("JAX associative_scan", par)):
        fwd = jax.jit(fn)
        both = jax.jit(jax.value_and_grad(lambda k, v, w, fn=fn: jnp.sum(w * fn(k, v)),
                                          argnums=(0, 1)))
        out[name] = (fwd, both)
    return out


def case2(rounds):
    n, width = 10 ** 5, 8
    rng = np.random.default_rng(1)
    k, v, w = (rng.normal(size=(n, width)) for _ in range(3))
    K, V, W = T.dmatrix("k"), T.dmatrix("v"), T.dmatrix("w")

    def step(kt, vt, h):
        z = T.nnet.sigmoid(kt)
        return (1 - z) * h + z * vt

    h, _ = theano.scan(step, sequences=[K, V], outputs_info=T.zeros((width,), "float64"))
    gk, gv = theano.grad(T.sum(W * h), [K, V])
    ref = gated_grad_loop(k, v, w)
    fwd = {"theanine": compiled([K, V], h), "theanine sequential": compiled([K, V], h, False)}
    grad = {"theanine": compiled([K, V, W], [h, gk, gv]),
            "theanine sequential": compiled([K, V, W], [h, gk, gv], False)}
    check([[fwd[x](k, v)] for x in fwd], [ref[0]], 1e-9)
    check([grad[x](k, v, w) for x in grad], list(ref), 1e-9)
    sys_f = {x: (lambda f=f: f(k, v)) for x, f in fwd.items()}
    sys_f["numba loop"] = lambda: gated_loop(k, v)
    sys_g = {x: (lambda f=f: f(k, v, w)) for x, f in grad.items()}
    sys_g["numba loop"] = lambda: gated_grad_loop(k, v, w)
    sys_g["floor: memory"] = lambda: gated_memory_floor(k, v, w)
    sys_g["floor: exps"] = lambda: gated_exps_floor(k)
    if jax is not None:
        jk, jv, jw = (jax.device_put(x) for x in (k, v, w))
        for name, (jf, jg) in jax_gated().items():
            check([[jf(jk, jv)]], [ref[0]], 1e-9)
            sys_f[name] = lambda jf=jf: jf(jk, jv).block_until_ready()
            sys_g[name] = lambda jg=jg: jg(jk, jv, jw)[0].block_until_ready()
    for title, systems in (("forward", sys_f), ("forward + gradient", sys_g)):
        t = interleaved(systems, rounds)
        report(f"2. gated recurrence, width 8, T = 1e5, float64, {title} (ms)", "ms", 1e3, t,
               "numba loop")


# -- 3. a wide recurrence -----------------------------------------------------------------
@numba.njit
def wide_loop(x, c):
    out = np.empty_like(x)
    h = np.zeros(x.shape[1], x.dtype)
    for t in range(x.shape[0]):
        for i in range(x.shape[1]):
            h[i] = c * h[i] + x[t, i]
            out[t, i] = h[i]
    return out


def case3(rounds):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1000, 4096)).astype("float32")
    X = T.fmatrix("x")
    h, _ = theano.scan(lambda xt, h: np.float32(0.9) * h + xt, sequences=X,
                       outputs_info=T.zeros((4096,), "float32"))
    fs = {"theanine": compiled([X], h), "theanine sequential": compiled([X], h, False)}
    ref = wide_loop(x, np.float32(0.9))
    check([[f(x)] for f in fs.values()], [ref], 1e-4)
    systems = {k: (lambda f=f: f(x)) for k, f in fs.items()}
    systems["numba loop"] = lambda: wide_loop(x, np.float32(0.9))
    t = interleaved(systems, rounds)
    report("3. wide: h_t = 0.9 h_(t-1) + x_t, (1000, 4096) float32, forward (ms)", "ms", 1e3,
           t, "numba loop")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", default="1,2,3")
    ap.add_argument("--no-jax", action="store_true", help="leave JAX's rows out")
    ap.add_argument("--alone", action="store_true",
                    help="run each system's rounds on their own, one system after another "
                         "(its arrays stay in cache), instead of interleaved")
    ap.add_argument("--system-malloc", action="store_true",
                    help="leave glibc's trimming of freed memory on (page faults counted)")
    args = ap.parse_args()
    global jax, ALONE
    if args.no_jax:
        jax = None
    ALONE = args.alone
    rounds = 5 if args.quick else 21
    kept = not args.system_malloc and keep_freed_memory()
    print(f"load average before: {os.getloadavg()[0]:.1f}; glibc keeps freed memory: {kept}")
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores visible), one thread; numba "
          f"{numba.__version__}, NumPy {np.__version__}"
          + (f", JAX {jax.__version__}" if jax is not None else ""))
    for c in args.cases.split(","):
        {"1": case1, "2": case2, "3": case3}[c.strip()](rounds)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
