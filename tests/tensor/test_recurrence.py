"""LinearRecurrence alone: every mode and direction against a plain Python loop, on
every backend (tests/backend_suite.py), gradients against finite differences, the
chunked paths (long sequences), broadcast operands, errors, and the associative
combine that backends with a scan primitive (jax) use."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.recurrence import (
    LinearRecurrence,
    apply_composed,
    combine,
    linear_recurrence,
)
from theanine.tensor.recurrence_numpy import chunks

MODES = ["affine", "add", "mul", "max", "min", "matrix"]
LENGTHS = [0, 1, 2, 7, 97, 3001]  # empty, one, even, odd, prime, long (chunked on py)
CHUNKED = 20011  # prime, above the numba kernels' CHUNK_MIN: their chunked/window paths


def reference(mode, h0, ops, n, reverse=False):
    """The loop itself, in float64 or the operands' dtype."""
    at = lambda x, t: x[0] if x.shape[0] == 1 else x[t]  # noqa: E731
    h = np.array(h0, copy=True)
    trace = np.empty((n,) + h.shape, h.dtype)
    for t in (range(n - 1, -1, -1) if reverse else range(n)):
        if mode == "affine":
            h = at(ops[0], t) * h + at(ops[1], t)
        elif mode == "add":
            h = h + at(ops[0], t)
        elif mode == "mul":
            h = h * at(ops[0], t)
        elif mode == "max":
            h = np.maximum(h, at(ops[0], t))
        elif mode == "min":
            h = np.minimum(h, at(ops[0], t))
        else:
            h = h @ ops[0] + at(ops[1], t)
        trace[t] = h
    return trace, h


def operands(mode, n, shape, dtype, rng, time_bcast=False, lane_bcast=False):
    """Values of the operands of `mode` for state `shape` (A near 1: stable)."""
    rows = 1 if time_bcast else n
    lanes = (1,) * len(shape) if lane_bcast else shape
    a = rng.uniform(0.9, 1.05, size=(rows,) + lanes).astype(dtype)
    b = rng.normal(size=(rows,) + lanes).astype(dtype)
    if mode == "affine":
        return [a, b]
    if mode == "mul":
        return [a]
    if mode == "matrix":
        d = shape[-1]
        m = (rng.normal(size=(d, d)) * 0.9 / np.sqrt(d)).astype(dtype)
        return [m, rng.normal(size=(n,) + shape).astype(dtype)]
    return [b]


def variables(mode, vals):
    """Symbolic inputs with the broadcast pattern of each value's length-1 dims."""
    out = []
    for k, v in enumerate(vals):
        if mode == "matrix" and k == 0:
            out.append(T.tensor(v.dtype, (False, False)))
        else:
            out.append(T.tensor(v.dtype, tuple(s == 1 for s in v.shape)))
    return out


def tolerance(dtype, n):
    return dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_against_the_loop(mode, n, reverse, dtype):
    rng = np.random.default_rng(n)
    shape = (3,)
    h0 = rng.normal(size=shape).astype(dtype)
    vals = operands(mode, n, shape, dtype, rng)
    hv, ov = T.tensor(dtype, (False,)), variables(mode, vals)
    tr, fin = LinearRecurrence(mode, reverse)(n, hv, *ov)
    only = LinearRecurrence(mode, reverse, store=False)(n, hv, *ov)
    got = theano.function([hv] + ov, [tr, fin, only])(h0, *vals)
    want = reference(mode, h0, vals, n, reverse)
    tol = tolerance(dtype, n)
    assert got[0].dtype == dtype and got[0].shape == (n, 3)
    np.testing.assert_allclose(got[0], want[0], **tol)
    np.testing.assert_allclose(got[1], want[1], **tol)
    np.testing.assert_allclose(got[2], want[1], **tol)


@pytest.mark.parametrize("mode", ["add", "mul", "max", "min"])
def test_accumulations_are_the_loop_exactly_on_py(mode):
    rng = np.random.default_rng(5)
    h0 = rng.normal(size=4)
    vals = operands(mode, 500, (4,), "float64", rng)
    hv, ov = T.dvector(), variables(mode, vals)
    tr, fin = LinearRecurrence(mode)(500, hv, *ov)
    got = theano.function([hv] + ov, [tr, fin], mode="PY")(h0, *vals)
    want = reference(mode, h0, vals, 500)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("mode", ["affine", "mul", "add", "max"])
@pytest.mark.parametrize("time_bcast,lane_bcast", [(True, False), (False, True),
                                                  (True, True)])
@pytest.mark.parametrize("n", [0, 5, 2000])
def test_broadcast_operands(mode, time_bcast, lane_bcast, n):
    rng = np.random.default_rng(1)
    shape = (2, 3)
    h0 = rng.normal(size=shape)
    vals = operands(mode, n, shape, "float64", rng, time_bcast, lane_bcast)
    hv, ov = T.dmatrix(), variables(mode, vals)
    tr, fin = LinearRecurrence(mode)(n, hv, *ov)
    got = theano.function([hv] + ov, [tr, fin])(h0, *vals)
    want = reference(mode, h0, vals, n)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["affine", "add", "mul", "max"])
@pytest.mark.parametrize("n", [0, 1, 3000])
def test_scalar_state(mode, n):
    rng = np.random.default_rng(2)
    vals = [v.reshape(-1) for v in operands(mode, n, (1,), "float64", rng)]
    hv, ov = T.dscalar(), [T.dvector() for _ in vals]
    tr, fin = LinearRecurrence(mode)(n, hv, *ov)
    got = theano.function([hv] + ov, [tr, fin])(0.3, *vals)
    want = reference(mode, np.float64(0.3), vals, n)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-10)
    assert got[1].shape == ()


@pytest.mark.parametrize("mode,a_rows,dtype", [
    ("affine", 1, "float64"), ("affine", None, "float64"), ("add", None, "float64"),
    ("mul", None, "float64"), ("max", None, "float64"), ("min", None, "float64"),
    ("affine", 1, "float32"), ("add", None, "float32")])
@pytest.mark.parametrize("reverse", [False, True])
def test_scalar_state_long_both_ways(mode, a_rows, dtype, reverse):
    """A scalar state over lengths up to a prime above the numba kernels' chunk
    threshold, forwards and backwards, A constant in time (a_rows = 1: numba's window
    kernels, window_rev backwards) or per step, trace and final-only nodes."""
    for n in [0, 1, 17, CHUNKED]:
        rng = np.random.default_rng(n)
        rows = a_rows or n
        a = rng.uniform(0.999, 1.0005 if mode == "mul" else 0.9995, size=rows)
        vals = {"affine": [a, rng.normal(size=n)], "mul": [a]}.get(mode, [rng.normal(size=n)])
        vals = [v.astype(dtype) for v in vals]
        hv = T.tensor(dtype, ())
        ov = [T.tensor(dtype, (k == 0 and a_rows == 1,)) for k, v in enumerate(vals)]
        tr, fin = LinearRecurrence(mode, reverse)(n, hv, *ov)
        only = LinearRecurrence(mode, reverse, store=False)(n, hv, *ov)
        got = theano.function([hv] + ov, [tr, fin, only])(np.asarray(0.3, dtype), *vals)
        want = reference(mode, np.asarray(0.3, dtype), vals, n, reverse)
        # float32 over 20011 steps: the loop's own rounding, relative to the largest |h|
        scale = 1e-9 if dtype == "float64" else 1e-3 * max(1.0, np.abs(want[0]).max(initial=0))
        tol = dict(rtol=scale, atol=scale)
        assert got[0].dtype == dtype and got[0].shape == (n,)
        np.testing.assert_allclose(got[0], want[0], **tol)
        np.testing.assert_allclose(got[1], want[1], **tol)
        np.testing.assert_allclose(got[2], want[1], **tol)


@pytest.mark.parametrize("n", [0, 4, 600])
def test_matrix_with_a_batch_of_states(n):
    rng = np.random.default_rng(3)
    h0 = rng.normal(size=(5, 4))
    vals = operands("matrix", n, (5, 4), "float64", rng)
    hv, ov = T.dmatrix(), [T.dmatrix(), T.dtensor3()]
    tr, fin = LinearRecurrence("matrix")(n, hv, *ov)
    got = theano.function([hv] + ov, [tr, fin])(h0, *vals)
    want = reference("matrix", h0, vals, n)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("n", [0, 1, 6])
def test_gradients_finite_differences(mode, reverse, n):
    rng = np.random.default_rng(7)
    h0 = rng.normal(size=3)
    vals = operands(mode, n, (3,), "float64", rng)
    if mode in ("max", "min"):  # away from ties, where the gradient jumps
        vals = [np.round(v, 1) + rng.uniform(0.01, 0.04, size=v.shape) for v in vals]
    w_tr, w_fin = rng.normal(size=(n, 3)), rng.normal(size=3)

    def cost(h, *ops):
        tr, fin = LinearRecurrence(mode, reverse)(n, h, *ops)
        return (tr * w_tr).sum() + (fin * w_fin).sum()

    verify_grad(cost, [h0] + vals, rng=rng)


@pytest.mark.parametrize("mode", ["affine", "mul"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lane_bcast", [False, True])
@pytest.mark.parametrize("n", [0, 1, 6])
def test_gradient_with_a_decay_constant_in_time(mode, reverse, lane_bcast, n):
    """A with one row and only the trace in the cost: the gradient's recurrence runs
    on the trace's cotangent itself (recurrence_grad's direct form)."""
    rng = np.random.default_rng(8)
    h0 = rng.normal(size=3)
    vals = operands(mode, n, (3,), "float64", rng, time_bcast=True, lane_bcast=lane_bcast)
    w_tr = rng.normal(size=(n, 3))
    bcast = [tuple(s == 1 for s in v.shape) for v in vals]

    def cost(h, *ops):
        ops = [T.patternbroadcast(x, b) for x, b in zip(ops, bcast)]
        tr, _ = LinearRecurrence(mode, reverse)(n, h, *ops)
        return (tr * w_tr).sum()

    verify_grad(cost, [h0] + vals, rng=rng)


@pytest.mark.parametrize("mode", ["affine", "mul", "max", "min", "matrix"])
def test_gradient_of_the_final_state_alone(mode):
    rng = np.random.default_rng(8)
    vals = operands(mode, 9, (3,), "float64", rng)
    verify_grad(lambda h, *ops: LinearRecurrence(mode, store=False)(9, h, *ops),
                [rng.normal(size=3)] + vals, rng=rng)


@pytest.mark.parametrize("ties", ["carry", "input"])
@pytest.mark.parametrize("mode", ["max", "min"])
def test_ties_follow_maximum_and_minimum(mode, ties):
    """On equal values the gradient goes where T.maximum/minimum send it."""
    h0 = T.dvector()
    b = T.dmatrix()
    tr, _ = LinearRecurrence(mode, ties=ties)(3, h0, b)
    f_op = getattr(T, "maximum" if mode == "max" else "minimum")
    loop, h = [], h0
    for t in range(3):
        h = f_op(h, b[t]) if ties == "carry" else f_op(b[t], h)
        loop.append(h)
    cost_op, cost_loop = tr.sum(), T.stack(loop).sum()
    vals = [np.array([1.0, 2.0]), np.array([[1.0, 3.0], [1.0, 2.0], [0.5, 3.0]])]
    g_op = theano.function([h0, b], T.grad(cost_op, [h0, b]))(*vals)
    g_loop = theano.function([h0, b], T.grad(cost_loop, [h0, b]))(*vals)
    for a, c in zip(g_op, g_loop):
        np.testing.assert_array_equal(a, c)


def test_second_order_gradient():
    rng = np.random.default_rng(9)
    h0, a, b = T.dvector(), T.dmatrix(), T.dmatrix()
    tr, fin = LinearRecurrence("affine")(4, h0, a, b)
    cost = (tr ** 2).sum() + fin.sum()
    verify_grad(lambda h, a, b: T.grad((LinearRecurrence("affine")(4, h, a, b)[0] ** 2).sum(),
                                       a),
                [rng.normal(size=2), rng.uniform(0.5, 1, size=(4, 2)),
                 rng.normal(size=(4, 2))], rng=rng)
    assert T.grad(cost, a).ndim == 2


def test_infer_shape_reads_no_value():
    h0, b = T.dmatrix(), T.dtensor3()
    n = T.lscalar()
    tr, fin = LinearRecurrence("add")(n, h0, b)
    f = theano.function([n, h0, b], [tr.shape, fin.shape], on_unused_input="ignore")
    assert [list(s) for s in f(4, np.zeros((2, 3)), np.zeros((4, 2, 3)))] == [[4, 2, 3],
                                                                          [2, 3]]
    nodes = [type(nd.op).__name__ for nd in f.maker.fgraph.toposort()]
    assert "LinearRecurrence" not in nodes


def test_linear_recurrence_helper_takes_n_from_the_operands():
    b = T.dmatrix()
    tr, fin = linear_recurrence("add", T.zeros((2,)), b)
    got = theano.function([b], [tr, fin])(np.ones((3, 2)))
    np.testing.assert_array_equal(got[0], [[1, 1], [2, 2], [3, 3]])


def test_bad_arguments_are_named():
    h0, a = T.dvector(), T.dmatrix()
    with pytest.raises(ValueError, match="mode must be one of"):
        LinearRecurrence("sum")
    with pytest.raises(TypeError, match="operands A, B"):
        LinearRecurrence("affine")(3, h0, a)
    with pytest.raises(TypeError, match="dtype float32"):
        LinearRecurrence("add")(3, h0, T.fmatrix())
    with pytest.raises(TypeError, match="leading step axis"):
        LinearRecurrence("add")(3, h0, T.dvector())
    with pytest.raises(TypeError, match="integer scalar"):
        LinearRecurrence("add")(T.dscalar(), h0, a)
    with pytest.raises(TypeError, match="float tensor"):
        LinearRecurrence("add")(3, T.lvector(), T.lmatrix())
    n = T.lscalar()
    tr, _ = LinearRecurrence("add")(n, h0, a)
    f = theano.function([n, h0, a], tr)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        f(-1, np.zeros(2), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="3 rows for 4 steps"):
        f(4, np.zeros(2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="does not match the state's shape"):
        f(3, np.zeros(2), np.zeros((3, 5)))


def test_cost_model_chunks_long_narrow_recurrences_only():
    assert chunks(10, 1) == 0
    assert chunks(10 ** 6, 1) > 100
    assert chunks(10 ** 4, 10 ** 6) == 0


def _scan_with(fn, elems, reverse):
    """A plain Hillis-Steele inclusive scan with an associative `fn` (tuples of arrays)."""
    xs = [list(e) for e in elems]
    n = len(xs[0]) if xs else 0
    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    cur = [tuple(e[i] for e in xs) for i in order]
    step = 1
    while step < n:
        cur = [cur[i] if i < step else fn(cur[i - step], cur[i]) for i in range(n)]
        step *= 2
    out = [None] * n
    for k, i in enumerate(order):
        out[i] = cur[k]
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
def test_combine_is_the_recurrence_as_an_associative_scan(mode, reverse):
    rng = np.random.default_rng(11)
    n, shape = 13, (3,)
    h0 = rng.normal(size=shape)
    vals = operands(mode, n, shape, "float64", rng)
    elems = ([np.broadcast_to(vals[0], (n, 3, 3)), vals[1]] if mode == "matrix" else vals)
    comp = _scan_with(combine(mode, np), elems, reverse)
    got = np.stack([apply_composed(mode, np, h0, c) for c in comp])
    np.testing.assert_allclose(got, reference(mode, h0, vals, n, reverse)[0], rtol=1e-10)


def test_combine_with_jax_associative_scan():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(12)
    vals = operands("affine", 50, (4,), "float32", rng)
    h0 = rng.normal(size=4).astype("float32")
    comp = jax.lax.associative_scan(combine("affine", jnp), tuple(jnp.asarray(v) for v in vals))
    got = np.asarray(apply_composed("affine", jnp, jnp.asarray(h0), comp))
    np.testing.assert_allclose(got, reference("affine", h0, vals, 50)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
@pytest.mark.parametrize("reverse", [False, True])
def test_matrix_combine_with_jax_associative_scan(shape, reverse):
    """The batched calls of lax.associative_scan: a vector state's B is (k, d) against
    (k, d, d) powers of M, a batch of states' is (k, b, d)."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(13)
    n = 23
    vals = operands("matrix", n, shape, "float32", rng)
    h0 = rng.normal(size=shape).astype("float32")
    elems = (jnp.broadcast_to(jnp.asarray(vals[0]), (n, 3, 3)), jnp.asarray(vals[1]))
    comp = jax.lax.associative_scan(combine("matrix", jnp), elems, reverse=reverse)
    got = np.asarray(apply_composed("matrix", jnp, jnp.asarray(h0), comp))
    assert got.shape == (n,) + shape
    np.testing.assert_allclose(got, reference("matrix", h0, vals, n, reverse)[0],
                               rtol=1e-4, atol=1e-4)
