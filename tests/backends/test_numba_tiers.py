"""The numba backend's tiers: a loop started on NumPy continues compiled from where
it is (never from step 0), and user Python code in a graph runs exactly as often as
the graph says (issue 13 item 6, issue 14)."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA
from theanine.compile.ops import as_op
from theanine.scan.op import Scan

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")

if HAVE_NUMBA:
    from theanine.backends.numba import background, linker, store


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
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


def test_sync_runs_a_loop_too_long_to_compile_on_numpy_meanwhile(fresh_cache, monkeypatch):
    """Issue 13 item 8: under 'sync', a kernel whose compile is expected to take
    longer than SYNC_SECONDS (here any kernel) is not compiled at link time: a warning
    says so, the loop runs on NumPy with py's values, background processes compile it,
    and the next call after they finish runs compiled code with the same values."""
    monkeypatch.setattr(linker, "SYNC_SECONDS", 0.0)
    x = T.matrix("x")
    h, _ = theano.scan(lambda row, h: T.tanh(h * 0.5 + row), sequences=x,
                       outputs_info=T.zeros(3))
    xv = np.random.default_rng(2).normal(size=(40, 3))
    ref = theano.function([x], h, mode="PY")(xv)
    with linker.policy("sync"), pytest.warns(UserWarning, match="more than the 0 s that "
                                               "policy 'sync' waits for"):
        f = theano.function([x], h, mode="FAST_RUN")
    (nk,) = [k for k in f.fn.kernels if type(k.node.op).__name__ == "Scan"]
    assert not nk.ready()
    np.testing.assert_allclose(f(xv), ref, rtol=1e-12)  # on NumPy
    assert not nk.ready()
    assert background.wait(timeout=300)
    np.testing.assert_allclose(f(xv), ref, rtol=1e-12)
    assert nk.ready()  # the background compile swapped in


def test_a_compiled_loop_failing_at_its_last_step_is_not_run_again(monkeypatch):
    """Issue 13 item 10: the failing node is read from the traceback; the graph is not
    re-run on NumPy (a 1e6-step loop failing at its end took 8-11 s to raise)."""
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

    numpy_loops = []

    def boom(*_):  # (an error path may swallow this exception: it is also recorded)
        numpy_loops.append(1)
        raise AssertionError("the NumPy loop ran")

    monkeypatch.setattr(Scan, "inner_function", boom)
    assert f(np.ones(n - 1)) == n - 1
    del calls[:]
    with pytest.raises(FloatingPointError, match="too large") as info:
        f(np.ones(n))
    assert len(calls) == n  # the failing step is the last; nothing ran twice
    assert numpy_loops == []  # the failing node was not searched for on NumPy
    assert "Scan" in str(info.value)


def _workers_of(cache_dir):
    """Pids of background compile workers using `cache_dir` (Linux /proc)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if b"theanine.backends.numba.worker" in cmd and \
                f"THEANINE_CACHE_DIR={cache_dir}".encode() in env.split(b"\0"):
            out.append(int(pid))
    return out


SHORT_SCRIPT = """
import theanine as theano, theanine.tensor as T
from theanine.backends.numba import linker
x = T.matrix("x")
h, _ = theano.scan(lambda r, h: T.tanh(h * 0.5 + r), sequences=x, outputs_info=T.zeros(3))
y = T.exp(-x * x) * 3 + T.tanh(x)
with linker.policy("background"):
    f = theano.function([x], [h, y], mode="NUMBA")
assert len(f.fn.kernels) == 2
print("exiting")
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_a_short_script_keeps_its_compile_work(tmp_path):
    """Issue 14 / issue 16 item 22: the script exits at once; its workers finish the
    kernels it asked for (detached, bounded), leave them in the cache and exit."""
    env = dict(os.environ, THEANINE_CACHE_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", SHORT_SCRIPT], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 240
    while _workers_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _workers_of(tmp_path)  # they stopped (the bound is 120 s)
    entries = [d for d in os.listdir(tmp_path / "numba")]
    assert len(entries) == 2
    for key in entries:
        k = store.Kernel(open(tmp_path / "numba" / key / f"k{key}.py").read(), key)
        k.dir = str(tmp_path / "numba" / key)
        assert k.verify(wipe=False), key  # compiled files present and matching


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_detached_workers_stop_at_their_bound(tmp_path):
    env = dict(os.environ, THEANINE_CACHE_DIR=str(tmp_path), THEANINE_NUMBA_DETACHED_SECONDS="0",
               PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", SHORT_SCRIPT], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    while _workers_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _workers_of(tmp_path)
    # stopped, not finished: the script exits milliseconds after sending its jobs,
    # before a worker has even imported numba, so with a bound of 0 nothing compiles
    # (an unbounded worker compiled both kernels after its parent was gone)
    root = tmp_path / "numba"
    compiled = []
    for key in os.listdir(root) if root.is_dir() else []:
        k = store.Kernel(open(root / key / f"k{key}.py").read(), key)
        k.dir = str(root / key)
        compiled += [key] if k.verify(wipe=False) else []
    assert compiled == []


NO_NUMBA_SCRIPT = """
import sys
import numpy as np
import theanine as theano, theanine.tensor as T
x = T.matrix("x")
h, _ = theano.scan(lambda row, h: 0.5 * h + T.tanh(row), sequences=x,
                   outputs_info=T.zeros(3))
acc, _ = theano.scan(lambda a, s: 0.9 * s + a, sequences=x, outputs_info=T.zeros(3))
f = theano.function([x], [h[-1], acc[-1], theano.grad(h[-1].sum() + acc.sum(), x)])
f(np.ones((4, 3)))
print("numba" in sys.modules)
"""


def test_building_and_a_first_call_do_not_import_numba(tmp_path):
    # starting numba costs ~0.5 s: a cold function's first call runs on NumPy
    # without it (emitters write text; the kernels they name import numba)
    env = dict(os.environ, THEANINE_CACHE_DIR=str(tmp_path), THEANINE_FLAGS="",
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(
                   os.path.abspath(__file__)))))
    env.pop("THEANINE_NUMBA_COMPILE", None)
    out = subprocess.run([sys.executable, "-c", NO_NUMBA_SCRIPT], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["False"], out.stdout + out.stderr


def test_background_compiles_follow_a_change_of_cache_directory(tmp_path, monkeypatch):
    """Workers started for one cache directory are not handed the jobs of another
    (the same kernel, asked for again after $THEANINE_CACHE_DIR changed, is compiled
    into the new directory, not reported done from the old one)."""
    x = T.matrix("x")
    h, _ = theano.scan(lambda row, h: T.tanh(h * 0.25 + row), sequences=x,
                       outputs_info=T.zeros(3))
    for name in ("one", "two"):
        monkeypatch.setenv("THEANINE_CACHE_DIR", str(tmp_path / name))
        store.forget_loaded()
        with linker.policy("background"):
            f = theano.function([x], h, mode="FAST_RUN")
        (nk,) = [k for k in f.fn.kernels if type(k.node.op).__name__ == "Scan"]
        assert background.wait(timeout=300)
        assert store.cached_on_disk(nk.kernel, linker.sig_name(nk.node)), name
    store.forget_loaded()
