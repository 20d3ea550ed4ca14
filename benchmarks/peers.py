"""Peer baselines for scan_bench.py: JAX, torch and PyTensor, each when installed.

Every builder returns a callable taking NumPy arrays (converted once, outside the
timed call, as a user holding device arrays would) and returning NumPy-comparable
results, or None when the peer is not installed. JAX runs `jax.jit` of `lax.scan`
(forward+BPTT via `jax.grad`); torch runs its eager loop with autograd (and
`torch.compile` is not used: it needs a C compiler toolchain and minutes here);
PyTensor runs `pytensor.scan` in its default mode. All use one thread.
"""

from __future__ import annotations

import importlib.util
import os

from benchmarks import lstm_lm

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")


def installed(name):
    return importlib.util.find_spec(name) is not None


def versions():
    out = []
    for name in ("jax", "torch", "pytensor"):
        if installed(name):
            mod = __import__(name)
            out.append(f"{name} {mod.__version__}")
    return out


# -- 1. scalar recurrence x_t = c * x_{t-1} + a_t ------------------------------------
def scalar_recurrence(peer):
    if peer == "jax" and installed("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        @jax.jit
        def run(a, c):
            def step(h, at):
                h = c * h + at
                return h, h

            return jax.lax.scan(step, jnp.zeros((), a.dtype), a)[1]

        def call(a, c, run=run):
            return run(a, c).block_until_ready()

        return _on_device(call, jax.device_put)
    return None


# -- 2. map tanh(x) * 2 ---------------------------------------------------------------
def map_tanh(peer):
    if peer == "jax" and installed("jax"):
        import jax
        import jax.numpy as jnp

        run = jax.jit(lambda X: jnp.tanh(X) * 2)
        return _on_device(lambda X: run(X).block_until_ready(), jax.device_put)
    if peer == "torch" and installed("torch"):
        import torch

        torch.set_num_threads(1)
        return _on_device(lambda X: torch.tanh(X) * 2, torch.from_numpy)
    return None


# -- 3. vanilla RNN h_t = tanh(x_t W + h_{t-1} U + b), cost sum(h_T ** 2) --------------
def rnn(peer, grad):
    if peer == "jax" and installed("jax"):
        return _rnn_jax(grad)
    if peer == "torch" and installed("torch"):
        return _rnn_torch(grad)
    return None


def _rnn_jax(grad):
    import jax
    import jax.numpy as jnp

    def cost(W, U, b, X, h0):
        def step(h, xt):
            h = jnp.tanh(xt @ W + h @ U + b)
            return h, None

        hT, _ = jax.lax.scan(step, h0, X)
        return jnp.sum(hT ** 2)

    if grad:
        run = jax.jit(jax.value_and_grad(cost, argnums=(0, 1, 2)))

        def call(X, W, U, b, h0):
            v, gs = run(W, U, b, X, h0)
            return [v.block_until_ready()] + [g.block_until_ready() for g in gs]
    else:
        run = jax.jit(cost)

        def call(X, W, U, b, h0):
            return [run(W, U, b, X, h0).block_until_ready()]

    return _on_device(call, jax.device_put)


def _rnn_torch(grad):
    import torch

    torch.set_num_threads(1)

    def call(X, W, U, b, h0):
        params = (W, U, b)
        if grad:
            for p in params:
                p.grad = None
                p.requires_grad_(True)
        with torch.set_grad_enabled(grad):
            h = h0
            for t in range(X.shape[0]):
                h = torch.tanh(X[t] @ W + h @ U + b)
            c = (h ** 2).sum()
            if not grad:
                return [c]
            c.backward()
        return [c.detach()] + [p.grad for p in params]

    return _on_device(call, torch.from_numpy)


def _on_device(call, put):
    """call(*arrays) with the NumPy arguments converted once by `put`, cached by id."""
    cache = {}

    def run(*args):
        key = tuple(id(a) for a in args)
        if key not in cache:
            cache.clear()
            cache[key] = (args, [put(a) if hasattr(a, "shape") else a for a in args])
        return call(*cache[key][1])

    run.raw = call  # without the conversion: JAX converts NumPy arguments at each call
    return run


def to_numpy(values):
    out = []
    for v in values:
        if hasattr(v, "detach"):
            v = v.detach()
        out.append(__import__("numpy").asarray(v))
    return out


# -- 4. 2-layer LSTM language model with its gradient: time to first result ---------
JAX_LSTM_SCRIPT = """
import json, time
t_start = time.perf_counter()
import numpy as np
import jax, jax.numpy as jnp
t_import = time.perf_counter()
""" + lstm_lm.JAX + """
f = jax.jit(jax.value_and_grad(loss))
toks = jnp.asarray(rng.integers(0, V, size=(TT, B)).astype("int32"))
v, g = f(params, toks, toks)
jax.block_until_ready(g)
t_first = time.perf_counter()
t = time.perf_counter()
jax.block_until_ready(f(params, toks, toks))
second = time.perf_counter() - t
print(json.dumps({"import": t_import - t_start, "first": t_first - t_import, "second": second,
                  "cost": float(v)}))
"""


def lstm_first_result(peer):
    """The source of a script printing JSON {import, first, second} for `peer`, or None."""
    if peer == "jax" and installed("jax"):
        return JAX_LSTM_SCRIPT
    return None


# -- 5. peak memory of the RNN forward+BPTT at T=1000, H=256 --------------------------
JAX_MEM_SCRIPT = """
import json, os, threading, time
import numpy as np
import jax, jax.numpy as jnp
B, TT, D, H = 32, 1000, 64, 256
rng = np.random.default_rng(0)
def cost(W, U, b, X, h0):
    def step(h, xt):
        return jnp.tanh(xt @ W + h @ U + b), None
    return jnp.sum(jax.lax.scan(step, h0, X)[0] ** 2)
f = jax.jit(jax.value_and_grad(cost, argnums=(0, 1, 2)))
args = [jnp.asarray(a) for a in (
    (rng.normal(size=(D, H)) / 8).astype("float32"),
    (rng.normal(size=(H, H)) / 16).astype("float32"), np.zeros(H, "float32"),
    rng.normal(size=(TT, B, D)).astype("float32"), np.zeros((B, H), "float32"))]
f = f.lower(*args).compile()  # compiled ahead: the first run below allocates its
def rss():                       # buffers (XLA keeps them pooled for later runs)
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
base = rss(); peak = [base]; stop = [False]
def sample():
    while not stop[0]:
        peak[0] = max(peak[0], rss()); time.sleep(0.0005)
th = threading.Thread(target=sample); th.start()
jax.block_until_ready(f(*args))
stop[0] = True; th.join()
print(json.dumps({"peak_mib": (peak[0] - base) / 2 ** 20}))
"""


def rnn_memory(peer):
    """The source of a script printing JSON {peak_mib} for `peer`, or None."""
    if peer == "jax" and installed("jax"):
        return JAX_MEM_SCRIPT
    return None
