"""Modes (FAST_RUN -> numba, NUMBA, DebugMode), object-mode fallback with a
one-time warning, background compilation. The registry's coverage of the
built-in ops: test_registry.py."""

import warnings

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA
from theanine import cache
from theanine.backends.numba import background, linker, registry, store
from theanine.backends.numba.debug import DebugModeError
from theanine.compile.mode import get_mode
from theanine.graph.basic import Apply, Op

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


class DoubleOp(Op):
    """A user's Theano-style op (perform only): no numba implementation."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 2


def test_fast_run_is_numba_and_named_modes(monkeypatch):
    assert get_mode("FAST_RUN").backend == "numba"
    assert get_mode("NUMBA").backend == "numba"
    assert get_mode("DEBUG").backend == "debug"
    assert get_mode("DebugMode").backend == "debug"
    monkeypatch.setenv("THEANINE_BACKEND", "py")
    assert get_mode("FAST_RUN").backend == "py"


def test_user_op_runs_in_object_mode_with_one_warning():
    linker._warned.discard("DoubleOp")
    x = T.vector("x")
    with pytest.warns(UserWarning, match="DoubleOp runs in object mode"):
        f = theano.function([x], DoubleOp()(T.exp(x)) + 1, mode="NUMBA")
    np.testing.assert_allclose(f(np.zeros(3)), np.full(3, 3.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        theano.function([x], DoubleOp()(x), mode="NUMBA")  # warned once only


def test_user_op_inside_scan_falls_back_to_py_scan():
    linker._warned.discard("Scan")
    x = T.vector("x")
    h, _ = theano.scan(lambda a, h: DoubleOp()(h) + a, sequences=x,
                       outputs_info=T.constant(0.0))
    with linker.policy("sync", "all"), pytest.warns(UserWarning, match="object mode"):
        f = theano.function([x], h, mode="NUMBA")
    np.testing.assert_allclose(f(np.ones(3)), [1.0, 3.0, 7.0])


def test_debug_mode_reports_a_mismatching_implementation():
    class Halve(DoubleOp):
        def perform(self, node, inputs, output_storage):
            output_storage[0][0] = inputs[0] / 2

    @registry.register(Halve)
    def _wrong(ctx, node, ins, outs):  # deliberately wrong: doubles instead of halving
        ctx.line(f"{outs[0]} = {ins[0]} * 2.0")

    x = T.vector("x")
    ok = theano.function([x], T.tanh(x) * 3, mode="DebugMode")
    np.testing.assert_allclose(ok(np.ones(2)), np.tanh(1.0) * 3)
    f = theano.function([x], Halve()(x), mode="DebugMode")
    with pytest.raises(DebugModeError, match="Halve"):
        f(np.ones(2))


@pytest.mark.slow
def test_background_compile_swaps_in(tmp_path, monkeypatch):
    monkeypatch.setenv("THEANINE_CACHE_DIR", str(tmp_path))
    store.forget_loaded()
    x = T.vector("x")
    y = T.exp(-x * x) * 3 + T.tanh(x)  # one Composite node (fusion)
    with linker.policy("background"):
        f = theano.function([x], y, mode="NUMBA")
    assert f.fn.kernels and not f.fn.ready()
    v = np.linspace(-2, 2, linker._SMALL + 44)  # a size the compiled kernel serves
    ref = np.exp(-v * v) * 3 + np.tanh(v)
    np.testing.assert_allclose(f(v), ref)  # NumPy while the worker compiles
    background.wait(timeout=300)
    np.testing.assert_allclose(f(v), ref)
    assert f.fn.ready()
    assert cache.info()[1] > 0
    store.forget_loaded()
