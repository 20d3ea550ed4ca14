"""A cold numba function whose kernels would take long to compile runs on JAX
meanwhile (compile/interim.py, issue 14): values equal py's, shared updates carry
over the switch to numba, what must not run on JAX does not, a failing call leaves
state unchanged, and the kernels are compiled for the next process."""

import gc
import os
import subprocess
import sys
import textwrap
import time
import weakref

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_JAX, HAVE_NUMBA
from tests.backends.test_numba_tiers import counting_loop
from theanine.compile import interim
from theanine.tensor.shared_randomstreams import RandomStreams

pytestmark = [pytest.mark.skipif(not (HAVE_NUMBA and HAVE_JAX),
                                 reason="needs numba and jax"), pytest.mark.jax]

if HAVE_NUMBA:
    from theanine.backends.numba import background, linker, store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def cold(tmp_path, monkeypatch):
    """An empty kernel cache, the default policy, and every function counting as
    slow to compile (the threshold is about an LSTM's size)."""
    monkeypatch.setenv("THEANINE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(interim, "INTERIM_SECONDS", 0.0)
    store.forget_loaded()
    with linker.policy("auto"), theano.config.change_flags(numba_interim="jax"):
        yield tmp_path
    background.wait(120)
    store.forget_loaded()


def rnn_training():
    """A tanh RNN trained by SGD: (function, shared W, data, reference steps)."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 3)) * 0.5
    W = theano.shared(w0.copy(), name="W")
    x = T.matrix("x")
    h, _ = theano.scan(lambda row, h: T.tanh(row + T.dot(h, W)), sequences=x,
                       outputs_info=T.zeros(3))
    cost = (h[-1] ** 2).sum()
    upd = [(W, W - 0.1 * theano.grad(cost, W))]
    xv = rng.normal(size=(7, 3))
    ref = theano.function([x], cost, updates=upd, mode="PY")
    return x, cost, upd, W, w0, xv, ref


def py_trajectory(W, w0, ref, xv, n):
    W.set_value(w0.copy())
    costs = [float(ref(xv)) for _ in range(n)]
    final = W.get_value()
    W.set_value(w0.copy())
    return costs, final


def test_a_cold_function_runs_on_jax_then_on_numba_with_the_same_values(cold, monkeypatch):
    monkeypatch.setattr(linker, "HOT_CALLS", 1)  # a NumPy call would ask for compiles
    x, cost, upd, W, w0, xv, ref = rnn_training()
    costs, final = py_trajectory(W, w0, ref, xv, 6)
    f = theano.function([x], cost, updates=upd)
    assert isinstance(f.fn, interim.Interim)
    got = [float(f(xv))]  # on NumPy; then a thread compiles the function for JAX
    assert not f.fn.on_jax and f.fn.prepared(120)
    assert not any(nk.requested for nk in f.fn.kernels)  # numba is held meanwhile
    got += [float(f(xv)) for _ in range(2)]
    assert f.fn.on_jax and f.fn.full_speed()
    assert not any(nk.ready() for nk in f.fn.kernels)  # numba has not run
    assert f.fn.compile_now()  # the switch: numba's kernels from here on
    got += [float(f(xv)) for _ in range(3)]
    assert not f.fn.on_jax and all(nk.ready() for nk in f.fn.kernels)
    np.testing.assert_allclose(got, costs, rtol=1e-10)
    np.testing.assert_allclose(W.get_value(), final, rtol=1e-10)


def test_a_second_call_that_stops_waiting_for_jax_runs_on_numba(cold, monkeypatch):
    monkeypatch.setattr(interim, "JAX_WAIT", 0.0)
    x, cost, upd, W, w0, xv, ref = rnn_training()
    costs, final = py_trajectory(W, w0, ref, xv, 4)
    f = theano.function([x], cost, updates=upd)
    got = [float(f(xv)) for _ in range(2)]  # JAX is still importing at the second
    assert f.fn.prepared(120)  # the thread finishes, but numba runs every call now
    got += [float(f(xv)) for _ in range(2)]
    assert not f.fn.on_jax
    np.testing.assert_allclose(got, costs, rtol=1e-10)
    np.testing.assert_allclose(W.get_value(), final, rtol=1e-10)


def test_a_first_call_that_raises_leaves_the_next_call_first(cold):
    x, cost, upd, W, w0, xv, ref = rnn_training()
    costs, final = py_trajectory(W, w0, ref, xv, 3)
    f = theano.function([x], cost, updates=upd)
    with pytest.raises(ValueError):  # a row of 4 added to a state of 3
        f(np.ones((5, 4)))
    assert not f.fn.prepared(0.5)  # the thread waits for a first call that ran
    got = [float(f(xv))]
    assert f.fn.prepared(120)  # compiled for these values, so JAX runs the next calls
    got += [float(f(xv)) for _ in range(2)]
    assert f.fn.on_jax
    np.testing.assert_allclose(got, costs, rtol=1e-10)
    np.testing.assert_allclose(W.get_value(), final, rtol=1e-10)


def test_a_graph_jax_cannot_lower_runs_on_numba(cold, monkeypatch):
    jax_linker = pytest.importorskip("theanine.backends.jax.linker")
    real = jax_linker.lowerings.lookup
    monkeypatch.setattr(jax_linker.lowerings, "lookup",
                        lambda op: None if type(op).__name__ == "Scan" else real(op))
    x, cost, upd, W, w0, xv, ref = rnn_training()
    costs, final = py_trajectory(W, w0, ref, xv, 3)
    f = theano.function([x], cost, updates=upd)
    assert isinstance(f.fn, interim.Interim)
    got = [float(f(xv)) for _ in range(3)]
    assert not f.fn.prepared(0) and not f.fn.on_jax
    np.testing.assert_allclose(got, costs, rtol=1e-10)
    np.testing.assert_allclose(W.get_value(), final, rtol=1e-10)


def test_a_long_run_compiles_numba_in_the_background_and_switches(cold, monkeypatch):
    monkeypatch.setattr(interim, "PREFETCH_SECONDS", 0.0)
    x, cost, upd, W, w0, xv, ref = rnn_training()
    costs, final = py_trajectory(W, w0, ref, xv, 6)
    f = theano.function([x], cost, updates=upd)
    got = [float(f(xv))]
    assert f.fn.prepared(120)
    got += [float(f(xv))]
    assert f.fn.on_jax and f.fn.requested  # the background compile was asked for
    assert background.wait(120)
    got += [float(f(xv))]  # the last call on JAX sees the workers done and switches
    assert not f.fn.on_jax and f.fn.full_speed()
    got += [float(f(xv)) for _ in range(3)]
    np.testing.assert_allclose(got, costs, rtol=1e-10)
    np.testing.assert_allclose(W.get_value(), final, rtol=1e-10)


def test_a_failing_call_raises_numbas_error_and_changes_nothing(cold):
    x, cost, upd, W, w0, xv, ref = rnn_training()
    f = theano.function([x], cost, updates=upd)
    f(xv)
    assert f.fn.prepared(120)
    f(xv)
    assert f.fn.on_jax
    before = W.get_value().copy()
    with pytest.raises(ValueError):  # a row of 4 added to a state of 3
        f(np.ones((5, 4)))
    np.testing.assert_array_equal(W.get_value(), before)
    assert not f.fn.on_jax  # numba runs the calls from here on
    W.set_value(w0.copy())
    costs, final = py_trajectory(W, w0, ref, xv, 2)
    np.testing.assert_allclose([float(f(xv)) for _ in range(2)], costs, rtol=1e-10)


def test_not_used_for_user_python_random_streams_or_when_switched_off(cold):
    x, h, calls = counting_loop()  # a scan calling an as_op at each step
    f = theano.function([x], h[-1])
    assert not isinstance(f.fn, interim.Interim)  # JAX is not prepared at all
    xv = np.ones((4, 3))
    f(xv)
    f(xv)
    assert len(calls) == 8  # each step's Python ran once

    srng = RandomStreams(seed=3)
    h2, _ = theano.scan(lambda row, h: T.tanh(row + h), sequences=x,
                        outputs_info=T.zeros(3))
    g = theano.function([x], h2[-1].sum() + srng.normal((3,)).sum())
    assert not isinstance(g.fn, interim.Interim)  # RandomStreams draws other numbers

    with theano.config.change_flags(numba_interim="numpy"):
        k = theano.function([x], T.tanh(x).sum())
    assert not isinstance(k.fn, interim.Interim)
    with linker.policy("sync"):
        k = theano.function([x], T.tanh(x).sum() * 2)
    assert not isinstance(k.fn, interim.Interim)


def test_bad_flag_value_is_a_clear_error():
    with pytest.raises(ValueError, match="numba_interim"):
        with theano.config.change_flags(numba_interim="gpu"):
            pass


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import theanine as theano, theanine.tensor as T
    from theanine.compile import interim
    interim.INTERIM_SECONDS = 0.5  # a kernel on disk counts 0.05 s, a new one ~1 s
    W = theano.shared(np.eye(3) * 0.5, name="W")
    x = T.matrix("x")
    h, _ = theano.scan(lambda row, h: T.tanh(row + T.dot(h, W)), sequences=x,
                       outputs_info=T.zeros(3))
    f = theano.function([x], h[-1] * float(sys.argv[1]))
    f(np.ones((5, 3)))
    if hasattr(f.fn, "prepared"):
        f.fn.prepared(120)
    f(np.ones((5, 3)))
    print(type(f.fn).__name__, getattr(f.fn, "on_jax", None), f.fn.ready())
""")


@pytest.mark.slow
def test_kernels_of_a_short_script_are_compiled_after_it_exits(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, THEANINE_CACHE_DIR=str(tmp_path))
    env.pop("THEANINE_NUMBA_COMPILE", None)
    env.pop("THEANINE_FLAGS", None)
    run = [sys.executable, "-c", SCRIPT, "1.5"]
    out = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["Interim", "True", "False"], out.stderr
    deadline = time.monotonic() + 150  # detached workers compile after the exit
    while True:
        out = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300)
        if out.stdout.split()[0] != "Interim" or time.monotonic() > deadline:
            break
        time.sleep(2)
    # the next process finds every kernel on disk: plain numba, no JAX
    assert out.stdout.split()[:2] == ["function", "None"], out.stdout + out.stderr


def test_a_worker_runs_at_the_niceness_asked_for():
    proc = background._spawn(7, subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        nice = 0
        while time.monotonic() < deadline and nice != 7:
            time.sleep(0.2)
            with open(f"/proc/{proc.pid}/stat") as fh:
                nice = int(fh.read().rsplit(")", 1)[1].split()[16])
        assert nice == 7
    finally:
        proc.stdin.close()
        proc.wait(30)


def test_a_function_never_called_is_freed_with_its_jax_thread(cold):
    x, cost, upd, W, w0, xv, ref = rnn_training()
    f = theano.function([x], cost, updates=upd)
    assert isinstance(f.fn, interim.Interim)
    gone = weakref.ref(f.fn)
    del f
    deadline = time.monotonic() + 30
    while gone() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.2)
    assert gone() is None

