"""The jax backend's call path after the first call (entry.py): the generated caller
goes straight to the fast entry, which runs the compiled executable (outside x64 when
no input is 64-bit, inside it otherwise). Every result is compared with py; the checks
that the path is taken look at the objects, not at timings."""

import os
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.jax import entry  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def both(inputs, outputs, **kw):
    return (theano.function(inputs, outputs, mode="PY", **kw),
            theano.function(inputs, outputs, mode="JAX", **kw))


def same(got, want):
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.dtype == w.dtype and g.shape == w.shape
        assert g.base is None and g.flags.writeable  # the caller's own array
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def executable_of(f):
    """The [executable, its C++ entry] list the fast entry closes over, or None."""
    cells = f.fn._fast.__code__.co_freevars
    return dict(zip(cells, (c.cell_contents for c in f.fn._fast.__closure__)))["exe"]


def test_caller_is_rebound_to_the_fast_entry_and_back_on_replan():
    x, y = T.fvector("x"), T.fvector("y")
    p, f = both([x, y], [T.tanh(x * y) + x, x.sum()])
    call_globals = f._call.__globals__
    assert call_globals["_fn"] is f.fn  # before the first call: the general path
    xv, yv = np.linspace(-1, 1, 5, dtype="float32"), np.ones(5, "float32")
    same(f(xv, yv), p(xv, yv))
    assert f.fn._fast is not None and call_globals["_fn"] is f.fn._fast
    same(f(xv, yv), p(xv, yv))
    f.fn._set_fast(None)  # what a replan does: the caller goes back to the object
    assert call_globals["_fn"] is f.fn
    same(f(xv, yv), p(xv, yv))
    assert call_globals["_fn"] is f.fn._fast


def test_narrow_inputs_run_the_executable_and_follow_new_shapes():
    x, i = T.fmatrix("x"), T.iscalar("i")
    # int64 outputs (a shape, an argmax) computed from 32-bit inputs keep their type
    outs = [T.exp(x) * 2, x.shape[0] * 3, T.argmax(x[i]), x[i].sum()]
    p, f = both([x, i], outs)
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=s).astype("float32") for s in ((3, 4), (5, 2)))
    same(f(a, 1), p(a, 1))
    exe = executable_of(f)
    assert exe is not None
    first = exe[0]
    for k in range(3):  # alternate shapes: each call right, the executable follows
        for v in (b, a):
            same(f(v, k % 2), p(v, k % 2))
            assert [s.shape for s in exe[0].args_info[0]][0] == v.shape
    assert exe[0] is not first
    # a bad index is the py error, from the fast path
    with pytest.raises(IndexError):
        f(a, 7)
    same(f(a, 2), p(a, 2))
    # the user's JAX configuration is unchanged: x64 was entered only inside
    assert jax.numpy.asarray(np.zeros(1)).dtype == np.dtype(
        "float64" if jax.config.jax_enable_x64 else "float32")


def test_64_bit_inputs_run_the_executable_under_x64():
    x = T.dvector("x")
    p, f = both([x], [T.exp(x) + 1e-300])  # a float64-only constant
    xv = np.linspace(-1, 1, 4)
    same(f(xv), p(xv))
    same(f(xv), p(xv))
    assert not entry.narrow(f.fn.fgraph.inputs)
    # nothing around the executable: the entry is its own, called inside x64
    entry_fn = f._call.__globals__["_fn"]
    assert f.fn._raw and entry_fn is f.fn._fast
    for v in (np.linspace(-1, 1, 7), xv, np.linspace(0, 2, 7)):  # new shapes: retried
        same(f(v), p(v))
    same(f(v), p(v))  # the second call of these shapes: the executable's entry again
    assert f.fn._raw
    with jax.enable_x64(True):  # the caller's JAX has x64 on: the entry enters no context
        same(f(v), p(v))
        same(f(xv), p(xv))  # (and new shapes are retried there too)
        same(f(xv), p(xv))
    with jax.enable_x64(False):
        same(f(xv), p(xv))
    # the user's JAX configuration is unchanged: x64 was entered only inside
    assert jax.numpy.asarray(np.zeros(1)).dtype == np.dtype(
        "float64" if jax.config.jax_enable_x64 else "float32")


def test_64_bit_inputs_with_host_checks_through_the_executable():
    x, i = T.dmatrix("x"), T.lscalar("i")
    p, f = both([x, i], [T.exp(x[i]) * 2, x.shape[0] * 3])
    a, b = (np.random.default_rng(0).normal(size=s) for s in ((3, 4), (5, 2)))
    same(f(a, 1), p(a, 1))
    exe = executable_of(f)
    assert exe is not None and exe[2]  # the index's check runs on the host
    for k in range(3):  # alternate shapes: each call right, the executable follows
        for v in (b, a):
            same(f(v, k % 2), p(v, k % 2))
            assert [s.shape for s in exe[0].args_info[0]][0] == v.shape
    with pytest.raises(IndexError):
        f(a, 7)
    same(f(a, -1), p(a, -1))


def test_scalar_recurrence_float64_entry():
    # benchmarks/jax_bench.py case 1: a LinearRecurrence with float64 inputs
    x, c = T.dvector("x"), T.dscalar("c")
    h, _ = theano.scan(lambda a, h, c: c * h + a, sequences=x, outputs_info=T.constant(0.0),
                       non_sequences=c)
    p, f = both([x, c], [h])
    xv = np.random.default_rng(1).normal(size=50)
    for _ in range(3):
        same(f(xv, 0.9), p(xv, 0.9))
    assert f.fn._raw
    same(f(xv[:20], 0.5), p(xv[:20], 0.5))


def test_donated_shared_value_through_the_executable_unchanged_on_error():
    x, i = T.fvector("x"), T.iscalar("i")
    w = theano.shared(np.arange(4, dtype="float32"), name="w")
    f = theano.function([x, i], x[i] * w, updates=[(w, w + x[i])], mode="JAX")
    xv = np.linspace(-1, 1, 4, dtype="float32")
    want = np.arange(4, dtype="float32")
    for k in range(4):
        got = f(xv, k)
        np.testing.assert_allclose(got, xv[k] * want, rtol=1e-6)
        want = want + xv[k]
        np.testing.assert_allclose(w.get_value(), want, rtol=1e-6)
    assert executable_of(f) is not None
    with pytest.raises(IndexError):
        f(xv, 9)
    np.testing.assert_allclose(w.get_value(), want, rtol=1e-6)
    # two shared variables holding one array: the donated one is copied first
    v = theano.shared(np.ones(3, "float32"), name="v")
    u = theano.shared(np.ones(3, "float32"), name="u")
    g = theano.function([], v + u, updates=[(v, v * 2)], mode="JAX")
    np.testing.assert_allclose(g(), 2 * np.ones(3))
    np.testing.assert_allclose(g(), 3 * np.ones(3))
    u.container.store_device(v.container.raw, np.asarray)  # one device array in both
    np.testing.assert_allclose(g(), 8 * np.ones(3))
    np.testing.assert_allclose(v.get_value(), 8 * np.ones(3))


def test_loading_the_backend_imports_its_lowerings():
    # the lowering modules (and the JAX modules they need: jax.scipy.linalg, ...) are
    # imported with the backend, not at the first function's compilation
    code = ("import sys; from theanine import backends; backends.load('jax'); "
            "from theanine.backends.jax import LOWERING_MODULES; "
            "from theanine.backends.jax.registry import lowerings; "
            "assert lowerings._loaded and all(m in sys.modules for m in LOWERING_MODULES); "
            "assert 'jax.scipy.linalg' in sys.modules; print('ok')")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_entry_becomes_the_executable_and_retries_new_shapes():
    # nothing to do around the executable (no donation, no check): after the first
    # calls the caller calls XLA's own entry; other shapes come back through retry
    x, y = T.fvector("x"), T.fvector("y")
    p, f = both([x, y], [T.tanh(x * y) + x])
    a, b = (np.linspace(-1, 1, n, dtype="float32") for n in (5, 8))
    for _ in range(3):
        same(f(a, a), p(a, a))
    entry = f._call.__globals__["_fn"]
    assert f.fn._raw and entry is f.fn._fast and not hasattr(entry, "__code__")
    for v in (b, a, b):  # each new shape: retried, then a new executable entry
        same(f(v, v), p(v, v))
        # the backend's own entry too (device arrays out)
        np.testing.assert_allclose(np.asarray(f.fn(v, v)[0]), p(v, v)[0], rtol=1e-6)
    same(f(b, b), p(b, b))
    assert f.fn._raw
    with pytest.raises(ValueError):  # a real error still comes out, explained
        f(a, b)
    same(f(a, a), p(a, a))


def test_donated_update_through_the_executable_entry():
    x = T.fvector("x")
    w = theano.shared(np.ones(4, "float32"), name="w")
    f = theano.function([x], (w * x).sum(), updates=[(w, w - 0.5 * x * w)], mode="JAX")
    xv = np.linspace(-1, 1, 4, dtype="float32")
    want = np.ones(4, "float32")
    for _ in range(4):
        np.testing.assert_allclose(f(xv), (want * xv).sum(), rtol=1e-6)
        want = want - 0.5 * xv * want
        np.testing.assert_allclose(w.get_value(), want, rtol=1e-6)
    assert f.fn._raw  # one shared value: it cannot be another argument
    # the caller reads the device value and stores the new one itself
    assert "s0 = _c0.raw if _c0.on_device" in f._call.source
    assert "_c0.store_device(u0, _toh)" in f._call.source
    w.set_value(np.ones(6, "float32"))  # new shapes: retried
    xv = np.linspace(-1, 1, 6, dtype="float32")
    np.testing.assert_allclose(f(xv), xv.sum(), rtol=1e-6)
    np.testing.assert_allclose(w.get_value(), 1 - 0.5 * xv, rtol=1e-6)
    before = w.get_value()
    with pytest.raises(ValueError):  # shapes that do not broadcast: nothing written
        f(np.ones(4, "float32"))
    np.testing.assert_array_equal(w.get_value(), before)
