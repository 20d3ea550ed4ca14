"""Compiled kernels on disk: one generated module per kernel, keyed by content.

A kernel is the text of a module (codegen) whose ``kernel`` function numba
compiles with ``cache=True``. Its key hashes that text with the versions of
Python, NumPy, numba and of this backend's own source files (the emitters and
the kernel modules in kernels/, which compiled kernels call), so a changed
library never loads stale code. Layout under the cache directory (see
theanine.cache, which makes it 0700 and refuses unsafe directories):

    numba/<key>/k<key>.py            the module (written once, atomically)
    numba/<key>/__pycache__/...      numba's cache of the compiled function
    numba/<key>/manifest.json        sha256 of each numba cache file, written
                                     after every compile
    numba/<key>/lock                 held while compiling (flock)

A corrupted or truncated entry is one whose numba files do not match the
manifest (or that fails to load): it is deleted and compiled again. Two
processes compiling one kernel at once serialise on the lock; the second
then loads what the first wrote.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import threading

from theanine import cache

_LOADED = {}  # key -> Kernel (this process)
_LOCK = threading.RLock()


BACKEND_DIR = os.path.dirname(os.path.abspath(__file__))


def source_files(root=BACKEND_DIR):
    """The .py files of this backend, kernels/ included, relative to `root`, sorted."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        out.extend(os.path.relpath(os.path.join(d, f), root) for f in files
                   if f.endswith(".py"))
    return sorted(out)


def source_digest(root=BACKEND_DIR):
    """sha256 over the names and contents of source_files(root): a kernel's compiled
    code depends on the emitters that wrote it and on the kernel modules it calls
    (numba's own cache does not notice a changed callee)."""
    h = hashlib.sha256()
    for rel in source_files(root):
        with open(os.path.join(root, rel), "rb") as f:
            h.update(rel.replace(os.sep, "/").encode() + b"\0" + f.read())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def version_tag():
    import numpy

    try:  # the installed version without importing numba (~0.3 s)
        from importlib.metadata import version

        nb_version = version("numba")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        import numba

        nb_version = numba.__version__
    return (f"py{sys.version_info[0]}.{sys.version_info[1]}-np{numpy.__version__}-"
            f"nb{nb_version}-{source_digest()[:16]}")


def key_of(text):
    return hashlib.sha256((version_tag() + "\n" + text).encode()).hexdigest()[:32]


def forget_loaded():
    """Drop this process's table of loaded kernels (after cache.clear())."""
    with _LOCK:
        for k in _LOADED.values():
            k.dispatcher = None
        _LOADED.clear()


class Kernel:
    """One compiled module. ``dispatcher`` is numba's function once loaded."""

    def __init__(self, text, key):
        self.text, self.key = text, key
        self.dispatcher = None
        self.failed = None  # an error message: compiled code is unavailable
        self.dir = None

    # -- files -------------------------------------------------------------------
    def paths(self):
        d = self.dir or os.path.join(cache.cache_dir("numba"), self.key)
        self.dir = d
        return d, os.path.join(d, f"k{self.key}.py"), os.path.join(d, "manifest.json")

    def write_module(self):
        d, src, _ = self.paths()
        if not os.path.isdir(d):
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o700)
        cache.check_safe(d)
        try:
            with open(src, encoding="utf-8") as f:
                ok = f.read() == self.text
        except OSError:
            ok = False
        if not ok:  # missing or damaged: rewrite; numba's files are then stale
            self._wipe_compiled()
            cache.atomic_write(src, self.text)

    def _numba_files(self):
        pc = os.path.join(self.paths()[0], "__pycache__")
        if not os.path.isdir(pc):
            return {}
        out = {}
        for name in sorted(os.listdir(pc)):
            if name.endswith((".nbi", ".nbc")):
                with open(os.path.join(pc, name), "rb") as f:
                    out[name] = hashlib.sha256(f.read()).hexdigest()
        return out

    def _wipe_compiled(self):
        d, _, man = self.paths()
        shutil.rmtree(os.path.join(d, "__pycache__"), ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(man)

    def verify(self, wipe=True):
        """True when compiled files exist and match the manifest; a mismatch wipes
        them (with `wipe`, which needs the lock)."""
        _, _, man = self.paths()
        files = self._numba_files()
        try:
            with open(man) as f:
                recorded = json.load(f)
        except (OSError, ValueError):
            recorded = None
        if recorded is not None and recorded == files and files:
            return True
        if wipe and (files or recorded is not None):
            self._wipe_compiled()
        return False

    def write_manifest(self):
        cache.atomic_write(self.paths()[2], json.dumps(self._numba_files()))

    def lock(self):
        d = self.paths()[0]
        if not os.path.isdir(d):
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o700)
        return cache.file_lock(os.path.join(d, "lock"))

    # -- loading -----------------------------------------------------------------
    def import_module(self):
        _, src, _ = self.paths()
        name = f"theanine_kernel_{self.key}"
        mod = sys.modules.get(name)
        if mod is None:
            spec = importlib.util.spec_from_file_location(name, src)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        if self.dispatcher is None:
            self.dispatcher = mod.kernel
        return self.dispatcher

    def compile(self, sig):
        """Compile (or load from numba's cache) for `sig`, under the lock; keeps the
        manifest in step. A load that fails (damaged entry) wipes and recompiles."""
        with self.lock():
            self.write_module()
            self.verify()
            d = self.dispatcher or self.import_module()
            d._can_compile = True
            try:
                try:
                    d.compile(sig)
                except Exception as e:  # noqa: BLE001 - damaged cache files: start over
                    if not _looks_like_cache_error(e):
                        raise
                    self._wipe_compiled()
                    d.compile(sig)
            finally:
                # later calls with other types raise TypeError: the glue then
                # normalises the arguments or compiles explicitly (manifest kept)
                d._can_compile = False
            self.write_manifest()
        return d


def _looks_like_cache_error(e):
    import pickle

    return isinstance(e, (pickle.UnpicklingError, EOFError, ValueError, KeyError,
                          AttributeError, ImportError, IndexError, OSError))


def get(text):
    """The process-wide Kernel for this module text."""
    key = key_of(text)
    with _LOCK:
        k = _LOADED.get(key)
        if k is None:
            k = _LOADED[key] = Kernel(text, key)
        return k


def cached_on_disk(kernel):
    """True when a verified compiled entry exists (a second process's hit)."""
    with contextlib.suppress(OSError):
        kernel.write_module()
        return kernel.verify(wipe=False)
    return False
