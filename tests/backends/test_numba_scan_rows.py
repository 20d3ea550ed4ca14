"""The numba Scan loop's memory per step: sequences read in place whatever their
strides (in order, reversed, transposed, longer than the steps), carries computed
elementwise written into their trace's row (or, untraced, into one of two rows) where
the next step reads them, and sigmoid(x) with sigmoid(-x) from one exp; values equal
py's in every case."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import backend_mode
from theanine.backends.numba import linker as numba_linker
from theanine.scan.op import Scan

pytestmark = pytest.mark.usefixtures("numba_strict")

R = np.random.default_rng(5)


def both(inputs, outputs, args):
    """py's and numba's results; the numba function's Scan nodes' kernel texts."""
    kw = dict(on_unused_input="ignore")
    ref = theano.function(inputs, outputs, mode=backend_mode("py"), **kw)(*args)
    f = theano.function(inputs, outputs, mode=backend_mode("numba"), **kw)
    got = f(*args)
    for a, b in zip(ref, got):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    texts = [numba_linker.kernel_text(n) for n in f.maker.fgraph.toposort()
             if isinstance(n.op, Scan)]
    return got, texts


def gated_step(kt, vt, h):
    z = T.nnet.sigmoid(kt)
    return (1 - z) * h + z * vt


@pytest.mark.parametrize("view", ["as is", "reversed", "transposed", "longer reversed"])
def test_sequences_of_any_strides(view):
    K, V = T.dmatrix("k"), T.dmatrix("v")
    n = T.lscalar("n")
    seq = {"as is": K, "reversed": K[::-1], "transposed": K.T,
           "longer reversed": K[::-1]}[view]
    steps = n if view == "longer reversed" else None
    h, _ = theano.scan(gated_step, sequences=[seq, V], outputs_info=T.zeros((5,)),
                       n_steps=steps)
    k = R.normal(size=(5, 40) if view == "transposed" else (40, 5))
    v = R.normal(size=(40, 5))
    with theano.config.change_flags({"scan.parallel_linear": False}):
        got, texts = both([K, V, n], [h], [k, v, np.int64(23)])
    assert got[0].shape == ((23, 5) if view == "longer reversed" else (40, 5))
    assert all("c_rows(s0)" in t and "c_rows(s1)" in t for t in texts) and texts


def test_rows_of_a_3d_sequence_reversed_and_go_backwards():
    X = T.tensor3("X")
    h, _ = theano.scan(lambda x, h: T.tanh(x.sum(axis=0) + 0.5 * h), sequences=X[::-1],
                       outputs_info=T.zeros((4,)), go_backwards=True)
    with theano.config.change_flags({"scan.parallel_linear": False}):
        both([X], [h], [R.normal(size=(30, 3, 4))])


@pytest.mark.parametrize("case", ["trace", "trace and gradient", "last two", "last one",
                                  "final only"])
def test_elementwise_carries_written_in_place(case):
    K, V = T.dmatrix("k"), T.dmatrix("v")
    h, _ = theano.scan(gated_step, sequences=[K, V], outputs_info=T.zeros((6,)))
    outs = {"trace": [h], "trace and gradient": [h, theano.grad((h ** 2).sum(), K)],
            "last two": [h[-2:]], "last one": [h[-1]], "final only": [h[-1] * 2]}[case]
    args = [R.normal(size=(37, 6)), R.normal(size=(37, 6))]
    with theano.config.change_flags({"scan.parallel_linear": False}):
        got, texts = both([K, V], outs, args)
        both([K, V], outs, [a[:1] for a in args])  # one step: no row written in place
        if case in ("trace", "trace and gradient"):
            both([K, V], outs, [a[:0] for a in args])
    assert any("bodyd" in t for t in texts)
    if case == "trace and gradient":
        # the gradient's loop fuses sigmoid(k) and sigmoid(-k) of two nodes: one exp
        assert "sigmoid_pair_f64(" in texts[-1] and "sigmoid_f64(" not in texts[-1]
    if case == "trace":
        # the final state leaves apart from the trace it was written into
        assert "c0 = c0.copy()" in texts[0]


def test_a_final_state_is_not_a_view_of_the_trace():
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    h, _ = theano.scan(lambda xt, h: T.tanh(xt + h), sequences=x, outputs_info=h0)
    with theano.config.change_flags({"scan.parallel_linear": False}):
        f = theano.function([x, h0], h, mode=backend_mode("numba"))
        scans = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]
        kernel = numba_linker.kernel_text(scans[0])
        ns = {}
        exec(kernel.replace(", cache=True", ""), ns)  # noqa: S102
        vals = [np.asarray(9), R.normal(size=(9, 3)), np.zeros(3)]
        node_outs = ns["kernel"](*vals)
    trace, final = node_outs[0], node_outs[1]
    np.testing.assert_array_equal(trace[-1], final)
    assert not np.shares_memory(trace, final)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_of_x_and_of_minus_x_from_one_exp(dtype):
    x, a, b = (T.tensor(dtype, (False,), name=s) for s in "xab")
    sg = T.nnet.sigmoid
    outs = [sg(-x) * a + sg(x) * b, sg(x) * a - sg(-x) * b, sg(x) + sg(-b)]
    # one function each: one fused loop each (sigmoids shared by several loops are not)
    fs = [theano.function([x, a, b], o, mode=backend_mode("numba"), on_unused_input="ignore")
          for o in outs]
    xv = np.concatenate([np.linspace(-800, 800, 1601), [0.0, -0.0, np.inf, -np.inf, np.nan],
                         R.normal(size=50) * 4]).astype(dtype)
    av, bv = (R.normal(size=xv.size).astype(dtype) for _ in range(2))
    with np.errstate(over="ignore"):
        xl = xv.astype(np.longdouble)
        sp, sm = 1 / (1 + np.exp(-xl)), 1 / (1 + np.exp(xl))
        bl = bv.astype(np.longdouble)
        want = [sm * av + sp * bv, sp * av - sm * bv, sp + 1 / (1 + np.exp(bl))]
    tol = 1e-6 if dtype == "float32" else 1e-15
    for f, w, pairs in zip(fs, want, [1, 1, 0]):  # sigmoid(-b) is no partner of sigmoid(x)
        g = f(xv, av, bv)
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w.astype(np.float64), rtol=tol * 4, atol=tol,
                                   equal_nan=True)
        texts = [numba_linker.kernel_text(n) for n in f.maker.fgraph.toposort()]
        assert sum(t.count(f"sigmoid_pair_f{dtype[-2:]}(") for t in texts) == pairs
