"""The book's chapter 10 case, reduced (tests/compat/ch10_model.py): a 3-layer LSTM and
a recurrent highway network with ifelse dropout, trained with givens={is_training: 1}.
They build and compile in size linear in their depth, the training step equals the
same model built without ifelse, and the ifelse is gone from the compiled graph."""

import importlib.util

import numpy as np
import pytest

import theanine as theano
from theanine.graph.traversal import toposort
from theanine.ifelse import IfElse, LazyIfElse

from .ch10_model import build, train_function

HAVE_NUMBA = importlib.util.find_spec("numba") is not None


@pytest.fixture(params=["py"] + ([pytest.param("numba", marks=pytest.mark.slow)]
                                 if HAVE_NUMBA else []))
def model_mode(request):
    """py, and numba as users get it (policy 'auto': NumPy runs until a kernel is on
    disk or proves hot). Compiling these models' gradient loops at link time takes
    minutes on a loaded 2-core machine; tests/compat/test_ifelse.py checks compiled
    ifelse kernels."""
    yield theano.Mode(linker=request.param)


def _data(seed=0, steps=5, batch=3, n_in=6):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(steps, batch, n_in)) for _ in range(2)]


@pytest.mark.parametrize("kind", ["lstm", "rhn"])
def test_training_step_equals_the_model_without_ifelse(model_mode, kind):
    x, y = _data()
    f, params = train_function(kind, mode=model_mode)
    ref, ref_params = train_function(kind, mode=model_mode, use_ifelse=False)
    assert not any(isinstance(n.op, (IfElse, LazyIfElse)) for n in f.maker.fgraph.toposort())
    for _ in range(2):  # two steps: the updates agree too
        got, want = f(x, y), ref(x, y)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for p, q in zip(params, ref_params):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=1e-10)


@pytest.mark.parametrize("kind", ["lstm", "rhn"])
def test_graph_size_is_linear_in_depth(kind):
    sizes = []
    for layers in (1, 2, 3):
        inputs, cost, params, _, _ = build(kind, n_layers=layers)
        sizes.append(len(toposort(theano.grad(cost, params))))
    steps = np.diff(sizes)
    assert len(set(steps.tolist())) == 1, sizes  # the same cost per layer


def test_evaluation_mode_runs_without_dropout(model_mode):
    x, y = _data(1)
    inputs, cost, _, updates, is_training = build("lstm")
    ev = theano.function(inputs, cost, givens={is_training: np.int32(0)}, mode=model_mode,
                         updates=updates)
    plain = build("lstm", use_ifelse=False)  # the same weights, dropout always on
    train = theano.function(plain[0], plain[1], updates=plain[3], mode=model_mode)
    first = ev(x, y)
    assert np.isfinite(first) and ev(x, y) == first  # no dropout: deterministic
    assert train(x, y) != first
