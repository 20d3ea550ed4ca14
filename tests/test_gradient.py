"""theano.grad and friends: wrt structures, consider_constant, disconnected and
undefined gradients, known_grads, the gradient-shaping ops, Lop/Rop against
explicit NumPy Jacobians, second-order gradients, verify_grad itself, and a
Theano-style custom Op (perform + grad)."""

import warnings

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backend_suite import jax_too  # noqa: F401,E402 - runs each test on jax too
from theanine.gradient import DisconnectedInputError, GradientError, NullTypeGradError, verify_grad
from theanine.graph.basic import Apply, Op


def fn(inputs, outputs):
    return theano.function(inputs, outputs, on_unused_input="ignore")


# -- grad's arguments ------------------------------------------------------------------------
def test_wrt_structure(rng):
    x, y = T.vector("x"), T.vector("y")
    cost = (x * y).sum()
    assert isinstance(T.grad(cost, x), T.TensorVariable)
    assert isinstance(T.grad(cost, [x, y]), list)
    assert isinstance(T.grad(cost, (x, y)), tuple)
    xv, yv = rng.random(3), rng.random(3)
    gx, gy = fn([x, y], T.grad(cost, [x, y]))(xv, yv)
    np.testing.assert_allclose(gx, yv)
    np.testing.assert_allclose(gy, xv)
    assert theano.grad is T.grad  # the same function under both names


def test_grad_of_cost_wrt_itself_and_names():
    x = T.scalar("x")
    c = T.exp(x)
    c.name = "c"
    assert fn([x], T.grad(c, c))(1.0) == 1.0
    assert T.grad(c, x).name == "(dc/dx)"
    assert T.grad(T.exp(x), x).name is None  # unnamed cost: no name


def test_argument_errors():
    x = T.matrix()
    with pytest.raises(TypeError, match="cost must be a scalar.*2-d"):
        T.grad(x * 2, x)
    with pytest.raises(TypeError, match=r"wrt\[1\] must be a symbolic variable, got 3"):
        T.grad(x.sum(), [x, 3])
    with pytest.raises(ValueError, match="disconnected_inputs must be.*'loud'"):
        T.grad(x.sum(), x, disconnected_inputs="loud")
    with pytest.raises(ValueError, match="return_disconnected must be.*'nan'"):
        T.grad(x.sum(), x, return_disconnected="nan")
    with pytest.raises(ValueError, match="give a cost or known_grads"):
        T.grad(None, x)


def test_consider_constant(rng):
    x = T.vector()
    z = x ** 2
    cost = (z * x).sum()
    xv = rng.random(4)
    g_full = fn([x], T.grad(cost, x))(xv)
    g_const = fn([x], T.grad(cost, x, consider_constant=[z]))(xv)
    np.testing.assert_allclose(g_full, 3 * xv ** 2)
    np.testing.assert_allclose(g_const, xv ** 2)
    # a wrt listed as constant still gets its own gradient
    np.testing.assert_allclose(fn([x], T.grad(cost, z, consider_constant=[z]))(xv), xv)


def test_disconnected_inputs_modes():
    x, y = T.vector("x"), T.vector("y")
    cost = (x ** 2).sum()
    with pytest.raises(DisconnectedInputError, match="not part of the computational graph.*y"):
        T.grad(cost, [x, y])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        gy = T.grad(cost, y, disconnected_inputs="warn")
    assert any("not part of the computational graph" in str(m.message) for m in w)
    np.testing.assert_array_equal(fn([y], gy)(np.ones(3)), np.zeros(3))
    gy = T.grad(cost, y, disconnected_inputs="ignore")
    assert gy.type == y.type
    assert T.grad(cost, y, disconnected_inputs="ignore", return_disconnected="None") is None
    d = T.grad(cost, y, disconnected_inputs="ignore", return_disconnected="Disconnected")
    assert str(d.type) == "DisconnectedType"


def test_only_shape_used_is_disconnected():
    """zeros_like / second use only the shape of x: no gradient path (as Theano)."""
    x = T.matrix()
    with pytest.raises(DisconnectedInputError):
        T.grad(T.zeros_like(x).sum(), x)
    with pytest.raises(DisconnectedInputError):
        T.grad(T.cast(x.shape[0], "float64"), x)


def test_integer_paths_are_connected_with_zero_gradient(rng):
    x = T.matrix()
    xv = rng.random((2, 3))
    for cost in [T.cast(x, "int32").sum(), (x > 0.5).sum(), T.argmax(x),
                 T.cast(T.round(x), "int64").sum() * 3]:
        g = fn([x], T.grad(cost, x))(xv)  # no DisconnectedInputError
        assert g.dtype == "float64" and g.shape == (2, 3) and not g.any()
    # a wrt of integer dtype gets a floatX zero gradient
    i = T.ivector()
    g = T.grad((x * i).sum(), i)
    assert g.dtype == theano.config.floatX
    assert not fn([x, i], g)(xv, np.arange(3, dtype="int32")).any()
    # the integer branch adds nothing to the float branch
    g = fn([x], T.grad((x * T.cast(x * 10, "int32")).sum(), x))(xv)
    np.testing.assert_allclose(g, np.floor(xv * 10))


def test_switch_condition_and_comparison_paths(rng):
    x = T.vector()
    xv = rng.uniform(-1, 1, size=5)
    g = fn([x], T.grad(T.switch(x > 0, x, 2 * x).sum(), x))(xv)
    np.testing.assert_allclose(g, np.where(xv > 0, 1.0, 2.0))
    c = T.vector()  # a float condition gets a zero gradient, as in Theano
    g = fn([c, x], T.grad(T.switch(c, x, -x).sum(), c))(xv, xv)
    assert not g.any()


def test_known_grads(rng):
    x = T.vector()
    h = T.tanh(x)
    y = (h ** 2).sum()
    xv, gv = rng.random(4), rng.random(4)
    g = T.vector()
    got = fn([x, g], T.grad(None, x, known_grads={h: g}))(xv, gv)
    np.testing.assert_allclose(got, gv * (1 - np.tanh(xv) ** 2))
    # with a cost too: both contributions add
    got = fn([x, g], T.grad(y, x, known_grads={h: g}))(xv, gv)
    th = np.tanh(xv)
    np.testing.assert_allclose(got, (gv + 2 * th) * (1 - th ** 2))
    # a known gradient on the wrt itself is returned as is (cast to its type)
    got = fn([x, g], T.grad(None, x, known_grads={x: g * 2}))(xv, gv)
    np.testing.assert_allclose(got, 2 * gv)
    # known_grads given as numpy values
    got = fn([x], T.grad(None, x, known_grads={h: np.ones(4)}))(xv)
    np.testing.assert_allclose(got, 1 - np.tanh(xv) ** 2)
    # a known gradient of another rank is passed on as given (as Theano: custom ops'
    # gradients rely on it; tests/compat/test_gradients.py has one)
    m, v = T.matrix(), T.vector()
    assert T.grad(None, m, known_grads={m: v}) is v


def test_known_grads_float32_is_cast(rng):
    x = T.fvector()
    h = T.exp(x)
    g = T.grad(None, x, known_grads={h: T.dvector()})
    assert g.dtype == "float32"


# -- undefined gradients ---------------------------------------------------------------------
def test_null_gradient_raises():
    x = T.vector()
    cost = (theano.gradient.undefined_grad(x) * 2).sum()
    with pytest.raises(NullTypeGradError, match="undefined"):
        T.grad(cost, x)
    g = T.grad(cost, x, null_gradients="return")
    assert getattr(g.type, "is_null", False)
    # a NullType only poisons the inputs it reaches
    y = T.vector()
    gy = T.grad(cost + (y ** 2).sum(), y)
    # (the gradient's seed is ones_like(cost), so x is an input of its graph, as Theano)
    np.testing.assert_allclose(fn([x, y], gy)(np.ones(2), np.array([1.0, 2.0])), [2.0, 4.0])


def test_op_without_grad_is_not_implemented():
    class NoGrad(Op):
        __props__ = ()

        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, out):
            out[0][0] = inputs[0] * 2

    x = T.vector()
    with pytest.raises(NullTypeGradError, match="not implemented"):
        T.grad(NoGrad()(x).sum(), x)


# -- gradient-shaping ops --------------------------------------------------------------------
def test_disconnected_grad(rng):
    x = T.vector()
    xv = rng.random(3)
    cost = (theano.gradient.disconnected_grad(x) * x).sum()
    np.testing.assert_allclose(fn([x], T.grad(cost, x))(xv), xv)
    np.testing.assert_allclose(fn([x], theano.gradient.disconnected_grad(x) * 2)(xv), 2 * xv)
    with pytest.raises(DisconnectedInputError):
        T.grad(theano.gradient.disconnected_grad(x).sum(), x)


def test_zero_grad_and_consider_constant(rng):
    x = T.vector()
    xv = rng.random(3)
    for op in [theano.gradient.zero_grad, theano.gradient.consider_constant]:
        cost = (op(x) * x).sum()
        np.testing.assert_allclose(fn([x], T.grad(cost, x))(xv), xv)
        g = fn([x], T.grad(op(x).sum(), x))(xv)  # connected: zeros, no error
        assert not g.any() and g.shape == (3,)


def test_grad_clip_and_scale(rng):
    x = T.vector()
    xv = rng.uniform(-2, 2, size=5)
    g = fn([x], T.grad((theano.gradient.grad_clip(x, -1, 1.5) * 3).sum(), x))(xv)
    np.testing.assert_allclose(g, np.full(5, 1.5))
    g = fn([x], T.grad((theano.gradient.grad_clip(x ** 2, -1, 1)).sum(), x))(xv)
    np.testing.assert_allclose(g, np.clip(1.0, -1, 1) * 2 * xv)
    out = fn([x], theano.gradient.grad_clip(x, -1, 1))(xv)
    np.testing.assert_allclose(out, xv)  # the forward value is untouched
    g = fn([x], T.grad(theano.gradient.grad_scale(x ** 2, -0.5).sum(), x))(xv)
    np.testing.assert_allclose(g, -xv)
    with pytest.raises(ValueError, match="lower_bound=2, upper_bound=1"):
        theano.gradient.grad_clip(x, 2, 1)


# -- Lop / Rop against explicit Jacobians ------------------------------------------------------
def jac_setup(rng):
    """f(x)_i = sum_j A_ij tanh(x_j) + x_i ** 2 (i < n): J_ij = A_ij (1 - tanh(x_j)^2)
    + 2 x_i [i == j]."""
    n = 4
    A = rng.normal(size=(n, n))
    xv = rng.normal(size=n)
    J = A * (1 - np.tanh(xv) ** 2)[None, :] + np.diag(2 * xv)
    x = T.vector()
    f = (T.constant(A) * T.tanh(x).dimshuffle("x", 0)).sum(axis=1) + x ** 2
    return x, f, xv, J, A @ np.tanh(xv) + xv ** 2


def test_Lop_matches_jacobian(rng):
    x, f, xv, J, _ = jac_setup(rng)
    v = T.vector()
    vv = rng.normal(size=4)
    got = fn([x, v], T.Lop(f, x, v))(xv, vv)
    np.testing.assert_allclose(got, vv @ J, rtol=1e-10)
    got = fn([x, v], theano.Lop([f, f * 2], [x], [v, v]))(xv, vv)
    np.testing.assert_allclose(got[0], 3 * vv @ J, rtol=1e-10)


def test_Rop_matches_jacobian(rng):
    x, f, xv, J, fv = jac_setup(rng)
    u = T.vector()
    uv = rng.normal(size=4)
    got = fn([x, u], T.Rop(f, x, u))(xv, uv)
    np.testing.assert_allclose(got, J @ uv, rtol=1e-10)
    # several outputs and several wrt
    y = T.vector()
    yv, wv = rng.normal(size=4), rng.normal(size=4)
    w = T.vector()
    outs = T.Rop([f * y, T.exp(y).sum()], [x, y], [u, w])
    assert isinstance(outs, list) and outs[1].ndim == 0
    a, b = fn([x, y, u, w], outs)(xv, yv, uv, wv)
    np.testing.assert_allclose(a, (J @ uv) * yv + fv * wv, rtol=1e-10)
    np.testing.assert_allclose(b, (np.exp(yv) * wv).sum(), rtol=1e-10)


def test_Rop_disconnected_and_errors(rng):
    x, y, u = T.vector(), T.vector(), T.vector()
    with pytest.raises(DisconnectedInputError, match="output 0"):
        T.Rop(y * 2, x, u)
    r = T.Rop(y * 2, x, u, disconnected_outputs="ignore")
    assert not fn([x, y, u], r)(np.ones(2), np.ones(2), np.ones(2)).any()
    assert T.Rop(y * 2, x, u, disconnected_outputs="ignore", return_disconnected="None") is None
    with pytest.raises(ValueError, match="disconnected_outputs must be.*'loud'"):
        T.Rop(x * 2, x, u, disconnected_outputs="loud")
    with pytest.raises(ValueError, match="wrt has 2 variables but eval_points has 1"):
        T.Rop(x * y, [x, y], [u])
    with pytest.raises(TypeError, match="eval_points.*2 dimensions; expected 1"):
        T.Rop(x * 2, x, T.matrix())


def test_Rop_through_broadcast_and_reductions(rng):
    m, r = T.matrix(), T.row()
    dm, dr = T.matrix(), T.row()
    mv, rv = rng.random((3, 4)), rng.random((1, 4))
    dmv, drv = rng.random((3, 4)), rng.random((1, 4))
    out = T.Rop(T.max(m * r, axis=1) + T.mean(T.exp(m), axis=1), [m, r], [dm, dr])
    got = fn([m, r, dm, dr], out)(mv, rv, dmv, drv)
    prod = mv * rv
    am = prod.argmax(axis=1)
    k = np.arange(3)
    d_prod = dmv * rv + mv * drv
    want = d_prod[k, am] + (np.exp(mv) * dmv).mean(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


# -- second order --------------------------------------------------------------------------------
@pytest.mark.parametrize("f, d2", [
    (T.tanh, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    (T.exp, np.exp),
    (lambda x: x ** 3, lambda x: 6 * x),
    (T.nnet_sigmoid, lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s)),
])
def test_hessian_vector_products(f, d2, rng):
    x, v = T.vector(), T.vector()
    xv, vv = rng.normal(size=5), rng.normal(size=5)
    g = T.grad(f(x).sum(), x)
    hv = T.grad((g * v).sum(), x)  # grad of grad
    hv_rop = T.Rop(g, x, v)        # the same through Rop
    got, got_rop = fn([x, v], [hv, hv_rop])(xv, vv)
    np.testing.assert_allclose(got, d2(xv) * vv, rtol=1e-10)
    np.testing.assert_allclose(got_rop, d2(xv) * vv, rtol=1e-10)


def test_mixed_second_derivative_and_grad_of_grad_verify(rng):
    x, y = T.vector(), T.vector()
    cost = (x ** 2 * T.sin(y)).sum()
    gx = T.grad(cost, x)
    gxy = T.grad(gx.sum(), y)
    xv, yv = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(fn([x, y], gxy)(xv, yv), 2 * xv * np.cos(yv))
    verify_grad(lambda a: T.grad((T.tanh(a) ** 2).sum(), a), [rng.normal(size=4)], rng=rng)
    verify_grad(lambda a, b: T.grad((T.exp(a) * b).sum(), b) * a,
                [rng.normal(size=(2, 3)), rng.normal(size=(1, 3))], rng=rng)


def test_third_order(rng):
    x = T.scalar()
    g1 = T.grad(x ** 4, x)
    g2 = T.grad(g1, x)
    g3 = T.grad(g2, x)
    assert fn([x], [g1, g2, g3])(np.asarray(1.5)) == pytest.approx(
        [4 * 1.5 ** 3, 12 * 1.5 ** 2, 24 * 1.5])


# -- verify_grad and custom ops -------------------------------------------------------------------
class Square(Op):
    """Theano-style user op: perform + grad (+ infer_shape)."""

    __props__ = ("wrong",)

    def __init__(self, wrong=False):
        self.wrong = wrong

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] ** 2

    def grad(self, inputs, output_grads):
        factor = 3 if self.wrong else 2
        return [output_grads[0] * factor * inputs[0]]

    def infer_shape(self, node, shapes):
        return shapes


def test_verify_grad_detects_a_wrong_gradient(rng):
    pt = [rng.uniform(0.5, 1, size=(3,))]
    verify_grad(Square(), pt, rng=rng)
    with pytest.raises(GradientError, match="gradient of input 0.*differs") as info:
        verify_grad(Square(wrong=True), pt, rng=rng)
    assert info.value.abs_err > 0.1
    assert verify_grad.E_grad is GradientError
    with pytest.raises(GradientError):
        verify_grad(lambda a: Square(wrong=True)(a) + a, [rng.random((2, 2))],
                    rng=np.random.RandomState(0))


def test_verify_grad_argument_errors():
    with pytest.raises(TypeError, match="pt must be a list"):
        verify_grad(T.exp, np.ones(3))
    with pytest.raises(TypeError, match=r"pt\[0\] must be a float array, got int64"):
        verify_grad(T.exp, [np.ones(3, dtype="int64")])


def test_custom_perform_op_in_grad(rng):
    x = T.matrix()
    xv = rng.random((2, 3))
    cost = (Square()(T.tanh(x)) * 3).sum()
    g = fn([x], T.grad(cost, x))(xv)
    np.testing.assert_allclose(g, 3 * 2 * np.tanh(xv) * (1 - np.tanh(xv) ** 2))
    np.testing.assert_allclose(fn([x], Square()(x))(xv), xv ** 2)
    # second order through the custom op's grad
    h = T.grad(T.grad(Square()(x).sum(), x).sum(), x)
    np.testing.assert_allclose(fn([x], h)(xv), np.full((2, 3), 2.0))


def test_multi_output_op_partial_gradients(rng):
    class SinCos(Op):
        __props__ = ()

        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return Apply(self, [x], [x.type(), x.type()])

        def perform(self, node, inputs, out):
            out[0][0], out[1][0] = np.sin(inputs[0]), np.cos(inputs[0])

        def grad(self, inputs, gs):
            (x,), (gs_, gc) = inputs, gs
            terms = []
            if not getattr(gs_.type, "is_disconnected", False):
                terms.append(gs_ * T.cos(x))
            if not getattr(gc.type, "is_disconnected", False):
                terms.append(-gc * T.sin(x))
            return [T.add(*terms) if len(terms) > 1 else terms[0]]

    x = T.vector()
    s, c = SinCos()(x)
    xv = rng.random(3)
    np.testing.assert_allclose(fn([x], T.grad(c.sum(), x))(xv), -np.sin(xv))
    np.testing.assert_allclose(fn([x], T.grad((s * c).sum(), x))(xv), np.cos(2 * xv))


def test_Rop_Lop_shared_gradient_paths(rng):
    """A gradient reaching several wrt through one variable, or one output given twice."""
    x, y, a, b = T.vector(), T.vector(), T.vector(), T.vector()
    xv, yv, av, bv = (rng.normal(size=3) for _ in range(4))
    got = fn([x, y, a, b], T.Rop(x + y, [x, y], [a, b]))(xv, yv, av, bv)
    np.testing.assert_allclose(got, av + bv)
    f = T.exp(x)
    r1, r2 = fn([x, a], T.Rop([f, f], x, a))(xv, av)
    np.testing.assert_allclose(r1, np.exp(xv) * av)
    np.testing.assert_allclose(r2, np.exp(xv) * av)
    got = fn([x, a, b], T.Lop([f, f], x, [a, b]))(xv, av, bv)
    np.testing.assert_allclose(got, np.exp(xv) * (av + bv))


def test_grad_wrt_shared_parameters(rng):
    W = theano.shared(rng.normal(size=(3, 2)), name="W")
    bias = theano.shared(np.zeros(2), name="b")
    x = T.matrix("x")
    xv = rng.normal(size=(4, 3))
    p = T.nnet_sigmoid(T.dot(x, W) + bias)
    cost = T.mean((p - 1) ** 2)
    gW, gb = T.grad(cost, [W, bias])
    f = theano.function([x], [gW, gb], updates=[(W, W - 0.1 * gW)])
    pv = 1 / (1 + np.exp(-(xv @ W.get_value())))
    dz = 2 * (pv - 1) * pv * (1 - pv) / pv.size
    w0 = W.get_value()
    gWv, gbv = f(xv)
    np.testing.assert_allclose(gWv, xv.T @ dz, rtol=1e-10)
    np.testing.assert_allclose(gbv, dz.sum(0), rtol=1e-10)
    np.testing.assert_allclose(W.get_value(), w0 - 0.1 * gWv)


def test_subgraph_grad_layer_by_layer(rng):
    x = T.vector("x")
    w1 = theano.shared(rng.normal(size=(3, 4)), name="w1")
    w2 = theano.shared(rng.normal(size=(4, 2)), name="w2")
    a1 = T.tanh(T.dot(x, w1))
    a2 = T.tanh(T.dot(a1, w2))
    cost2 = T.sqr(a2).sum() + T.sqr(w2.sum())
    cost1 = T.sqr(w1.sum())
    full = T.grad(cost1 + cost2, [w2, w1])
    params, costs, ends = [[w2], [w1]], [cost2, cost1], [[a1], [x]]
    nxt, got = None, []
    for ps, c, e in zip(params, costs, ends):
        pg, eg = theano.gradient.subgraph_grad(wrt=ps, end=e, start=nxt, cost=c)
        nxt = dict(zip(e, eg))
        got.extend(pg)
    xv = rng.normal(size=3)
    f = fn([x], full + got)
    r = f(xv)
    np.testing.assert_allclose(r[2], r[0])
    np.testing.assert_allclose(r[3], r[1])
    with pytest.raises(ValueError, match="cost or start"):
        theano.gradient.subgraph_grad([w1], [x])
