"""Convolution and pooling: theanine's compiled functions against SciPy loops, NumPy and torch.

    python benchmarks/conv_pool.py              # Markdown table on stdout
    python benchmarks/conv_pool.py --quick      # smaller sizes, fewer repeats

Each case compiles one theanine function (forward, or forward + both gradients) and times
it against:

- **SciPy loop**: ``scipy.signal.correlate`` of each image with each filter (a Python
  loop over batch x filters; valid mode, channels summed by the 3-d correlation), the
  straightforward way to convolve with SciPy. Forward only.
- **NumPy**: for pooling, the reshape-and-reduce idiom (non-overlapping windows only).
- **torch**: ``torch.nn.functional.conv2d`` / ``max_pool2d`` / ``avg_pool2d`` (with
  autograd for the gradient rows), when torch is installed; skipped otherwise.

Results are checked against each other before timing. Times are the median of --repeat
runs, in milliseconds. BLAS and torch use one thread so that the comparison is per core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.tensor.nnet.conv import conv2d  # noqa: E402
from theanine.tensor.signal.pool import pool_2d  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch is optional
    torch = None


def timeit(fn, repeat):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def scipy_conv(x, w):
    B, F = x.shape[0], w.shape[0]
    out = np.empty((B, F) + tuple(np.array(x.shape[2:]) - w.shape[2:] + 1), dtype=x.dtype)
    for b in range(B):
        for f in range(F):
            out[b, f] = scipy.signal.correlate(x[b], w[f], mode="valid")[0]
    return out


def conv_cases(quick):
    sizes = [((16, 3, 32, 32), (16, 3, 5, 5)), ((16, 32, 16, 16), (32, 32, 3, 3))]
    if not quick:
        sizes.append(((8, 64, 32, 32), (64, 64, 3, 3)))
    return sizes


def bench_conv(rng, repeat, quick, rows):
    x4, w4 = T.ftensor4("x"), T.ftensor4("w")
    y = conv2d(x4, w4, filter_flip=False)  # cross-correlation, as torch and scipy.correlate
    fwd = theano.function([x4, w4], y)
    gx, gw = T.grad(T.sum(y * y), [x4, w4])
    bwd = theano.function([x4, w4], [gx, gw])
    for xs, ws in conv_cases(quick):
        x = rng.standard_normal(xs).astype("float32")
        w = rng.standard_normal(ws).astype("float32")
        rows.extend(conv_case(fwd, bwd, x, w, repeat))


def conv_case(fwd, bwd, x, w, repeat):
    ref = scipy_conv(x, w)
    np.testing.assert_allclose(fwd(x, w), ref, rtol=1e-3, atol=1e-3)
    label = f"conv2d {x.shape} * {w.shape}"
    t_scipy = timeit(lambda: scipy_conv(x, w), max(3, repeat // 4))
    t_torch = tb_torch = None
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        np.testing.assert_allclose(torch.nn.functional.conv2d(tx, tw).numpy(), ref,
                                   rtol=1e-3, atol=1e-3)
        with torch.no_grad():
            t_torch = timeit(lambda: torch.nn.functional.conv2d(tx, tw), repeat)

        def torch_bwd():
            a = tx.clone().requires_grad_()
            b = tw.clone().requires_grad_()
            (torch.nn.functional.conv2d(a, b) ** 2).sum().backward()
            return a.grad, b.grad

        ga, gb = torch_bwd()
        ours = bwd(x, w)
        np.testing.assert_allclose(ours[0], ga.numpy(), rtol=1e-2, atol=1e-1)
        np.testing.assert_allclose(ours[1], gb.numpy(), rtol=1e-2, atol=1e-1)
        tb_torch = timeit(torch_bwd, repeat)
    return [(label, "forward", timeit(lambda: fwd(x, w), repeat), t_scipy, t_torch),
            (label, "forward + both grads", timeit(lambda: bwd(x, w), repeat), None, tb_torch)]


def bench_pool(rng, repeat, quick, rows):
    shape = (16, 32, 32, 32) if quick else (32, 64, 32, 32)
    x = rng.standard_normal(shape).astype("float32")
    for mode, ws, stride, pad in [("max", (2, 2), None, (0, 0)),
                                  ("average_inc_pad", (2, 2), None, (0, 0)),
                                  ("max", (3, 3), (2, 2), (1, 1))]:
        rows.extend(pool_case(x, mode, ws, stride, pad, repeat))


def pool_case(x, mode, ws, stride, pad, repeat):
    x4 = T.ftensor4("x")
    y = pool_2d(x4, ws, ignore_border=True, stride=stride, pad=pad, mode=mode)
    fwd = theano.function([x4], y)
    bwd = theano.function([x4], T.grad(T.sum(y * y), x4))
    label = f"pool_2d {mode} ws={ws} stride={stride or ws} pad={pad} {x.shape}"
    t_np = None
    if stride is None:
        B, C, H, W = x.shape
        reduce = np.max if mode == "max" else np.mean

        def np_pool():
            return reduce(x.reshape(B, C, H // 2, 2, W // 2, 2), axis=(3, 5))

        np.testing.assert_allclose(fwd(x), np_pool(), rtol=1e-5, atol=1e-6)
        t_np = timeit(np_pool, repeat)
    t_torch = tb_torch = None
    if torch is not None:
        tx = torch.from_numpy(x)
        tfn = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d

        def tpool(a):
            return tfn(a, ws, stride or ws, pad)

        np.testing.assert_allclose(fwd(x), tpool(tx).numpy(), rtol=1e-5, atol=1e-6)
        with torch.no_grad():
            t_torch = timeit(lambda: tpool(tx), repeat)

        def torch_bwd():
            a = tx.clone().requires_grad_()
            (tpool(a) ** 2).sum().backward()
            return a.grad

        np.testing.assert_allclose(bwd(x), torch_bwd().numpy(), rtol=1e-5, atol=1e-5)
        tb_torch = timeit(torch_bwd, repeat)
    return [(label, "forward", timeit(lambda: fwd(x), repeat), t_np, t_torch),
            (label, "forward + grad", timeit(lambda: bwd(x), repeat), None, tb_torch)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeat = 5 if args.quick else args.repeat
    rng = np.random.default_rng(0)
    rows = []
    bench_conv(rng, repeat, args.quick, rows)
    bench_pool(rng, repeat, args.quick, rows)

    def fmt(t):
        return "–" if t is None else f"{t:.2f}"

    print(f"torch: {torch.__version__ if torch else 'not installed'}, numpy {np.__version__}, "
          "float32, 1 thread; times in ms (median)\n")
    print("| case | computes | theanine | SciPy loop / NumPy | torch |")
    print("|---|---|---:|---:|---:|")
    for label, what, ours, base, tt in rows:
        print(f"| {label} | {what} | {fmt(ours)} | {fmt(base)} | {fmt(tt)} |")


if __name__ == "__main__":
    main()
