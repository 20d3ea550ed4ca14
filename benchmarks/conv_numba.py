"""The numba backend's convolution and pooling kernels against the py backend (NumPy).

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/conv_numba.py [--repeat N]

One function per op (a typical CNN layer: batch 32, 16 -> 32 channels, 28x28, 3x3
filters; 2x2 pooling of 32x32x28x28), compiled for each backend; times are the median
and the minimum of --repeat calls (the backends alternate; on a loaded machine the
minimum is the steadier figure), in milliseconds, with torch (one thread) as a
reference when installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.numba import linker, ops_pool  # noqa: E402, F401 - ops_pool registers
from theanine.tensor.nnet import conv  # noqa: E402
from theanine.tensor.signal import pool  # noqa: E402

try:
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(1)
except ImportError:
    torch = None


def cases(dtype):
    rng = np.random.default_rng(0)
    x, gy = T.tensor4("x", dtype=dtype), T.tensor4("gy", dtype=dtype)
    w = T.tensor4("w", dtype=dtype)
    xv = rng.standard_normal((32, 16, 28, 28)).astype(dtype)
    wv = rng.standard_normal((32, 16, 3, 3)).astype(dtype)
    gv = rng.standard_normal((32, 32, 28, 28)).astype(dtype)
    kw = dict(border_mode="half", filter_flip=False)
    pv = gv
    pooled = np.ascontiguousarray(gv[:, :, ::2, ::2])
    mx = pool.pool_2d(gy, ws=(2, 2), ignore_border=True)
    tx = torch and [torch.from_numpy(a) for a in (xv, wv, gv, pv, pooled)]
    yield ("conv2d fwd", [x, w], conv.conv2d(x, w, **kw), [xv, wv],
           tx and (lambda: tf.conv2d(tx[0], tx[1], padding=1)))
    yield ("conv2d grad inputs", [gy, w],
           conv.conv2d_grad_wrt_inputs(gy, w, (32, 16, 28, 28), **kw), [gv, wv],
           tx and (lambda: torch.nn.grad.conv2d_input(xv.shape, tx[1], tx[2], padding=1)))
    yield ("conv2d grad weights", [x, gy],
           conv.conv2d_grad_wrt_weights(x, gy, (32, 16, 3, 3), **kw), [xv, gv],
           tx and (lambda: torch.nn.grad.conv2d_weight(tx[0], wv.shape, tx[2], padding=1)))
    yield ("max pool 2x2", [gy], mx, [pv], tx and (lambda: tf.max_pool2d(tx[3], 2)))
    yield ("avg pool 2x2", [gy], pool.pool_2d(gy, ws=(2, 2), ignore_border=True,
                                              mode="average_exc_pad"), [pv],
           tx and (lambda: tf.avg_pool2d(tx[3], 2)))
    yield ("max pool + grad", [gy], T.grad((mx * pooled).sum(), gy), [pv], None)
    yield ("avg pool + grad", [gy], T.grad((pool.pool_2d(gy, ws=(2, 2), ignore_border=True,
                                                       mode="average_exc_pad") * pooled).sum(),
                                         gy), [pv], None)


def bench(repeat, dtype):
    print(f"\n{dtype}: ms per call, median (min)\n")
    print("| op | py | numba | py / numba (min) | torch (min) |")
    print("|---|---:|---:|---:|---:|")
    for name, ins, out, args, ref in cases(dtype):
        fp = theano.function(ins, out, mode=theano.Mode(linker="py", optimizer="fast_run"))
        with linker.policy("sync"):
            fn = theano.function(ins, out, mode=theano.Mode(linker="numba",
                                                            optimizer="fast_run"))
        np.testing.assert_allclose(fn(*args), fp(*args), rtol=1e-3, atol=1e-3)
        tp, tn = [], []
        for _ in range(repeat):
            for f, ts in ((fp, tp), (fn, tn)):
                t0 = time.perf_counter()
                f(*args)
                ts.append(time.perf_counter() - t0)
        a, b = statistics.median(tp) * 1e3, statistics.median(tn) * 1e3
        ma, mb = min(tp) * 1e3, min(tn) * 1e3
        tt = "-"
        if ref is not None:
            ref()
            tr = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                ref()
                tr.append(time.perf_counter() - t0)
            tt = f"{min(tr) * 1e3:.2f}"
        print(f"| {name} | {a:.2f} ({ma:.2f}) | {b:.2f} ({mb:.2f}) | {a / b:.2f} ({ma / mb:.2f})"
              f" | {tt} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--dtype", default="float32")
    a = p.parse_args()
    bench(a.repeat, a.dtype)
