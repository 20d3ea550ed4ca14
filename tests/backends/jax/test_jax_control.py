"""ifelse, OpFromGraph and the run-time checks on the jax backend: inside the one jitted
function, the same values as py, and the user's Python code (Print) run only where the
graph says (only the branch taken runs)."""

import numpy as np
import pytest

pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from tests.backends.jax.test_jax_linker import both, jax_fn  # noqa: E402
from theanine.builders import OpFromGraph  # noqa: E402
from theanine.ifelse import ifelse  # noqa: E402
from theanine.printing import Print  # noqa: E402
from theanine.tensor.opt import assert_  # noqa: E402


def _recording(label, calls):
    """A Print that appends `label` to `calls` each time it runs."""
    return Print(label, global_fn=lambda op, v: calls.append(label))


def _kinds(f):
    return {type(n.op).__name__ for n in f.maker.fgraph.toposort()}


def test_ifelse_is_one_jitted_cond_that_runs_only_the_branch_taken():
    calls = []
    c, x = T.iscalar("c"), T.dvector("x")
    out = ifelse(c, _recording("then", calls)(T.exp(x)).sum(),
                 _recording("else", calls)(x * 2).sum())
    f = theano.function([c, x], out, mode="JAX")
    assert jax_fn(f).plan.single() and "LazyIfElse" in _kinds(f)
    ref = theano.function([c, x], out, mode="PY")
    xv = np.array([0.5, -1.0, 2.0])
    for cond in (1, 0, 0, 1):
        expected = ref(cond, xv)
        calls.clear()
        np.testing.assert_allclose(f(cond, xv), expected, rtol=1e-12)
        assert calls == ["then" if cond else "else"]


def test_ifelse_several_outputs_and_gradient_match_py():
    c, x, w = T.dscalar("c"), T.dvector("x"), T.dvector("w")
    a, b = ifelse(T.gt(c, 0), [T.tanh(w * x).sum(), w ** 2], [(w - x).sum() * 3, x + w])
    cost = a + b.sum()
    for cv in (1.0, -1.0):
        both([c, x, w], [a, b, theano.grad(cost, w)],
             [np.float64(cv), np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 0.5])])


def test_ifelse_in_a_loop_runs_the_branch_of_each_step():
    calls = []
    a = T.dvector("a")
    h0 = T.dscalar("h0")

    def step(a_t, h):
        return ifelse(T.gt(a_t, 0), _recording("pos", calls)(h + a_t), h * 0.5 - a_t)

    hs, _ = theano.scan(step, sequences=a, outputs_info=h0)
    av = np.array([1.0, -2.0, 3.0, 4.0, -1.0])
    ref = theano.function([a, h0], hs, mode="PY")(av, np.float64(0.3))
    calls.clear()
    f = theano.function([a, h0], hs, mode="JAX")
    np.testing.assert_allclose(f(av, np.float64(0.3)), ref, rtol=1e-12)
    assert calls == ["pos"] * 3  # the steps with a_t > 0, once each
    assert jax_fn(f).plan.single()


def test_ifelse_branches_of_different_shapes_run_on_the_host():
    c, x = T.iscalar("c"), T.dvector("x")
    with pytest.warns(UserWarning, match="LazyIfElse"):
        for cond in (1, 0):
            got = both([c, x], [ifelse(c, x[:2], x) * 2], [np.int32(cond), np.arange(3.0)])
            assert got[0].shape == ((2,) if cond else (3,))


def test_op_from_graph_is_traced_in_place_with_its_gradient():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    u, v = T.dmatrix("u"), T.dmatrix("v")
    op = OpFromGraph([u, v], [T.tanh(T.dot(u, v)), (u * 2).sum()], name="layer")
    h, s = op(x, y)
    cost = (h ** 2).sum() + s
    f = theano.function([x, y], cost, mode="JAX")
    assert jax_fn(f).plan.single() and "OpFromGraph" in _kinds(f)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    both([x, y], [cost, *theano.grad(cost, [x, y])], args)


def test_op_from_graph_with_grad_overrides():
    x = T.dvector("x")
    u = T.dvector("u")
    op = OpFromGraph([u], [u ** 2], grad_overrides=lambda ins, gs: [gs[0] * 10])
    cost = op(x).sum()
    got = both([x], [cost, theano.grad(cost, x)], [np.array([1.0, 2.0])])
    np.testing.assert_array_equal(got[1], [10.0, 10.0])


def test_assert_on_values_raises_after_the_call_and_keeps_shared_values():
    x = T.dvector("x")
    w = theano.shared(np.ones(3), name="w")
    f = theano.function([x], assert_(x * 2, T.all(x > 0)).sum(), updates=[(w, w + x)],
                        mode="JAX")
    assert f(np.ones(3)) == 6.0
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])
    for mode in ("PY", "JAX"):
        g = theano.function([x], assert_(x * 2, T.all(x > 0)).sum(), updates=[(w, w + x)],
                            mode=mode)
        with pytest.raises(AssertionError, match="Assert failed"):
            g(-np.ones(3))
        np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])


def test_specify_shape_checks_constant_and_symbolic_shapes():
    x, n = T.dmatrix("x"), T.lscalar("n")
    f = theano.function([x], T.specify_shape(x, (2, 3)).sum(), mode="JAX")
    assert f(np.ones((2, 3))) == 6.0
    with pytest.raises(AssertionError, match=r"expected shape \(2, 3\).*\(3, 3\)"):
        f(np.ones((3, 3)))
    g = theano.function([x, n], T.specify_shape(x, [n, 3]).sum(), mode="JAX")
    assert g(np.ones((4, 3)), 4) == 12.0
    with pytest.raises(AssertionError, match="specify_shape"):
        g(np.ones((4, 3)), 5)


def test_equal_graphs_each_replan_on_their_own_nodes():
    """A node found untraceable on the first call runs on the host; a second function
    built from the same graph (structurally equal: the shared compile cache) does not
    reuse the failed trace and plans its own nodes (this used to loop for ever)."""
    c, x, w = T.dscalar("c"), T.dvector("x"), T.dvector("w")
    a, b = ifelse(T.gt(c, 0), [T.tanh(w * x).sum(), w ** 2], [(w - x).sum() * 3, x + w])
    outs = [a, b, theano.grad(a + b.sum(), w)]
    args = [np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 0.5])]
    ref = theano.function([c, x, w], outs, mode="PY")
    for cv in (1.0, -1.0, 1.0):
        f = theano.function([c, x, w], outs, mode="JAX")
        for got, exp in zip(f(np.float64(cv), *args), ref(np.float64(cv), *args)):
            np.testing.assert_allclose(got, exp, rtol=1e-12)
