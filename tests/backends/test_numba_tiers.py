"""The numba backend's tiers: a loop started on NumPy continues compiled from where
it is (never from step 0), and user Python code in a graph runs exactly as often as
the graph says (issue 13 item 6, issue 14)."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA
from theanine.compile.ops import as_op

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    from theanine.backends.numba import store

    monkeypatch.setenv("THEANINE_CACHE_DIR", str(tmp_path))
    store.forget_loaded()
    yield tmp_path
    store.forget_loaded()


def counting_loop():
    calls = []

    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def logged(v):
        calls.append(1)
        return v * 0.5

    x = T.matrix("x")
    h, _ = theano.scan(lambda row, h: logged(h) + T.tanh(row), sequences=x,
                       outputs_info=T.zeros(3))
    return x, h, calls


def reference(xv):
    h, out = np.zeros(3), []
    for row in xv:
        h = h * 0.5 + np.tanh(row)
        out.append(h)
    return np.array(out)


@pytest.mark.slow
def test_a_long_numpy_loop_continues_compiled_from_where_it_is(fresh_cache, monkeypatch):
    from theanine.backends.numba import linker

    monkeypatch.setattr(linker, "LONG_SCAN", 0.0)  # every loop counts as long:
    monkeypatch.setattr(linker, "PAUSE_AFTER", 0.0)  # paused at step 16
    monkeypatch.setattr(linker, "compile_estimate", lambda k: 0.0)
    x, h, calls = counting_loop()
    with linker.policy("auto"):
        f = theano.function([x], h, mode="FAST_RUN")
    (nk,) = [k for k in f.fn.kernels if type(k.node.op).__name__ == "Scan"]
    xv = np.random.default_rng(0).normal(size=(100, 3))
    assert not nk.ready()
    np.testing.assert_allclose(f(xv), reference(xv), rtol=1e-12)
    assert nk.ready()  # compiled during the call ...
    assert len(calls) == 100  # ... and the 84 steps left ran compiled, once each
    np.testing.assert_allclose(f(xv[:7]), reference(xv[:7]), rtol=1e-12)
    assert len(calls) == 107


@pytest.mark.slow
def test_a_numpy_loop_that_cannot_compile_continues_on_numpy(fresh_cache, monkeypatch):
    from theanine.backends.numba import linker

    monkeypatch.setattr(linker, "LONG_SCAN", 0.0)
    monkeypatch.setattr(linker, "PAUSE_AFTER", 0.0)
    monkeypatch.setattr(linker, "compile_estimate", lambda k: 0.0)
    monkeypatch.setattr(linker.NodeKernel, "compile_now", lambda self, strict=False: False)
    x, h, calls = counting_loop()
    with linker.policy("auto"):
        f = theano.function([x], h, mode="FAST_RUN")
    xv = np.random.default_rng(1).normal(size=(50, 3))
    np.testing.assert_allclose(f(xv), reference(xv), rtol=1e-12)
    assert len(calls) == 50


def test_a_compiled_loop_failing_at_its_last_step_is_not_run_again(monkeypatch):
    """Issue 13 item 10: the failing node is read from the traceback; the graph is not
    re-run on NumPy (a 1e6-step loop failing at its end took 8-11 s to raise)."""
    from theanine.backends.numba import linker
    from theanine.scan.op import Scan

    n, calls = 1000, []

    @as_op(itypes=[T.dscalar], otypes=[T.dscalar])
    def checked(v):
        calls.append(1)
        if v > n - 0.5:
            raise FloatingPointError(f"too large at {v}")
        return v

    x = T.dvector("x")
    h, _ = theano.scan(lambda a, h: checked(h + a), sequences=x, outputs_info=T.constant(0.0))
    with linker.policy("strict"):
        f = theano.function([x], h[-1], mode="FAST_RUN")
    assert all(k.ready() for k in f.fn.kernels)

    def boom(*_):
        raise AssertionError("the NumPy loop ran")

    monkeypatch.setattr(Scan, "inner_function", boom)
    assert f(np.ones(n - 1)) == n - 1
    del calls[:]
    with pytest.raises(FloatingPointError, match="too large") as info:
        f(np.ones(n))
    assert len(calls) == n  # the failing step is the last; nothing ran twice
    assert "Scan" in str(info.value)
