"""The jax linker: modes, one jitted function, segments and specialised variants
where shapes depend on values, callbacks, run-time checks, float64."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine import backends  # noqa: E402
from theanine.backends.jax import callback, linker  # noqa: E402
from theanine.compile.ops import as_op  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def jax_fn(f):
    return f.fn


def both(inputs, outputs, args, **kw):
    ref = theano.function(inputs, outputs, mode="PY", **kw)(*args)
    got = theano.function(inputs, outputs, mode="JAX", **kw)(*args)
    ref = ref if isinstance(ref, list) else [ref]
    got = got if isinstance(got, list) else [got]
    for a, b in zip(ref, got):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        tol = 1e-5 if a.dtype in (np.float32, np.float16) else 1e-9
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol * 1e-3)
    return got


def test_mode_names_select_the_jax_linker():
    x = T.dvector("x")
    for mode in ("JAX", "jax", theano.Mode(linker="jax")):
        f = theano.function([x], 2 * x, mode=mode)
        assert isinstance(jax_fn(f), linker.JaxFunction)
        np.testing.assert_array_equal(f(np.arange(3.0)), [0, 2, 4])
    assert theano.compile.mode.get_mode("JAX").backend == "jax"


def _run(code, **env):
    e = {k: v for k, v in os.environ.items()
         if k not in ("THEANINE_BACKEND", "THEANO_FLAGS", "THEANINE_FLAGS")}
    e.update(PYTHONPATH=ROOT, **env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,
                          text=True, timeout=300)


PROBE = ("import theanine as theano, theanine.tensor as T\n"
         "x = T.dvector('x')\n"
         "f = theano.function([x], x + 1)\n"
         "print(type(f.fn).__module__, f(__import__('numpy').ones(2)).sum())\n")


@pytest.mark.slow  # two fresh interpreters importing jax
def test_env_and_flags_select_jax():
    for env in ({"THEANINE_BACKEND": "jax"}, {"THEANO_FLAGS": "mode=JAX"}):
        r = _run(PROBE, **env)
        assert r.returncode == 0, r.stderr
        assert "theanine.backends.jax.linker 4.0" in r.stdout


@pytest.mark.slow  # a fresh interpreter importing jax
def test_device_cuda_without_gpu_warns_once_and_runs_on_the_cpu():
    r = _run(PROBE + "f(__import__('numpy').ones(2))\n", THEANO_FLAGS="device=cuda")
    assert r.returncode == 0, r.stderr
    assert "theanine.backends.jax.linker 4.0" in r.stdout
    assert r.stderr.count("JAX sees none") == 1, r.stderr
    assert "runs on the CPU" in r.stderr


def test_missing_jax_is_a_clear_error(monkeypatch):
    for name in [m for m in sys.modules if m == "jax" or m.startswith("jax.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax raises ImportError
    monkeypatch.delitem(sys.modules, "theanine.backends.jax.linker", raising=False)
    with pytest.raises(ImportError, match=r"pip install theanine\[jax\]"):
        theano.Mode(linker="jax")
    with pytest.raises(ImportError, match=r"pip install theanine\[jax\]"):
        theano.function([T.dvector()], T.dvector() * 0 + 1, mode="JAX")

    with pytest.raises(ImportError, match=r"pip install theanine\[jax\]"):
        backends.load("jax")


def test_the_whole_graph_is_one_jitted_function():
    x, W = T.dmatrix("x"), T.dmatrix("W")
    h = T.tanh(T.dot(x, W))
    cost = (h ** 2).sum()
    f = theano.function([x, W], [cost, theano.grad(cost, W)], mode="JAX")
    plan = jax_fn(f).plan
    assert plan.single() and len(plan.steps) == 1
    assert len(plan.steps[0].nodes) == len(f.maker.fgraph.toposort())
    both([x, W], [cost, theano.grad(cost, W)], [np.random.rand(3, 4), np.random.rand(4, 2)])


def test_arange_of_an_input_compiles_one_variant_per_value():
    n = T.lscalar("n")
    out = (T.arange(n) ** 2).sum() + T.zeros((n, 2)).sum()
    f = theano.function([n], out, mode="JAX")
    for k in (0, 3, 5, 3):
        assert f(k) == sum(i * i for i in range(k))
    (seg,) = jax_fn(f).plan.steps
    assert len(jax_fn(f).runners[id(seg)].variants) == 3


def test_too_many_variants_warn_once_and_stay_correct(monkeypatch):
    monkeypatch.setattr(linker, "MAX_VARIANTS", 2)
    n = T.lscalar("n")
    f = theano.function([n], T.arange(n).sum(), mode="JAX")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert [int(f(k)) for k in (1, 2, 3, 4, 2)] == [0, 1, 3, 6, 1]
    msgs = [str(w.message) for w in rec if "compiled variants" in str(w.message)]
    assert len(msgs) == 1 and "'n'" in msgs[0]


def test_a_length_computed_from_data_splits_the_function():
    x = T.lmatrix("x")
    y = T.arange(x.sum()) * 2  # the length is a value of the matrix x
    out = [y, (y ** 2).sum() + x.sum()]
    got = both([x], out, [np.array([[1, 2], [0, 0]])])
    assert got[0].shape == (3,)
    plan = jax_fn(theano.function([x], out, mode="JAX")).plan
    assert plan.n_segments == 2 and not plan.specialised


def test_a_length_computed_from_a_small_input_specialises_on_it():
    x = T.lvector("x")
    y = T.arange(x.sum()) * 2  # the sum of a vector input: folded from its value
    both([x], [y], [np.array([1, 2, 0])])
    plan = jax_fn(theano.function([x], y, mode="JAX")).plan
    assert plan.n_segments == 1 and plan.specialised == {0}


def test_ops_with_value_dependent_shapes_run_between_segments():
    x = T.dvector("x")
    nz = x[T.nonzero(x > 0.5)]
    u = T.unique(T.cast(x * 3, "int64"))
    both([x], [nz * 2, T.exp(nz).sum(), u + 1], [np.array([0.1, 0.9, 0.7, 0.2, 0.95])])


def test_until_trace_feeds_more_computation_and_its_gradient():
    h0 = T.dvector("h0")

    def step(h):
        return h * 1.5, theano.scan_module.until(h.sum() > 20)

    hs, _ = theano.scan(step, outputs_info=h0, n_steps=100)
    cost = (hs ** 2).sum() + hs.shape[0]
    got = both([h0], [hs, cost, theano.grad(cost, h0)], [np.array([1.0, 2.0])])
    assert got[0].shape == (6, 2)  # 1.5**5 * 3 > 20: the sixth step stops the loop


def test_python_op_runs_through_a_callback_once_per_step_with_one_warning():
    calls = []

    @as_op(itypes=[T.dvector], otypes=[T.dvector],
           infer_shape=lambda node, shapes: [shapes[0]])
    def double(v):
        calls.append(1)
        return v * 2

    h0 = T.dvector("h0")
    hs, _ = theano.scan(lambda h: double(h) + 1, outputs_info=h0, n_steps=4)
    callback._warned.discard("FromFunctionOp")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        f = theano.function([h0], hs, mode="JAX")
        out = f(np.ones(2))
        f(np.ones(2))
    ref = theano.function([h0], hs, mode="PY")(np.ones(2))
    np.testing.assert_array_equal(out, ref)
    assert len(calls) == 4 * 2 + 4  # two calls on jax, one on py, 4 steps each
    names = [str(w.message) for w in rec if "io_callback" in str(w.message)]
    assert len(names) == 1 and "FromFunctionOp" in names[0] and "double" in names[0]


def test_python_op_without_infer_shape_runs_on_the_host():
    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def head(v):
        return v[:2].copy()

    x = T.dvector("x")
    both([x], [T.exp(head(x * 3)).sum()], [np.arange(5.0)])


def test_print_prints_once_per_call_in_order(capsys):
    x = T.dvector("x")
    a = theano.printing.Print("first")(x * 2)
    b = theano.printing.Print("second")(a + 1)
    f = theano.function([x], b.sum(), mode="JAX")
    f(np.ones(2))
    f(np.ones(2))
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["first", "second"] * 2


def test_index_out_of_bounds_raises_the_py_error():
    x, i = T.dvector("x"), T.lscalar("i")
    f = theano.function([x, i], x[i] * 2, mode="JAX")
    assert f(np.arange(3.0), -1) == 4
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.arange(3.0), 3)


def test_float64_without_changing_the_jax_configuration():
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 1e-300, mode="JAX")
    r = f(np.array([1.0]))
    assert r.dtype == np.float64
    np.testing.assert_allclose(r, np.exp(1.0) * 1e-300, rtol=1e-15)  # not 0 in float32
    assert not jax.config.jax_enable_x64
    assert jax.numpy.ones(1).dtype == np.float32  # user JAX code still defaults to 32 bits


def test_float32_graph_stays_float32():
    x = T.fmatrix("x")
    out = T.nnet.softmax(x * 2)
    r = both([x], [out], [np.random.rand(3, 4).astype("float32")])[0]
    assert r.dtype == np.float32


def test_numpy_integer_and_cast_semantics():
    x, y = T.lvector("x"), T.lvector("y")
    # integer division by zero is 0, floats cast to narrow ints wrap around (x86 NumPy)
    both([x, y], [x // y, x % y], [np.array([5, -5, 7]), np.array([0, 0, 2])])
    v = T.dvector("v")
    both([v], [T.cast(v, "uint8"), T.cast(v, "int8")], [np.array([-1.5, 300.2, 7.9])])
    f = theano.function([x, y], x ** y, mode="JAX")
    with pytest.raises(ValueError, match="negative integer powers"):
        f(np.array([2, 3]), np.array([-1, 1]))
