"""The disk cache under damage and misuse (issue 13, items 7, 11, 14, 15): an entry
holding another kernel's code or another signature is detected and compiled again;
an unusable cache (unsafe, a file in the way, a lock that is a directory) is named in
one warning and kernels compile in memory, the same under every policy; loading a
cached graph costs one load per distinct kernel, without locks or writes; the cache
keeps under its size limit by evicting the least recently used entries; a kernel no
function uses is freed."""

import collections
import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import warnings
import weakref

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA
from theanine import cache, config
from theanine.backends.numba import background, linker, store
from theanine.compile.ops import as_op

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = 1000  # elements: the compiled kernel runs (not NumPy, used below 256)
X = np.arange(N, dtype="float64")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory, and no kernel of this process remembered."""

    d = tmp_path / "cache"
    monkeypatch.setenv("THEANINE_CACHE_DIR", str(d))
    store.forget_loaded()
    yield d
    store.forget_loaded()


def _forget():
    """Drop every compiled kernel of this process (functions must be deleted first),
    so that the next function loads from disk as a new process would."""

    gc.collect()
    store.forget_loaded()


def _function(expr, policy="sync"):
    x = T.dvector("x")
    with linker.policy(policy, "all"):
        return theano.function([x], expr(x), mode=theano.Mode(linker="numba",
                                                               optimizer="fast_run"))


def _a(x):
    return x * 3.0 + 1.0


def _b(x):
    return x * 2.0 - 5.0


def _entry(f):
    (nk,) = f.fn.kernels
    return nk.kernel.paths()[0]


def _nbc(entry):
    return sorted(p for p in os.listdir(os.path.join(entry, "__pycache__"))
                  if p.endswith(".nbc"))


def _rewrite_manifest(entry):
    """Make the manifest match the files (what a careless copy or an attacker does)."""

    key = os.path.basename(entry)
    with open(os.path.join(entry, "manifest.json")) as fh:
        m = json.load(fh)
    k = store.Kernel("", key)
    k.dir = entry
    m["files"] = k._numba_files()
    with open(os.path.join(entry, "manifest.json"), "w") as fh:
        json.dump(m, fh)


def _misses(f):
    (nk,) = f.fn.kernels
    return sum(nk.kernel.dispatcher.stats.cache_misses.values())


# -- item 7: another kernel's compiled file ------------------------------------------------
def test_entry_holding_another_kernels_code_is_compiled_again(fresh_cache):
    fa, fb = _function(_a), _function(_b)
    ea, eb = _entry(fa), _entry(fb)
    np.testing.assert_array_equal(fa(X), X * 3 + 1)
    del fa, fb
    _forget()
    (a_file,), (b_file,) = _nbc(ea), _nbc(eb)
    shutil.copy(os.path.join(eb, "__pycache__", b_file), os.path.join(ea, "__pycache__", a_file))
    _rewrite_manifest(ea)
    fb = _function(_b)  # B's module is loaded in this process: its code would run for A
    with pytest.warns(cache.CacheWarning, match=r"not what its key describes.*holds the code "
                                                r"of theanine_kernel_" + os.path.basename(eb)):
        fa = _function(_a)
    np.testing.assert_array_equal(fa(X), X * 3 + 1)
    np.testing.assert_array_equal(fb(X), X * 2 - 5)
    assert _misses(fa) == 1  # compiled again, and the entry now loads cleanly
    del fa, fb
    _forget()
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheWarning)
        fa = _function(_a)
    np.testing.assert_array_equal(fa(X), X * 3 + 1)
    assert _misses(fa) == 0


# -- item 11: an entry with another signature -------------------------------------------
def test_entry_with_another_signature_is_compiled_again(fresh_cache):
    import numba
    from numba import types

    fa = _function(_a)
    ea = _entry(fa)
    (nk,) = fa.fn.kernels
    other = tuple(types.Array(numba.float64, 1, "A", readonly=False) for _ in nk.node.inputs)
    nk.kernel.compile(other)  # a second signature in the same entry
    files = _nbc(ea)
    assert len(files) == 2
    del fa, nk
    _forget()
    # the file of the glue's signature now holds the other signature's code
    pc = os.path.join(ea, "__pycache__")
    first, second = (os.path.join(pc, n) for n in files)
    shutil.copy(second, first)
    _rewrite_manifest(ea)
    with pytest.warns(cache.CacheWarning, match=r"holds code for the signature"):
        fa = _function(_a)
    np.testing.assert_array_equal(fa(X), X * 3 + 1)  # no "No matching definition"
    del fa
    _forget()
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheWarning)
        fa = _function(_a)
    np.testing.assert_array_equal(fa(X), X * 3 + 1)
    assert _misses(fa) == 0


# -- item 11: unusable caches, the same under every policy ---------------------------------
def _run_policy(policy, expr=_a):
    """Build and call a function under `policy` until its kernel is compiled (auto:
    after HOT_CALLS calls); returns (function, warnings)."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        f = _function(expr, policy)
        for _ in range(60):
            np.testing.assert_array_equal(f(X), X * 3 + 1)
            if f.fn.ready():
                break
        if not f.fn.ready():  # auto with a usable cache: a worker compiles to disk

            background.wait(timeout=300)
            np.testing.assert_array_equal(f(X), X * 3 + 1)
    return f, [w for w in got if issubclass(w.category, cache.CacheWarning)]


def _break_unsafe(d):
    d.mkdir()
    os.chmod(d, 0o777)
    return "writable by group or others"


def _break_file(d):
    d.write_text("not a directory")
    return "cannot use .* as a cache directory"


@pytest.mark.parametrize("policy", ["auto", "sync"])
@pytest.mark.parametrize("problem", ["unsafe", "root_is_a_file"])
def test_unusable_cache_warns_once_and_compiles_in_memory(fresh_cache, policy, problem):
    expected = {"unsafe": _break_unsafe, "root_is_a_file": _break_file}[problem](fresh_cache)
    f, warned = _run_policy(policy)
    assert f.fn.ready(), "the kernel compiles (in memory) under every policy"
    assert len(warned) == 1
    msg = str(warned[0].message)
    assert str(fresh_cache) in msg and "THEANINE_CACHE_DIR" in msg
    assert "in memory" in msg
    import re

    assert re.search(expected, msg)
    if problem == "unsafe":
        assert os.listdir(fresh_cache) == []  # nothing written into it
    else:
        assert fresh_cache.read_text() == "not a directory"


@pytest.mark.parametrize("policy", ["auto", "sync"])
def test_lock_that_is_a_directory(fresh_cache, policy):
    f = _function(_a)
    lock = os.path.join(_entry(f), "lock")
    del f
    _forget()
    shutil.rmtree(os.path.join(os.path.dirname(lock), "__pycache__"))  # must compile
    os.unlink(lock)
    os.mkdir(lock)  # empty: removed, the compile proceeds on disk
    f, warned = _run_policy(policy)
    assert f.fn.ready() and not warned and os.path.isfile(lock)
    del f
    _forget()
    shutil.rmtree(os.path.join(os.path.dirname(lock), "__pycache__"))
    os.unlink(lock)
    os.makedirs(os.path.join(lock, "something"))  # not empty: left alone, named
    f, warned = _run_policy(policy)
    assert f.fn.ready() and len(warned) == 1
    msg = str(warned[0].message)
    assert lock in msg and "is a directory" in msg and "rm -r" in msg
    assert os.path.isdir(os.path.join(lock, "something"))


# -- item 14: load cost per distinct kernel ------------------------------------------------
def _chain(x, n=60):
    W = T.constant(np.eye(3) * 0.5)
    y = x
    for _ in range(n):
        y = T.tanh(T.dot(W, y))
    return y


def test_loading_a_cached_graph_costs_one_load_per_distinct_kernel(fresh_cache, monkeypatch):
    f = _function(lambda x: T.grad(_chain(x).sum(), x))
    distinct = {nk.kernel.key for nk in f.fn.kernels}
    assert len(f.fn.kernels) >= 100 and len(distinct) <= 4
    ref = f(np.ones(3))
    del f
    _forget()
    counts = {"lock": 0, "write": 0, "load": 0}

    def counting(name, fn):
        def wrapper(*a, **k):
            counts[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(cache, "file_lock", counting("lock", cache.file_lock))
    monkeypatch.setattr(cache, "atomic_write", counting("write", cache.atomic_write))
    monkeypatch.setattr(store.Kernel, "_load", counting("load", store.Kernel._load))
    f = _function(lambda x: T.grad(_chain(x).sum(), x))
    np.testing.assert_array_equal(f(np.ones(3)), ref)
    assert counts == {"lock": 0, "write": 0, "load": len(distinct)}


# -- item 15: size limit, least recently used eviction, freed kernels ----------------------
def _steps(k):
    """k + 1 steps of y * 1.5 + 1: a distinct kernel for each k (constants are
    arguments of a kernel, so changing them alone would not do)."""
    def expr(x):
        for _ in range(k + 1):
            x = x * 1.5 + 1.0
        return x
    return expr


def test_cache_keeps_under_its_limit_evicting_least_recently_used(fresh_cache):
    fs = [_function(_steps(k)) for k in range(3)]
    sizes = [cache.tree_size(_entry(f)) for f in fs]
    entries = [_entry(f) for f in fs]
    for k, e in enumerate(entries):  # use order: 1, 0, 2 (0 is used after 1)
        os.utime(e, (1e9 + [1, 0, 2][k], 1e9 + [1, 0, 2][k]))
    limit_mb = (sum(sizes) + max(sizes) / 2) / 1e6  # room for three and a half
    with config.change_flags(cache_max_mb=limit_mb):
        f3 = _function(_steps(3))
    left = {e for e, _, _ in cache.entries("numba")}
    assert entries[1] not in left, "the least recently used entry is evicted"
    assert {entries[0], entries[2], _entry(f3)} <= left
    assert sum(s for _, s, _ in cache.entries("numba")) <= limit_mb * 1e6
    assert len({e for e in entries}) == 3
    for k, f in enumerate(fs + [f3]):  # evicted code still runs: it is in memory
        np.testing.assert_array_equal(f(X), _steps(k)(X))


def test_info_shows_size_and_limit(fresh_cache):
    f = _function(_a)
    env = dict(os.environ, PYTHONPATH=ROOT, THEANINE_FLAGS="cache_max_mb=123")
    r = subprocess.run([sys.executable, "-m", "theanine.cache", "info"], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert str(fresh_cache) in r.stdout and "1 compiled kernels" in r.stdout
    assert "limit 123 MB" in r.stdout and " MB, " in r.stdout
    del f


def test_kernel_no_function_uses_is_freed(fresh_cache, monkeypatch):
    import collections


    monkeypatch.setattr(store, "_RECENT", collections.deque(maxlen=1))
    f = _function(_a)
    (nk,) = f.fn.kernels
    ref = weakref.ref(nk.kernel)
    name = nk.kernel.module_name
    assert name not in sys.modules  # the module is not kept alive by sys.modules
    del f, nk
    gc.collect()
    assert ref() is not None  # the last kernel asked for stays a while
    g = _function(_b)
    gc.collect()
    assert ref() is None
    del g


def test_config_flag_is_validated():
    with pytest.raises(ValueError, match="cache_max_mb"):
        config.cache_max_mb = -1
    with contextlib.suppress(Exception), config.change_flags(cache_max_mb=0):
        assert cache.limit_bytes() == 0


def _python_op(calls):
    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def twice(v):
        calls.append(len(v))
        return v * 2

    return twice


def test_kernel_calling_python_runs_when_loaded_from_disk(fresh_cache, monkeypatch):
    """numba compiles a loaded kernel's objmode block (as_op, Print) at its first call
    and finds the module's globals by name then: the module stays registered while
    the kernel lives (was: NameError 'run_python' in every later process, tested in
    test_cache.py; here numba's in-process memo hides it, so the registration is
    checked)."""

    monkeypatch.setattr(store, "_RECENT", collections.deque(maxlen=1))
    calls = []
    twice = _python_op(calls)
    f = _function(lambda x: twice(T.exp(x / N)) + 1.0)
    np.testing.assert_allclose(f(X), np.exp(X / N) * 2 + 1.0)
    del f
    _forget()
    g = _function(lambda x: twice(T.exp(x / N)) + 1.0)
    assert sum(v for nk in g.fn.kernels
               for v in nk.kernel.dispatcher.stats.cache_misses.values()) == 0  # loaded
    np.testing.assert_allclose(g(X), np.exp(X / N) * 2 + 1.0)
    assert calls == [N, N]
    (nk,) = [nk for nk in g.fn.kernels if nk.kernel.calls_python]
    name = nk.kernel.module_name
    assert sys.modules[name] is nk.kernel.module
    del g, nk
    _function(_b)  # another kernel becomes the last one asked for
    gc.collect()
    assert name not in sys.modules  # freed with its kernel
