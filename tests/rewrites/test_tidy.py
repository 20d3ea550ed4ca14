"""tidy rules, each alone, before-graph -> expected-graph (values unchanged):
zeros_update, ones_product, reverse_of_reverse, and the shape rules after loops; and
the gradient of a loop over a sequence, which they leave without zeros or copies."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from tests.rewrites.helpers import check_rewrite, check_unchanged
from theanine.graph.traversal import ancestors
from theanine.rewrites.tidy import (
    ones_product,
    reverse_of_reverse,
    shape_i_after_loops,
    tidy,
    zeros_update,
)
from theanine.tensor.alloc import Alloc
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.shape import Shape_i
from theanine.tensor.subtensor import IncSubtensor
from theanine.tensor.zero_pad import ZeroPad, zero_pad


def test_set_subtensor_of_zeros_like():
    x, y, n = T.dmatrix("x"), T.dmatrix("y"), T.lscalar("n")
    out = T.set_subtensor(T.zeros_like(x)[0:n], y)
    shape = [Shape_i(0)(x), Shape_i(1)(x)]
    check_rewrite(zeros_update, out, zero_pad(y, 0, n, *shape), [x, y, n],
                  values=[np.ones((5, 3)), np.arange(12.0).reshape(4, 3), np.int64(4)])


def test_inc_subtensor_of_alloc_zeros_open_slice():
    x, y, a = T.dvector("x"), T.dvector("y"), T.lscalar("a")
    z = T.zeros((x.shape[0] + 2,), "float64")
    out = T.inc_subtensor(z[a:], y)
    expected = zero_pad(y, a, z.owner.inputs[1], z.owner.inputs[1])
    check_rewrite(zeros_update, out, expected, [x, y, a],
                  values=[np.ones(4), np.arange(4.0), np.int64(2)])


def test_zeros_update_leaves_other_updates():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    check_unchanged(zeros_update, T.set_subtensor(x[0:2], y), [x, y])  # x not zeros
    check_unchanged(zeros_update, T.set_subtensor(T.zeros_like(x)[::2], y), [x, y])
    check_unchanged(zeros_update, T.set_subtensor(T.zeros_like(x)[:, 1:], y), [x, y])
    check_unchanged(zeros_update, T.set_subtensor(T.ones_like(x)[1:], y), [x, y])
    f = T.fvector("f")  # another dtype: the update casts
    check_unchanged(zeros_update, T.set_subtensor(T.zeros_like(x)[1:], f), [x, f])


def test_product_with_alloc_of_ones():
    w, h = T.dvector("w"), T.dvector("h")
    # alloc(1, max(len(w), len(h))): fill(w * h, 1), as the gradient of sum(w * h)
    # builds it, after the shape step
    ones = T.alloc(np.float64(1.0), T.maximum(w.shape[0], h.shape[0]))
    n = ones.owner.inputs[1]
    check_rewrite(ones_product, ones * w, zero_pad(w, 0, n, n), [w, h],
                  values=[np.arange(5.0), np.ones(5)])
    check_unchanged(ones_product, T.alloc(np.float64(2.0), h.shape[0]) * w, [w, h])


def test_product_with_alloc_of_ones_broadcast_dims():
    """A dim the alloc declares broadcastable (length 1) takes w's length."""
    w = T.dmatrix("w")
    ones = T.alloc(np.float64(1.0), 1, w.shape[1])
    out = ones * w
    dims = [Shape_i(0)(w), ones.owner.inputs[2]]
    check_rewrite(ones_product, out, zero_pad(w, 0, dims[0], *dims), [w],
                  values=[np.arange(6.0).reshape(2, 3)])


def test_reverse_of_reverse():
    x = T.dmatrix("x")
    check_rewrite(reverse_of_reverse, x[::-1][::-1] * 2, x * 2, [x])
    check_unchanged(reverse_of_reverse, x[::-1][::2], [x])


def test_shape_of_a_recurrence_is_its_length():
    x, h0 = T.dvector("x"), T.dscalar("h0")
    n = x.shape[0]
    tr, _ = LinearRecurrence("add")(n, h0, x)
    after = check_rewrite(shape_i_after_loops, Shape_i(0)(tr) * 2, n * 2, [x, h0])
    assert not any(isinstance(v.owner.op, LinearRecurrence)
                   for v in ancestors([after]) if v.owner)


def test_gradient_of_a_loop_has_no_zeros_left():
    """d/da sum(w * x) through x_t = 0.9 x_(t-1) + a_t: no set/inc_subtensor, no alloc
    of ones, and zero_pad returns the recurrence's result itself at run time."""
    a, w = T.dvector("a"), T.dvector("w")
    x, _ = theano.scan(lambda at, h: 0.9 * h + at, sequences=a, outputs_info=T.constant(0.0))
    g = theano.grad(T.sum(w * x), a)
    f = theano.function([a, w], g)
    ops = [n.op for n in f.maker.fgraph.toposort()]
    assert not any(isinstance(op, (IncSubtensor, Alloc)) for op in ops)
    assert any(isinstance(op, ZeroPad) for op in ops)
    rng = np.random.default_rng(0)
    av, wv = rng.normal(size=50), rng.normal(size=50)
    want = np.empty(50)
    lam = 0.0
    for t in range(49, -1, -1):
        lam = wv[t] + 0.9 * lam
        want[t] = lam
    np.testing.assert_allclose(f(av, wv), want, rtol=1e-12)
    excluded = theano.function([a, w], g, mode=theano.compile.mode.get_default_mode()
                               .excluding(tidy.name))
    assert any(isinstance(n.op, IncSubtensor) for n in excluded.maker.fgraph.toposort())
    np.testing.assert_allclose(excluded(av, wv), want, rtol=1e-12)
