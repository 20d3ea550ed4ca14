"""jacobian / hessian benchmark: the rows batched into one pass (FAST_RUN) against the
loop over rows (Theano's scan, forced by excluding the rewrite that batches it) and
against jax.jacrev / jax.hessian under jax.jit when JAX is installed.

    python benchmarks/jacobian_bench.py            # Markdown table on stdout
    python benchmarks/jacobian_bench.py --quick    # fewer runs

Cases:
- J = jacobian(tanh(W x + b), x) with W (n, n), for n = 10, 100, 500;
- H = hessian of a small MLP's loss with respect to all its parameters as one vector
  theta (D=10 inputs, H=20 hidden tanh units, O=3 softmax outputs: 283 parameters),
  sum over a batch of 16 examples of the cross-entropy.

theanine runs on each backend (py, and numba with compiled kernels: f.fn.compile_now()
before timing). Every system runs in one process, interleaved (one call of each per
round), and the table gives the median of the rounds after warm-up calls, in
milliseconds; BLAS, XLA and numba use one thread. Results are checked against each
other before timing.
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

LOOP_EXCLUDES = ["scan_hoist_sequences"]
D, H, O, B = 10, 20, 3, 16


def have(name):
    return importlib.util.find_spec(name) is not None


def compiled(inputs, output, linker, loop):
    mode = theano.Mode(linker=linker, excluding=LOOP_EXCLUDES if loop else ())
    f = theano.function(inputs, output, mode=mode)
    if linker == "numba" and not f.fn.compile_now():
        raise RuntimeError("a numba kernel failed to compile")
    return f


def tanh_case(n, rng):
    x, W, b = T.dvector("x"), T.dmatrix("W"), T.dvector("b")
    J = theano.gradient.jacobian(T.tanh(T.dot(W, x) + b), x)
    args = [rng.normal(size=n), rng.normal(size=(n, n)) / np.sqrt(n), rng.normal(size=n)]

    def jax_fn():
        import jax
        import jax.numpy as jnp

        jac = jax.jit(jax.jacrev(lambda x, W, b: jnp.tanh(W @ x + b)))
        return jac

    return f"jacobian tanh(W x + b), n={n}", [x, W, b], J, args, jax_fn


def _mlp_parts(theta, lib):
    k = 0
    parts = []
    for shape in ((D, H), (H,), (H, O), (O,)):
        size = int(np.prod(shape))
        parts.append(lib.reshape(theta[k:k + size], shape))
        k += size
    return parts


def mlp_case(rng):
    theta, X, Y = T.dvector("theta"), T.dmatrix("X"), T.dmatrix("Y")
    W1, b1, W2, b2 = _mlp_parts(theta, T)
    p = T.nnet.softmax(T.dot(T.tanh(T.dot(X, W1) + b1), W2) + b2)
    Hm = theano.gradient.hessian(-T.sum(Y * T.log(p)), theta)
    n = D * H + H + H * O + O
    labels = rng.integers(0, O, size=B)
    args = [rng.normal(size=n) * 0.3, rng.normal(size=(B, D)), np.eye(O)[labels]]

    def jax_fn():
        import jax
        import jax.numpy as jnp

        def loss(theta, X, Y):
            W1, b1, W2, b2 = _mlp_parts(theta, jnp)
            return -jnp.sum(Y * jax.nn.log_softmax(jnp.tanh(X @ W1 + b1) @ W2 + b2))

        return jax.jit(jax.hessian(loss))

    return f"hessian of an MLP loss, {n} parameters", [theta, X, Y], Hm, args, jax_fn


def run_case(name, inputs, output, args, jax_fn, rounds):
    systems, results = {}, {}
    linkers = ["py"] + (["numba"] if have("numba") else [])
    for linker in linkers:
        for loop in (False, True):
            f = compiled(inputs, output, linker, loop)
            key = f"{'loop' if loop else 'batched'} ({linker})"
            systems[key] = (lambda f=f: f(*args))
            results[key] = f(*args)
    if have("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        jargs = [jax.device_put(a) for a in args]
        fn = jax_fn()
        systems["jax"] = lambda: fn(*jargs).block_until_ready()
        results["jax"] = np.asarray(fn(*jargs))
    ref = results["loop (py)"]
    for k, r in results.items():
        np.testing.assert_allclose(r, ref, rtol=1e-9, atol=1e-11, err_msg=k)
    return name, interleaved(systems, rounds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5 rounds instead of 15")
    opts = ap.parse_args()
    rounds = 5 if opts.quick else 15
    rng = np.random.default_rng(0)
    cases = [tanh_case(n, rng) for n in (10, 100, 500)] + [mlp_case(rng)]
    rows = [run_case(*c, rounds) for c in cases]
    cols = list(rows[0][1])
    print(f"median of {rounds} runs, milliseconds; one thread "
          f"(numpy {np.__version__}" + (", jax " + __import__("jax").__version__
                                         if have("jax") else "") + ")\n")
    print("| case | " + " | ".join(cols) + " | loop / batched (py) |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for name, t in rows:
        ratio = t["loop (py)"] / t["batched (py)"]
        print(f"| {name} | " + " | ".join(f"{t[c] * 1e3:.3g}" for c in cols)
              + f" | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
