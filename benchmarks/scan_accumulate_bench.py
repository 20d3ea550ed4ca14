"""Gradients of weights used at every step (rewrites/scan_accumulate.py): one product
after the loop instead of an outer product per step.

    python benchmarks/scan_accumulate_bench.py            # Markdown tables on stdout
    python benchmarks/scan_accumulate_bench.py --quick    # fewer rounds

Cases (float64, one thread):
- issue 16's case: h_t = tanh(x_t W + h_{t-1} U), y_t = h_t V inside the loop, 20 steps,
  H = 100, V 100 x 9002; the gradient of sum(y**2) with respect to V (and U);
- the book's chapter 4 simple RNN language model (WildML's): one sentence of 20 word
  indices, s_t = tanh(E[x_t] + s_{t-1} W), o_t = softmax(s_t V), vocabulary 9002,
  hidden 100; cross-entropy, gradients for E, W and V (BPTT).
Systems: theanine FAST_RUN on py and numba, each with and without the
scan_accumulate rewrite step (Mode(excluding=['scan_accumulate'])), against the same
computation in NumPy (forward loop, then one product per weight gradient). Results
are checked equal. Median of interleaved rounds, this process.
"""

from __future__ import annotations

import argparse
import os
import sys

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from benchmarks.scan_bench import interleaved, table  # noqa: E402
from theanine.backends.numba import linker  # noqa: E402

STEPS, H, VOCAB = 20, 100, 9002


def issue_case(rng):
    x = T.dmatrix("x")
    W, U, V = (T.dmatrix(n) for n in "WUV")

    def step(x_t, h):
        h = T.tanh(T.dot(x_t, W) + T.dot(h, U))
        return h, T.dot(h, V)

    (hs, ys), _ = theano.scan(step, sequences=[x], outputs_info=[T.zeros(H), None])
    cost = (ys ** 2).sum()
    outs = T.grad(cost, [V, U])
    args = [rng.normal(size=(STEPS, H)), rng.normal(size=(H, H)) * 0.1,
            rng.normal(size=(H, H)) * 0.1, rng.normal(size=(H, VOCAB)) * 0.01]

    def numpy_fn(xv, w, u, v):
        h, hs = np.zeros(H), []
        for t in range(STEPS):
            h = np.tanh(xv[t] @ w + h @ u)
            hs.append(h)
        hs = np.array(hs)
        g_y = 2 * (hs @ v)
        g_v = hs.T @ g_y
        g_h = g_y @ v.T
        g_u, carry = np.zeros_like(u), np.zeros(H)
        for t in reversed(range(STEPS)):
            dz = (g_h[t] + carry) * (1 - hs[t] ** 2)
            g_u += np.outer(hs[t - 1] if t else np.zeros(H), dz)
            carry = dz @ u.T
        return g_v, g_u

    return [x, W, U, V], outs, args, numpy_fn


def chapter4_case(rng):
    idx = T.ivector("idx")
    target = T.ivector("target")
    E, W, V = T.dmatrix("E"), T.dmatrix("W"), T.dmatrix("V")

    def step(i, s):
        s = T.tanh(E[i] + T.dot(s, W))
        return s, T.nnet.softmax(T.dot(s, V).dimshuffle("x", 0))[0]

    (ss, os_), _ = theano.scan(step, sequences=[idx], outputs_info=[T.zeros(H), None])
    cost = -T.log(os_[T.arange(STEPS), target]).sum()
    outs = [cost] + T.grad(cost, [E, W, V])
    args = [rng.integers(0, VOCAB, STEPS).astype("int32"),
            rng.integers(0, VOCAB, STEPS).astype("int32"),
            rng.normal(size=(VOCAB, H)) * 0.1, rng.normal(size=(H, H)) * 0.1,
            rng.normal(size=(H, VOCAB)) * 0.1]

    def numpy_fn(iv, tv, e, w, v):
        s, ss = np.zeros(H), []
        for t in range(STEPS):
            s = np.tanh(e[iv[t]] + s @ w)
            ss.append(s)
        ss = np.array(ss)
        logits = ss @ v
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        cost = -np.log(p[np.arange(STEPS), tv]).sum()
        g_logits = p
        g_logits[np.arange(STEPS), tv] -= 1
        g_v = ss.T @ g_logits
        g_s = g_logits @ v.T
        g_e, g_w, carry = np.zeros_like(e), np.zeros_like(w), np.zeros(H)
        dzs = np.empty((STEPS, H))
        for t in reversed(range(STEPS)):
            dz = (g_s[t] + carry) * (1 - ss[t] ** 2)
            dzs[t] = dz
            carry = dz @ w.T
        np.add.at(g_e, iv, dzs)
        g_w = np.vstack([np.zeros((1, H)), ss[:-1]]).T @ dzs
        return cost, g_e, g_w, g_v

    return [idx, target, E, W, V], outs, args, numpy_fn


def run(name, case, rounds):
    rng = np.random.default_rng(0)
    inputs, outs, args, numpy_fn = case(rng)
    systems, results = {"NumPy": lambda: numpy_fn(*args)}, {}
    ref = numpy_fn(*args)
    for backend in ("py", "numba"):
        for label, excl in (("", ()), (" no scan_accumulate", ("scan_accumulate",))):
            mode = theano.Mode(linker=backend, optimizer="fast_run", excluding=excl)
            with linker.policy("sync"):
                f = theano.function(inputs, outs, mode=mode)
            got = f(*args)
            for a, b in zip(got, ref):
                np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
            systems[f"theanine {backend}{label}"] = (lambda f=f: f(*args))
    times = interleaved(systems, rounds)
    base = times["NumPy"]
    rows = [(k, f"{v * 1e3:.2f}", f"{v / base:.2f}x") for k, v in times.items()]
    table(name, ["system", "ms", "vs NumPy"], rows)
    results.update(times)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    opts = ap.parse_args()
    rounds = 5 if opts.quick else 21
    run(f"issue 16: gradient of V ({H}x{VOCAB}) and U, {STEPS} steps", issue_case, rounds)
    run(f"chapter 4 simple RNN LM: vocabulary {VOCAB}, hidden {H}, {STEPS} words, "
        "cost and gradients", chapter4_case, rounds)


if __name__ == "__main__":
    main()
