"""Rewrite speed: time to rewrite graphs with the FAST_RUN pipeline.

    python benchmarks/rewrite_speed.py            # all cases, Markdown tables on stdout
    python benchmarks/rewrite_speed.py --quick    # 1k and 10k nodes only, fewer runs

Cases:
1. elementwise graphs of 1k, 10k and 100k nodes (a chain mixing tanh, exp, mul, add,
   sub, x*1, log(1+x), with a shared input): seconds and microseconds per node;
   linear scaling means a constant time per node.
2. a 2-layer LSTM language model with its gradient (B=16, T=50, H=128, vocab 1000):
   with scan (the outer graph, then also the scan bodies, which the numba backend
   rewrites with the same pipeline) and unrolled over the 50 steps.

Each time is the median of several runs of copying the graph and running the
pipeline (what theano.function does between building the graph and linking it),
measured as process CPU time so that load from other processes counts less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.graph.rewrite import RewriteGraph, run_pipeline  # noqa: E402
from theanine.graph.traversal import toposort  # noqa: E402
from theanine.rewrites.pipeline import FAST_RUN  # noqa: E402


def rewrite_time(inputs, outputs, runs):
    """Median CPU seconds to copy and rewrite the graph; and its size before/after."""
    times, after = [], 0
    for _ in range(runs):
        t = time.process_time()
        g = run_pipeline(RewriteGraph(inputs, outputs), FAST_RUN)
        times.append(time.process_time() - t)
        after = len(g.nodes)
    return statistics.median(times), after


def elementwise_graph(n):
    """About n elementwise nodes: a chain cycling through seven small expressions."""
    x, w = T.vector("x"), T.vector("w")
    steps = [(1, lambda y: T.tanh(y)), (1, lambda y: y * w), (1, lambda y: y + x),
             (2, lambda y: T.exp(-y)), (1, lambda y: y * 1), (2, lambda y: T.log(1 + y)),
             (1, lambda y: y - w)]  # (nodes added, step)
    y, size, k = x, 0, 0
    while size < n:
        added, fn = steps[k % len(steps)]
        y, size, k = fn(y), size + added, k + 1
    return [x, w], [y]


def lstm_lm(unrolled, B=16, TT=50, H=128, V=1000):
    """(inputs, outputs): cost and gradients of a 2-layer LSTM language model."""
    rng = np.random.default_rng(0)

    def p(*s):
        return theano.shared((rng.normal(size=s) * 0.1).astype("float32"))

    emb = p(V, H)
    layers = [(p(H, 4 * H), p(H, 4 * H), p(4 * H)) for _ in range(2)]
    Wo, bo = p(H, V), p(V)
    tok, tgt = T.imatrix("tok"), T.imatrix("tgt")
    x = emb[tok]  # (TT, B, H)

    def step(xt, h, c, W, U, b):
        z = T.dot(xt, W) + T.dot(h, U) + b
        i, f, o = (T.nnet.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
        g = T.tanh(z[:, 3 * H:])
        c = f * c + i * g
        return o * T.tanh(c), c

    for W, U, b in layers:
        h0 = T.zeros((x.shape[1], H), dtype="float32")
        if unrolled:
            h, c, hs = h0, h0, []
            for t in range(TT):
                h, c = step(x[t], h, c, W, U, b)
                hs.append(h)
            x = T.stack(hs)
        else:
            (x, _), _ = theano.scan(step, sequences=x, outputs_info=[h0, h0],
                                    non_sequences=[W, U, b])
    logits = T.dot(x.reshape((TT * B, H)), Wo) + bo
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), tgt.flatten()).mean()
    params = [emb, Wo, bo] + [v for layer in layers for v in layer]
    grads = theano.grad(cost, params)
    return [tok, tgt] + params, [cost] + grads


def scan_bodies(outputs):
    from theanine.scan.op import Scan

    return [n.op for n in toposort(outputs) if isinstance(n.op, Scan)]


def case1(quick, runs):
    print("\n### 1. Elementwise graphs\n")
    print("| nodes | after | seconds | µs per node |")
    print("|---:|---:|---:|---:|")
    for n in (1_000, 10_000) if quick else (1_000, 10_000, 100_000):
        ins, outs = elementwise_graph(n)
        size = len(toposort(outs))
        t, after = rewrite_time(ins, outs, 1 if n >= 100_000 else runs)
        print(f"| {size:,} | {after:,} | {t:.3f} | {t / size * 1e6:.1f} |")


def case2(runs):
    print("\n### 2. 2-layer LSTM LM with gradient (B=16, T=50, H=128, vocab 1000)\n")
    print("| graph | nodes | after | seconds |")
    print("|---|---:|---:|---:|")
    ins, outs = lstm_lm(unrolled=False)
    t, after = rewrite_time(ins, outs, runs)
    print(f"| scan: outer graph | {len(toposort(outs)):,} | {after:,} | {t:.3f} |")
    total, n_in, n_after = t, 0, 0
    for op in scan_bodies(outs):
        ti, ai = rewrite_time(op.inner_inputs, op.inner_outputs, runs)
        total += ti
        n_in += len(toposort(op.inner_outputs, stop_at=op.inner_inputs))
        n_after += ai
    print(f"| scan: + the {len(scan_bodies(outs))} loop bodies | {n_in:,} | {n_after:,} | "
          f"{total:.3f} |")
    ins, outs = lstm_lm(unrolled=True)
    t, after = rewrite_time(ins, outs, max(1, runs // 2))
    print(f"| unrolled over the 50 steps | {len(toposort(outs)):,} | {after:,} | {t:.3f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = 3 if args.quick else 5
    case1(args.quick, runs)
    case2(runs)


if __name__ == "__main__":
    main()
