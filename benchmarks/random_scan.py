"""Random draws inside a loop: an RNN with a fresh dropout mask at every step,
h_t = tanh(x_t W + h_{t-1} U) * mask_t / 0.8 (mask ~ Bernoulli(0.8)), forward and the
gradient of sum(h_T**2) with respect to W and U; B=32, T=100, D=H=64, float32.

    python benchmarks/random_scan.py            # Markdown table on stdout
    python benchmarks/random_scan.py --quick    # fewer runs

Systems: theanine with MRG_RandomStreams (state in an int32 tensor: on numba the
loop, draws included, is native code) on numba and py; theanine with RandomStreams
(NumPy generators: the loop runs on NumPy); a hand-written NumPy loop with its
backward pass (masks from a NumPy Generator); JAX (jax.random.bernoulli inside
lax.scan, jit) when installed. One process, interleaved, median of the rounds
after warm-up, one thread each. theanine numba and py are checked equal (same MRG
numbers); the others draw different numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from benchmarks.scan_bench import interleaved  # noqa: E402
from theanine.sandbox.rng_mrg import MRG_RandomStreams  # noqa: E402
from theanine.tensor.shared_randomstreams import RandomStreams  # noqa: E402

B, TS, D, H, KEEP = 32, 100, 64, 64, 0.8


def theanine_fn(streams, linker):
    X = T.tensor3("X", dtype="float32")
    W, U = T.matrix("W", dtype="float32"), T.matrix("U", dtype="float32")

    def step(x, h):
        mask = streams.binomial(size=(B, H), p=KEEP, dtype="float32")
        return T.tanh(T.dot(x, W) + T.dot(h, U)) * mask / np.float32(KEEP)

    h, upd = theano.scan(step, sequences=X, outputs_info=T.zeros((B, H), dtype="float32"))
    cost = T.sum(h[-1] ** 2)
    f = theano.function([X, W, U], [cost, *T.grad(cost, [W, U])], updates=upd,
                        mode=theano.Mode(linker=linker))
    if linker == "numba" and not f.fn.compile_now():
        raise RuntimeError("a numba kernel failed to compile")
    return f


def numpy_fn(rng):
    def run(X, W, U):
        hs, masks, acts = [np.zeros((B, H), np.float32)], [], []
        for t in range(TS):
            a = np.tanh(X[t] @ W + hs[-1] @ U)
            m = (rng.random((B, H)) < KEEP).astype(np.float32) / np.float32(KEEP)
            acts.append(a)
            masks.append(m)
            hs.append(a * m)
        dh = 2 * hs[-1]
        dW, dU = np.zeros_like(W), np.zeros_like(U)
        for t in range(TS - 1, -1, -1):
            da = dh * masks[t] * (1 - acts[t] ** 2)
            dW += X[t].T @ da
            dU += hs[t].T @ da
            dh = da @ U.T
        return float(np.sum(hs[-1] ** 2)), dW, dU

    return run


def jax_fn():
    import jax
    import jax.numpy as jnp

    def loss(W, U, X, key):
        def step(carry, x):
            h, key = carry
            key, sub = jax.random.split(key)
            m = jax.random.bernoulli(sub, KEEP, (B, H)).astype(jnp.float32) / KEEP
            h = jnp.tanh(x @ W + h @ U) * m
            return (h, key), None

        (h, _), _ = jax.lax.scan(step, (jnp.zeros((B, H), jnp.float32), key), X)
        return jnp.sum(h ** 2)

    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    return vg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5 rounds instead of 15")
    rounds = 5 if ap.parse_args().quick else 15
    rng = np.random.default_rng(0)
    X = rng.normal(size=(TS, B, D)).astype(np.float32)
    W = (rng.normal(size=(D, H)) / np.sqrt(D)).astype(np.float32)
    U = (rng.normal(size=(H, H)) / np.sqrt(H)).astype(np.float32)
    systems, check = {}, {}
    for linker in ["numba", "py"] if importlib.util.find_spec("numba") else ["py"]:
        f = theanine_fn(MRG_RandomStreams(1), linker)
        check[linker] = f(X, W, U)
        systems[f"theanine {linker}, MRG"] = lambda f=f: f(X, W, U)
    if "numba" in check:
        for a, b in zip(check["numba"], check["py"]):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)
        g = theanine_fn(RandomStreams(1), "numba")
        systems["theanine numba, RandomStreams"] = lambda: g(X, W, U)
    npf = numpy_fn(np.random.default_rng(1))
    systems["NumPy loop + BPTT"] = lambda: npf(X, W, U)
    if importlib.util.find_spec("jax"):
        import jax

        vg, key = jax_fn(), jax.random.PRNGKey(0)
        jx = [jax.device_put(a) for a in (W, U, X)]
        systems["JAX lax.scan"] = lambda: jax.block_until_ready(vg(*jx, key))
    t = interleaved(systems, rounds)
    best = min(v for k, v in t.items() if not k.startswith("theanine"))
    print(f"RNN with a dropout mask per step, B={B} T={TS} H={H}, forward + gradient; "
          f"median of {rounds} runs, one thread (numpy {np.__version__}"
          + (", jax " + __import__("jax").__version__ if "JAX lax.scan" in t else "")
          + ")\n")
    print("| system | ms | / best baseline |")
    print("|---|---:|---:|")
    for k, v in t.items():
        print(f"| {k} | {v * 1e3:.3g} | {v / best:.2f}x |")


if __name__ == "__main__":
    main()
