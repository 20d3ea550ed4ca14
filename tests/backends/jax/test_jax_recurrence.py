"""LinearRecurrence on jax both ways: lax.associative_scan (GPUs) and a sequential
lax.scan (CPUs, where it is faster), each against py for every mode and direction;
the platform decides which one runs unless backends/jax/recurrence.PARALLEL says."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.jax import recurrence  # noqa: E402
from theanine.tensor.recurrence import MODES, linear_recurrence  # noqa: E402


def _graph(mode, reverse, shape, time_bcast=False):
    """time_bcast: the per-step operands have one row, broadcast along the steps."""
    h0 = T.TensorType("float64", (False,) * len(shape))("h0")
    ops = []
    for name in MODES[mode]:
        bc = (False, False) if name == "M" else (time_bcast,) + (False,) * len(shape)
        ops.append(T.TensorType("float64", bc)(name))
    n = T.lscalar("n")
    trace, final = linear_recurrence(mode, h0, *ops, n=n, reverse=reverse)
    return [n, h0, *ops], [trace, final]


def _values(mode, n, shape, rng, rows=None):
    """Operand values; rows=1 gives operands broadcast along time (one row)."""
    rows = n if rows is None else rows
    vals = []
    for name in MODES[mode]:
        if name == "M":
            d = shape[-1]
            vals.append(rng.normal(size=(d, d)) * 0.5 / np.sqrt(d))
        elif name == "A":
            vals.append(rng.uniform(0.9, 1.05, size=(rows,) + shape))
        else:
            vals.append(rng.normal(size=(rows,) + shape))
    return vals


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_both_lowerings_agree_with_py(monkeypatch, mode, reverse, parallel):
    monkeypatch.setattr(recurrence, "PARALLEL", parallel)
    rng = np.random.default_rng(0)
    shape = (2, 3)
    for rows in (None, 1):
        inputs, outputs = _graph(mode, reverse, shape, time_bcast=rows == 1)
        ref = theano.function(inputs, outputs, mode="PY")
        f = theano.function(inputs, outputs, mode="JAX")
        for n in (0, 1, 7, 97):
            args = [np.int64(n), rng.normal(size=shape), *_values(mode, n, shape, rng, rows)]
            for want, got in zip(ref(*args), f(*args)):
                assert got.shape == want.shape and got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("parallel", [True, False])
def test_the_chosen_lowering_is_the_one_compiled(monkeypatch, parallel):
    monkeypatch.setattr(recurrence, "PARALLEL", parallel)
    h0, a, b = np.zeros(3), np.full((50, 3), 0.9), np.ones((50, 3))
    lowered = jax.jit(lambda h, x, y: recurrence._recurrence("affine", False, 50, h, [x, y]))
    text = lowered.lower(h0, a, b).as_text()
    assert ("stablehlo.while" in text) is (not parallel)


def test_cpu_runs_loops_unless_told():
    assert recurrence.PARALLEL is None
    assert recurrence.parallel() is (jax.devices()[0].platform != "cpu")
