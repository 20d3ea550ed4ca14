"""Cases 4 and 5 of jax_bench.py: each system in fresh processes.

4. A 2-layer LSTM language model (B=16, T=50, H=128, vocab 1000) trained by SGD for
   100 steps from a cold start (a new process; theanine's compile cache empty):
   seconds from the model's definition (after every import: theanine, and the
   backend's library, jax or numba, which theanine imports at the first function
   of that mode) to the first result, to full speed (the end
   of the first step that runs within 1.25x the per-step time) and to the end of the
   100th step; the per-step time (median of the last 50 steps); the cost after 100
   steps (the same for every system: same initial weights and data). numba is
   theanine's default tiered mode: steps run on NumPy while the kernels compile in a
   background process, so its full speed may come after the 100 steps; it is then
   measured after waiting for the kernels.
5. Peak memory of the RNN forward+BPTT at T=1000, B=32, D=64, H=256: XLA's own
   account of the compiled function (temporary + output buffers: exact, independent
   of the machine's load) for the JAX systems, and the process's resident memory
   above its baseline during a call (glibc's free memory trimmed before it; the
   largest of 3 calls) for all three.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap

from benchmarks.scan_bench import table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL = """
B, TT, H, V = 16, 50, 128, 1000
rng = np.random.default_rng(0)
INIT = [("emb", (V, H)), ("Wo", (H, V)), ("bo", (V,))] + [
    (f"{n}{k}", s) for k in range(2) for n, s in (("W", (H, 4 * H)), ("U", (H, 4 * H)),
                                                  ("b", (4 * H,)))]
VALUES = {n: (rng.normal(size=s) * 0.1).astype("float32") for n, s in INIT}
TOKS = rng.integers(0, V, size=(TT + 1, B)).astype("int32")
LR = np.float32(0.5)
"""

THEANINE_TRAIN = textwrap.dedent("""
    import json, sys, time
    t_start = time.perf_counter()
    import numpy as np
    import theanine as theano, theanine.tensor as T
    from theanine import backends
    backends.load(sys.argv[1].lower())  # its library (jax, numba) is import time too
    t0, c0 = time.perf_counter(), time.process_time()
    """) + MODEL + textwrap.dedent("""
    P = {n: theano.shared(v, name=n) for n, v in VALUES.items()}
    tok, tgt = T.imatrix("tok"), T.imatrix("tgt")
    def lstm(xs, W, U, b):
        def step(xt, h, c):
            z = T.dot(xt, W) + T.dot(h, U) + b
            i, f, o = (T.nnet.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
            c = f * c + i * T.tanh(z[:, 3 * H:])
            return o * T.tanh(c), c
        h0 = T.zeros((xs.shape[1], H), dtype="float32")
        (hs, _), _ = theano.scan(step, sequences=xs, outputs_info=[h0, h0])
        return hs
    x = P["emb"][tok]
    for k in range(2):
        x = lstm(x, P[f"W{k}"], P[f"U{k}"], P[f"b{k}"])
    logits = T.dot(x.reshape((TT * B, H)), P["Wo"]) + P["bo"]
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), tgt.flatten()).mean()
    params = list(P.values())
    grads = theano.grad(cost, params)
    f = theano.function([tok, tgt], cost, mode=sys.argv[1],
                        updates=[(p, p - LR * g) for p, g in zip(params, grads)])
    steps, costs = [], []
    for _ in range(100):
        t = time.perf_counter()
        costs.append(float(f(TOKS[:-1], TOKS[1:])))
        steps.append(time.perf_counter() - t)
        if len(steps) == 1:
            cpu_first = time.process_time() - c0
    out = {"import": t0 - t_start, "steps": steps, "cost0": costs[0], "cost": costs[-1],
           "cpu_first": cpu_first}
    if sys.argv[1] == "NUMBA" and not f.fn.ready():
        from theanine.backends.numba import background
        for nk in f.fn.kernels:
            nk.request()
        background.wait()
        f(TOKS[:-1], TOKS[1:])
        out["compiled"] = time.perf_counter() - t0
        late = []
        for _ in range(10):
            t = time.perf_counter(); f(TOKS[:-1], TOKS[1:]); late.append(time.perf_counter() - t)
        out["late_step"] = float(np.median(late))
    print(json.dumps(out))
""")

JAX_TRAIN = textwrap.dedent("""
    import json, time
    t_start = time.perf_counter()
    import numpy as np
    import jax, jax.numpy as jnp
    t0, c0 = time.perf_counter(), time.process_time()
    """) + MODEL + textwrap.dedent("""
    params = {n: jnp.asarray(v) for n, v in VALUES.items()}
    def lstm(xs, W, U, b):
        def step(carry, xt):
            h, c = carry
            z = xt @ W + h @ U + b
            i, f, o = (jax.nn.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
            c = f * c + i * jnp.tanh(z[:, 3 * H:])
            h = o * jnp.tanh(c)
            return (h, c), h
        h0 = jnp.zeros((xs.shape[1], H), jnp.float32)
        return jax.lax.scan(step, (h0, h0), xs)[1]
    def loss(p, tok, tgt):
        x = p["emb"][tok]
        for k in range(2):
            x = lstm(x, p[f"W{k}"], p[f"U{k}"], p[f"b{k}"])
        logp = jax.nn.log_softmax(x.reshape(TT * B, H) @ p["Wo"] + p["bo"])
        return -jnp.mean(jnp.take_along_axis(logp, tgt.reshape(-1, 1), axis=1))
    def train(p, tok, tgt):
        c, g = jax.value_and_grad(loss)(p, tok, tgt)
        return c, jax.tree.map(lambda a, b: a - LR * b, p, g)
    train = jax.jit(train, donate_argnums=0)
    steps, costs = [], []
    for _ in range(100):
        t = time.perf_counter()
        c, params = train(params, TOKS[:-1], TOKS[1:])
        costs.append(float(c))
        steps.append(time.perf_counter() - t)
        if len(steps) == 1:
            cpu_first = time.process_time() - c0
    print(json.dumps({"import": t0 - t_start, "steps": steps, "cost0": costs[0],
                      "cost": costs[-1], "cpu_first": cpu_first}))
""")


def _run(src, *argv, env=None):
    e = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    r = subprocess.run([sys.executable, "-c", src, *argv], capture_output=True, text=True,
                       env=e, cwd=ROOT, timeout=1800)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _summary(r):
    """(first result, full speed, 100 steps, per-step) in seconds from the definition."""
    import numpy as np

    steps = r["steps"]
    per_step = float(np.median(steps[50:]))
    elapsed = np.cumsum(steps)
    fast = [k for k, s in enumerate(steps) if s <= 1.25 * per_step]
    full = float(elapsed[fast[0]]) if fast else None
    late = r.get("late_step")
    if late is not None and late < 0.8 * per_step:  # full speed came after the 100 steps
        full, per_step = r["compiled"], late
    return float(elapsed[0]), full, float(elapsed[-1]), per_step


def case4(quick):
    import numpy as np

    runs = {"jax": [], "JAX": [], "numba": []}
    for _ in range(1 if quick else 3):  # interleaved fresh processes
        with tempfile.TemporaryDirectory() as d:
            runs["jax"].append(_run(THEANINE_TRAIN, "JAX", env={"THEANINE_CACHE_DIR": d}))
        runs["JAX"].append(_run(JAX_TRAIN))
        with tempfile.TemporaryDirectory() as d:
            runs["numba"].append(_run(THEANINE_TRAIN, "NUMBA",
                                      env={"THEANINE_CACHE_DIR": d}))
    rows = []
    for name, rs in runs.items():
        rs = sorted(rs, key=lambda r: sum(r["steps"]))
        r = rs[len(rs) // 2]
        first, full, total, step = _summary(r)
        cpu = sorted(x["cpu_first"] for x in rs)[len(rs) // 2]
        ratio = ""
        if name != "JAX":  # per-run CPU-time ratios against the JAX run beside it
            pairs = zip(runs[name], runs["JAX"])
            ratio = f"{np.median([a['cpu_first'] / b['cpu_first'] for a, b in pairs]):.2f}x"
        rows.append([name, f"{r['import']:.2f}", f"{first:.2f}", f"{cpu:.2f}", ratio,
                     f"{full:.2f}" if full is not None else "> 100 steps", f"{total:.2f}",
                     f"{step * 1e3:.1f}", f"{r['cost0']:.4f} -> {r['cost']:.4f}"])
    table("4. 2-layer LSTM LM (B=16, T=50, H=128, vocab 1000), SGD from a cold start: "
          "seconds from the model's definition (median of fresh processes; first result "
          "also in CPU time of the process, which other processes' load does not inflate)",
          ["system", "import", "first result", "first result (CPU)", "CPU / JAX",
           "full speed", "100 steps", "step (ms)", "cost: step 1 -> 100"], rows)


MEM_COMMON = textwrap.dedent("""
    import ctypes, json, os, sys, threading, time
    sys.path.insert(0, os.environ["ROOT"])
    import numpy as np
    B, TT, D, H = 32, 1000, 64, 256
    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    def peak_of(call):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        base = rss(); peak = [base]; stop = [False]
        def sample():
            while not stop[0]:
                peak[0] = max(peak[0], rss()); time.sleep(0.0005)
        th = threading.Thread(target=sample); th.start()
        call()
        stop[0] = True; th.join()
        return (peak[0] - base) / 2 ** 20
    def xla_mib(jitted, args):
        import jax
        with jax.enable_x64(True):
            m = jitted.lower(*args).compile().memory_analysis()
        return (m.temp_size_in_bytes + m.output_size_in_bytes) / 2 ** 20
""")

THEANINE_MEM = MEM_COMMON + textwrap.dedent("""
    from benchmarks.jax_bench import rnn_fn, rnn_args
    f = rnn_fn(True, sys.argv[1])
    args = rnn_args(H, T_=TT, B=B, D=D)
    if sys.argv[1] == "NUMBA":
        f.fn.compile_now()
    f(*args)
    out = {"rss": max(peak_of(lambda: f(*args)) for _ in range(3))}
    if sys.argv[1] == "JAX":
        out["xla"] = xla_mib(list(f.fn.single.variants.values())[0], args)
    print(json.dumps(out))
""")

JAX_MEM = MEM_COMMON + textwrap.dedent("""
    import jax, jax.numpy as jnp
    from benchmarks.jax_bench import rnn_args
    def cost(W, U, b, X, h0):
        def step(h, xt):
            return jnp.tanh(xt @ W + h @ U + b), None
        return jnp.sum(jax.lax.scan(step, h0, X)[0] ** 2)
    f = jax.jit(jax.value_and_grad(cost, argnums=(0, 1, 2)))
    X, W, U, b, h0 = (jnp.asarray(a) for a in rnn_args(H, T_=TT, B=B, D=D))
    args = (W, U, b, X, h0)
    jax.block_until_ready(f(*args))
    out = {"rss": max(peak_of(lambda: jax.block_until_ready(f(*args))) for _ in range(3)),
           "xla": xla_mib(f, args)}
    print(json.dumps(out))
""")


def case5(quick):
    if not os.path.exists("/proc/self/statm"):
        print("\n5. skipped: needs /proc/self/statm")
        return
    env = {"ROOT": ROOT}
    got = {"jax": _run(THEANINE_MEM, "JAX", env=env), "JAX": _run(JAX_MEM, env=env),
           "numba": _run(THEANINE_MEM, "NUMBA", env=env)}
    rows = [[k, f"{v['xla']:.1f}" if "xla" in v else "-", f"{v['rss']:.1f}"]
            for k, v in got.items()]
    table("5. peak memory of the RNN forward+BPTT, T=1000, B=32, D=64, H=256, float32 (MiB)",
          ["system", "XLA temporaries + outputs", "resident above baseline"], rows)
