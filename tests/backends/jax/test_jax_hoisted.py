"""Hoisted products recomputed per step (backends/jax/hoisted.py): a loop sequence
that scan_hoist_sequences computed before the loop (``x_t W`` -> ``X W``) is read
from its buffer or recomputed in the step, chosen when tracing; both give py's
values and gradients, and the compiled program holds the product over all steps
only when the buffer is read."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.jax import hoisted  # noqa: E402
from theanine.backends.jax import linker as jax_linker  # noqa: E402

RNG = np.random.default_rng(0)
TT, B, D, H = 7, 3, 4, 5


def compiled_hlo(f, args):
    """The optimised HLO XLA compiled for a one-segment jax function."""
    fn = next(iter(f.fn.single.variants.values()))
    with jax.enable_x64(True):
        return fn.lower(*args).compile().as_text()


def run(inputs, outputs, args, recompute, monkeypatch):
    """The jax function with hoisted products forced read (False) or recomputed (True),
    compared with py; returns it. A product is recomputed only when forced."""
    made = []

    class Counted(hoisted.ProductRows):
        def __init__(self, *a):
            made.append(a)
            super().__init__(*a)

    monkeypatch.setattr(hoisted, "RECOMPUTE", recompute)
    monkeypatch.setattr(hoisted, "ProductRows", Counted)
    jax_linker._shared.clear()  # a structurally equal graph must trace anew
    ref = theano.function(inputs, outputs, mode="PY")(*args)
    f = theano.function(inputs, outputs, mode="JAX")
    for a, b in zip(ref, f(*args)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    assert bool(made) is recompute
    return f


def rnn(X, step_x=None, **kw):
    W, U, b, h0 = T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dmatrix("h0")
    step_x = step_x or (lambda xt, W: T.dot(xt, W))
    hs, _ = theano.scan(lambda xt, h, W, U, b: T.tanh(step_x(xt, W) + T.dot(h, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b], **kw)
    return [W, U, b, h0], hs


def rnn_args(d=D):
    return [RNG.normal(size=(d, H)) / 2, RNG.normal(size=(H, H)) / 2, RNG.normal(size=H),
            RNG.normal(size=(B, H))]


@pytest.mark.parametrize("recompute", [False, True])
def test_rnn_values_and_gradients_either_way(recompute, monkeypatch):
    X = T.dtensor3("X")
    params, hs = rnn(X)
    cost = (hs[-1] ** 2).sum() + hs.mean()
    args = [RNG.normal(size=(TT, B, D))] + rnn_args()
    ins = [X] + params
    f = run(ins, [cost, hs], args, recompute, monkeypatch)
    # the product over all steps (TT*B rows of H) is in the program only when read back
    assert (f"f64[{TT * B},{H}]" in compiled_hlo(f, args)) is not recompute
    grads = theano.grad(cost, [X] + params)
    run(ins, [cost] + grads, args, recompute, monkeypatch)


@pytest.mark.parametrize("recompute", [False, True])
def test_reversed_and_vector_sequences_either_way(recompute, monkeypatch):
    # rows of a reversed sequence; x_t a vector (Dot(X, W) without reshapes), the
    # state a vector; a product with a vector (W 1-d) inside a matrix state's step
    X = T.dtensor3("X")
    params, hs = rnn(X[::-1])
    args = [RNG.normal(size=(TT, B, D))] + rnn_args()
    run([X] + params, [hs, theano.grad(hs.sum(), X)], args, recompute, monkeypatch)

    Xv, W, h0 = T.dmatrix("Xv"), T.dmatrix("W"), T.dvector("h0")
    hs, _ = theano.scan(lambda xt, h, W: T.tanh(T.dot(xt, W) + h), sequences=Xv,
                        outputs_info=h0, non_sequences=W, go_backwards=True)
    args = [RNG.normal(size=(TT, D)), RNG.normal(size=(D, H)), RNG.normal(size=H)]
    run([Xv, W, h0], [hs, theano.grad(hs.sum(), W)], args, recompute, monkeypatch)

    X, w = T.dtensor3("X"), T.dvector("w")
    hs, _ = theano.scan(lambda xt, h, w: T.tanh(T.dot(xt, w) + h), sequences=X,
                        outputs_info=T.zeros((B,), "float64"), non_sequences=w)
    args = [RNG.normal(size=(TT, B, D)), RNG.normal(size=D)]
    run([X, w], [hs, theano.grad(hs.sum(), [X, w])[1]], args, recompute, monkeypatch)


def test_size_decides_on_cpu(monkeypatch):
    # on a CPU a step's product of RECOMPUTE_MACS multiply-adds or more is recomputed
    assert hoisted.RECOMPUTE is None
    assert hoisted.recompute(hoisted.RECOMPUTE_MACS)
    assert not hoisted.recompute(hoisted.RECOMPUTE_MACS - 1)
    monkeypatch.setattr(hoisted, "RECOMPUTE", False)
    assert not hoisted.recompute(10 * hoisted.RECOMPUTE_MACS)
    # the benchmark's sizes (B=32, D=64): H=256 recomputed, H=32 read from the buffer
    monkeypatch.setattr(hoisted, "RECOMPUTE", None)
    for h, expect in ((256, True), (32, False)):
        jax_linker._shared.clear()
        X, W = T.ftensor3("X"), T.fmatrix("W")
        hs, _ = theano.scan(lambda xt, h, W: T.tanh(T.dot(xt, W) + h), sequences=X,
                            outputs_info=T.zeros((32, h), "float32"), non_sequences=W)
        f = theano.function([X, W], hs[-1].sum(), mode="JAX")
        args = [np.ones((3, 32, 64), "float32"), np.full((64, h), 0.01, "float32")]
        np.testing.assert_allclose(f(*args), theano.function([X, W], hs[-1].sum(),
                                                             mode="PY")(*args), rtol=1e-5)
        assert (f"f32[96,{h}]" in compiled_hlo(f, args)) is not expect


@pytest.mark.parametrize("recompute", [False, True])
def test_product_of_a_computed_sequence_either_way(recompute, monkeypatch):
    # tanh(x_t) W: the rows recomputed are those of tanh(X), computed before the loop
    X = T.dtensor3("X")
    params, hs = rnn(X, step_x=lambda xt, W: T.dot(T.tanh(xt), W))
    args = [RNG.normal(size=(TT, B, D))] + rnn_args()
    run([X] + params, [hs, theano.grad(hs.sum(), X)], args, recompute, monkeypatch)
