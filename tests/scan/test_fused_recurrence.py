"""FusedRecurrence alone: programs of operands and per-step outputs against a plain
Python loop (every mode, both directions, stored states with and without the initial
row, broadcast inputs, scalar and wide states, the chunked paths of long narrow
recurrences), the unfused graph, gradients, and errors. Runs on py and numba."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.scan.fused_recurrence import FusedRecurrence
from theanine.tensor import scalar_ops as so

F64 = "float64"
CHUNKED = 20011  # > CHUNK_MIN of the numba kernels, prime: a partial last block


def gated(mode, reverse=False, store=True, init_row=False, outputs=True, dtype=F64):
    """minGRU's step with inputs k, v and the constant 1 (x2): z = sigmoid(k),
    A = 1 - z, B = z * v (add: B only, mul: A only); outputs hn * z + hp and hp * v."""
    # values: 0 k, 1 v, 2 one, 3 hp, 4 hn, then the steps 5..10
    program = [(so.Sigmoid(), (0,), dtype),                       # 5: z
               (so.Sub(), (2, 5), dtype), (so.Mul(), (5, 1), dtype),  # 6: A, 7: B
               (so.Mul(), (4, 5), dtype), (so.Add(), (8, 3), dtype),  # 9: hn * z + hp
               (so.Mul(), (3, 1), dtype)]                             # 10: hp * v
    ops = {"affine": (6, 7), "add": (7,), "mul": (6,)}[mode]
    outs = (9, 10) if outputs else ()
    return FusedRecurrence(mode, 3, program, ops, outs, reverse, store, init_row)


def loop(op, h0, xs, n):
    """The recurrence as a loop over steps; the program's parts that do not read the
    carry (gates and operands before it, outputs after it) run on all steps at once."""
    h = np.array(h0, copy=True)
    shape = (n,) + h.shape
    states = np.empty(shape, h.dtype)
    rows = [np.broadcast_to(x[:1] if x.shape[0] == 1 else x[:n], shape) for x in xs]
    vals = rows + [None, None]
    for sop, args, dtype in op.program[:3]:
        vals.append(np.asarray(sop.impl(*[vals[a] for a in args]), dtype))
    a, b = vals[6], vals[7]
    for t in (range(n - 1, -1, -1) if op.reverse else range(n)):
        h = {"affine": a[t] * h + b[t], "add": h + b[t], "mul": h * a[t]}[op.mode]
        h = states[t] = h.astype(states.dtype)
    before = np.empty(shape, h.dtype)  # each step's carry before the step
    if n:
        if op.reverse:
            before[-1], before[:-1] = h0, states[1:]
        else:
            before[0], before[1:] = h0, states[:-1]
    vals[op.nin], vals[op.nin + 1] = before, states
    for sop, args, dtype in op.program[3:]:
        vals.append(np.asarray(sop.impl(*[vals[a] for a in args]), dtype))
    dtypes = op.value_dtypes([x.dtype for x in xs], h.dtype)
    ys = [np.array(np.broadcast_to(vals[r], shape), dtypes[r]) for r in op.outputs]
    return states, h, ys


def values(n, shape, rng, dtype=F64, rows_k=None):
    k = rng.normal(size=(rows_k or n,) + shape).astype(dtype)
    v = rng.normal(size=(n,) + shape).astype(dtype)
    one = np.ones((1,) * (len(shape) + 1), dtype)
    return [k, v, one]


def variables(shape_ndim, dtype=F64, k_bcast=False):
    k = T.tensor(dtype, (k_bcast,) + (False,) * shape_ndim)
    v = T.tensor(dtype, (False,) * (shape_ndim + 1))
    one = T.tensor(dtype, (True,) * (shape_ndim + 1))
    return k, v, one


def tol(dtype, n):
    return dict(rtol=1e-9, atol=1e-9) if dtype == F64 else dict(rtol=3e-4, atol=3e-4)


def check(op, shape, ns, dtype=F64, rows_k=None):
    rng = np.random.default_rng(len(ns))
    xv = variables(len(shape), dtype, k_bcast=rows_k == 1)
    hv = T.tensor(dtype, (False,) * len(shape))
    nv = T.lscalar("n")
    f = theano.function([nv, hv, *xv], op(nv, hv, *xv))
    for n in ns:
        h0 = rng.normal(size=shape).astype(dtype)
        xs = values(n, shape, rng, dtype, rows_k)
        got = f(n, h0, *xs)
        got = list(got) if isinstance(got, (list, tuple)) else [got]
        states, final, ys = loop(op, h0, xs, n)
        want = []
        if op.store:
            head = h0[None]
            full = np.concatenate([states, head] if op.reverse else [head, states])
            want.append(full if op.init_row else states)
        want += [final] + ys
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (g.shape, w.shape)
            np.testing.assert_allclose(g, w, **tol(dtype, n))


@pytest.mark.parametrize("mode", ["affine", "add", "mul"])
@pytest.mark.parametrize("reverse", [False, True])
def test_against_the_loop(mode, reverse):
    check(gated(mode, reverse, init_row=True), (8,), [0, 1, 7, 3001])
    check(gated(mode, reverse, init_row=True), (), [0, 1, 7, 97, CHUNKED])


@pytest.mark.parametrize("store,init_row,outputs", [(True, False, True),
                                                    (False, False, True),
                                                    (False, False, False),
                                                    (True, True, False)])
@pytest.mark.parametrize("reverse", [False, True])
def test_what_is_stored(store, init_row, outputs, reverse):
    op = gated("affine", reverse, store, init_row, outputs)
    check(op, (2,), [0, 5, CHUNKED])
    check(op, (3, 4), [6])


def test_float32():
    check(gated("affine", False, True, True, dtype="float32"), (), [0, 9, CHUNKED],
          dtype="float32")
    check(gated("affine", True, False, False, dtype="float32"), (5,), [9], dtype="float32")


@pytest.mark.parametrize("reverse", [False, True])
def test_a_constant_in_time(reverse):
    """A read from an input with one row: the chunked path's window kernel."""
    program = [(so.Mul(), (0, 1), F64), (so.Add(), (2, 1), F64)]
    # values: 0 a (one row), 1 w, 2 hp, 3 hn; B = a * w; output hp + w
    op = FusedRecurrence("affine", 2, program, (0, 4), (5,), reverse, store=False)
    rng = np.random.default_rng(3)
    av, wv, hv = T.dvector("a"), T.dvector("w"), T.dscalar("h")
    av = T.patternbroadcast(av, (True,))
    f = theano.function([hv, av, wv], op(wv.shape[0], hv, av, wv))
    for n in [0, 3, 17, CHUNKED]:
        a, w = np.array([0.999]), rng.normal(size=n)
        final, y = f(0.5, a, w)
        lam, ys = 0.5, np.empty(n)
        for t in (range(n - 1, -1, -1) if reverse else range(n)):
            ys[t] = lam + w[t]
            lam = 0.999 * lam + 0.999 * w[t]
        np.testing.assert_allclose(y, ys, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(final, lam, rtol=1e-9, atol=1e-9)


def test_broadcast_inputs():
    """k with one row (the same at every step), lanes of size 1 broadcast."""
    check(gated("affine", False, True, True), (6,), [0, 4, 50], rows_k=1)
    check(gated("affine", True, True, False), (), [CHUNKED], rows_k=1)


def test_unfused_graph_computes_the_same():
    op = gated("affine", True, True, True)
    xv = variables(1)
    hv = T.dvector("h")
    rng = np.random.default_rng(5)
    xs, h0 = values(11, (4,), rng), rng.normal(size=4)
    fused = theano.function([hv, *xv], op(11, hv, *xv))(h0, *xs)
    plain = theano.function([hv, *xv], op.unfuse([11, hv, *xv]))(h0, *xs)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["affine", "add", "mul"])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradient_finite_differences(mode, reverse):
    op = gated(mode, reverse, True, True)
    rng = np.random.default_rng(9)
    n = 5
    ws = [rng.normal(size=(n + 1, 3)), rng.normal(size=3), rng.normal(size=(n, 3)),
          rng.normal(size=(n, 3))]

    def cost(h, k, v):
        outs = op(n, h, k, v, np.ones((1, 1)))
        return sum((o * w).sum() for o, w in zip(outs, ws))

    xs = values(n, (3,), rng)
    verify_grad(cost, [rng.normal(size=3), xs[0], xs[1] * 0.5], rng=rng)


def test_infer_shape_and_errors():
    op = gated("affine", False, True, True)
    xv = variables(1)
    outs = op(T.lscalar(), T.dvector(), *xv)
    f = theano.function([outs[0].owner.inputs[0], outs[0].owner.inputs[1], *xv],
                        [o.shape for o in outs])
    rng = np.random.default_rng(0)
    shapes = f(7, np.zeros(4), *values(7, (4,), rng))
    assert [tuple(s) for s in shapes] == [(8, 4), (4,), (7, 4), (7, 4)]
    with pytest.raises(TypeError, match="integer scalar"):
        op(T.dscalar(), T.dvector(), *xv)
    with pytest.raises(TypeError, match="takes 3 inputs"):
        op(3, T.dvector(), *xv[:2])
    with pytest.raises(TypeError, match="leading step axis"):
        op(3, T.dvector(), T.dvector(), *xv[1:])
    with pytest.raises(ValueError, match="depends on the state"):
        FusedRecurrence("affine", 3, gated("affine").program, (3, 7), ())
    with pytest.raises(ValueError, match="does not depend on the state"):
        FusedRecurrence("affine", 3, gated("affine").program, (6, 7), (5,))
    g = theano.function([*xv], op(6, np.zeros(4), *xv)[1])
    with pytest.raises(ValueError, match="rows"):
        g(*values(5, (4,), rng))
