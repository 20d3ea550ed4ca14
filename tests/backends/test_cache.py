"""The disk cache: location and safety, hits in a second process, corrupted
entries, concurrent compiles, clear()."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.backends.conftest import HAVE_NUMBA
from theanine import cache
from theanine.backends.numba import runtime, store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import theanine as theano, theanine.tensor as T
    x = T.vector("x"); c = T.scalar("c")
    h, _ = theano.scan(lambda a, h, c: c * h + a, sequences=x, outputs_info=T.constant(0.0),
                       non_sequences=c)
    f = theano.function([x, c], h[-1], mode="NUMBA")
    out = float(f(np.arange(5.0), 0.5))
    ks = f.fn.kernels
    print(json.dumps({"out": out, "ready": all(k.ready() for k in ks), "n": len(ks),
                      "hits": sum(k.kernel.dispatcher.stats.cache_hits.get(s, 0)
                                  for k in ks for s in k.kernel.dispatcher.stats.cache_hits),
                      "misses": sum(v for k in ks
                                    for v in k.kernel.dispatcher.stats.cache_misses.values())}))
""")
# a kernel calling Python (an as_op node in compiled code)
PYTHON_OP_SCRIPT = textwrap.dedent("""
    import numpy as np
    import theanine as theano, theanine.tensor as T
    from theanine.backends.numba import linker
    from theanine.compile.ops import as_op

    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def twice(v):
        return v * 2

    x = T.dvector("x")
    with linker.policy("strict", "all"):
        f = theano.function([x], twice(T.exp(x)) + 1.0, mode="NUMBA")
    print(float(f(np.zeros(3)).sum()))
""")
EXPECTED = 0.5 ** 3 * 1 + 0.5 ** 2 * 2 + 0.5 * 3 + 4


def _run(tmp, wait=True, script=SCRIPT):
    env = dict(os.environ, THEANINE_CACHE_DIR=str(tmp), THEANINE_NUMBA_COMPILE="sync",
               PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=ROOT)
    if not wait:
        return p
    return _result(p)


def _result(p):
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()[-2000:]
    return json.loads(out.decode().strip().splitlines()[-1])


def test_location_and_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("THEANINE_CACHE_DIR", str(tmp_path / "c"))
    d = cache.cache_dir("numba")
    assert d.startswith(str(tmp_path / "c"))
    assert stat.S_IMODE(os.stat(tmp_path / "c").st_mode) == 0o700
    monkeypatch.delenv("THEANINE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == str(tmp_path / "xdg" / "theanine")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_root() == os.path.join(os.path.expanduser("~"), ".cache", "theanine")


def test_refuses_unsafe_directories(tmp_path, monkeypatch):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    monkeypatch.setenv("THEANINE_CACHE_DIR", str(d))
    with pytest.raises(cache.UnsafeCacheError, match="writable by group or others"):
        cache.cache_dir()
    os.chmod(d, 0o700)
    cache.cache_dir()
    if os.getuid() == 0:
        os.chown(d, 12345, 12345)
        with pytest.raises(cache.UnsafeCacheError, match="owned by user id 12345"):
            cache.cache_dir()
        os.chown(d, 0, 0)


def test_atomic_write_and_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("THEANINE_CACHE_DIR", str(tmp_path))
    sub = cache.cache_dir("numba", "k")
    cache.atomic_write(os.path.join(sub, "f.txt"), "hello")
    assert open(os.path.join(sub, "f.txt")).read() == "hello"
    assert not [n for n in os.listdir(sub) if n.startswith(".tmp")]
    assert cache.clear() == 1
    assert os.listdir(tmp_path) == []
    r = subprocess.run([sys.executable, "-m", "theanine.cache", "clear"], cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True)
    assert r.returncode == 0 and "removed 0 entries" in r.stdout


needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


@needs_numba
@pytest.mark.slow
def test_second_process_loads_instead_of_compiling(tmp_path):
    first = _run(tmp_path)
    assert first["out"] == pytest.approx(EXPECTED) and first["ready"] and first["n"] >= 1
    assert first["misses"] >= 1
    second = _run(tmp_path)
    assert second["out"] == pytest.approx(EXPECTED) and second["ready"]
    assert second["misses"] == 0 and second["hits"] >= 1


@needs_numba
@pytest.mark.slow
def test_second_process_runs_a_loaded_kernel_that_calls_python(tmp_path):
    for _ in range(2):  # compiled, then loaded from disk
        assert _run(tmp_path, script=PYTHON_OP_SCRIPT) == 9.0


@needs_numba
@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete_manifest"])
def test_corrupted_entry_is_recompiled(tmp_path, damage):
    _run(tmp_path)
    root = tmp_path / "numba"
    (entry,) = [p for p in root.iterdir() if p.is_dir()]
    nbc = sorted((entry / "__pycache__").glob("*.nbc"))
    assert nbc
    if damage == "truncate":
        data = nbc[0].read_bytes()
        nbc[0].write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        nbc[0].write_bytes(np.random.default_rng(0).bytes(nbc[0].stat().st_size))
    else:
        (entry / "manifest.json").unlink()
    again = _run(tmp_path)
    assert again["out"] == pytest.approx(EXPECTED) and again["ready"]
    assert again["misses"] >= 1  # detected and compiled again
    third = _run(tmp_path)
    assert third["misses"] == 0 and third["hits"] >= 1


@needs_numba
@pytest.mark.slow
def test_concurrent_compiles_both_succeed(tmp_path):
    procs = [_run(tmp_path, wait=False) for _ in range(2)]
    for p in procs:
        r = _result(p)
        assert r["out"] == pytest.approx(EXPECTED) and r["ready"]
    assert _run(tmp_path)["misses"] == 0


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_the_key_changes_with_every_kernel_module(tmp_path, monkeypatch):
    """numba's cache of a kernel does not notice a changed callee: the key hashes the
    emitters and every kernel module (kernels/) that compiled kernels call."""
    import shutil


    hashed = {os.path.join(store.BACKEND_DIR, f) for f in store.source_files()}
    called = [os.path.abspath(m.__file__) for m in runtime.KERNEL_MODULES]
    called += [os.path.abspath(runtime.__file__), os.path.abspath(store.__file__)]
    assert set(called) <= hashed, set(called) - hashed
    copy = tmp_path / "numba"
    shutil.copytree(store.BACKEND_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = store.source_digest(str(copy))
    assert before == store.source_digest()
    for rel in ("kernels/linalg.py", "kernels/special.py", "ops_scan.py"):
        path = copy / rel
        text = path.read_text()
        path.write_text(text + "\n# changed\n")
        assert store.source_digest(str(copy)) != before, rel
        path.write_text(text)
    assert store.source_digest(str(copy)) == before
    keys = []
    for digest in ("0" * 64, "1" * 64):
        monkeypatch.setattr(store, "source_digest", lambda root=None, d=digest: d)
        store.version_tag.cache_clear()
        keys.append(store.key_of("the same module text"))
    store.version_tag.cache_clear()
    assert keys[0] != keys[1]
