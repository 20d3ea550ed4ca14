"""Compiled kernels on disk: one generated module per kernel, keyed by content.

A kernel is the text of a module (codegen) whose ``kernel`` function numba
compiles with ``cache=True``. Its key hashes that text with the versions of
Python, NumPy, numba and of this backend's own source files (the emitters and
the kernel modules in kernels/, which compiled kernels call), so a changed
library never loads stale code. Layout under the cache directory (see
theanine.cache, which makes it 0700 and refuses unsafe directories):

    numba/<key>/k<key>.py            the module (written once, atomically)
    numba/<key>/__pycache__/...      numba's cache of the compiled function
    numba/<key>/manifest.json        {"key", "sigs": signatures compiled, "files":
                                     sha256 of each numba cache file}, written
                                     after every compile
    numba/<key>/lock                 held while compiling (flock)

Invariants:
- Loading costs one load per distinct kernel and signature in a process: a
  kernel already loaded answers from memory (no file is read), and a load from
  disk reads the manifest and the files it lists, takes no lock and writes
  nothing (only a compile takes the entry's lock and writes the manifest).
- What is loaded is what the key describes: every compiled function of the
  dispatcher must come from the module ``theanine_kernel_<key>`` and the
  requested signature must be among them. An entry that fails this (another
  kernel's files, another signature), or whose files do not match the manifest,
  or that fails to load, is deleted and compiled again, with a warning.
- A cache that cannot be used (cache.CacheError: unsafe, a file in the way, a
  lock that is a non-empty directory) is not used: the kernel compiles in memory
  (a module without a file), with one CacheWarning naming the path, the problem
  and the fix; the same under every compile policy.
- The process table of kernels holds them weakly (and the 64 last asked for
  strongly) and their modules are not left in sys.modules: a kernel no function
  uses any more is freed with its compiled code. Except a kernel that calls
  Python (a ``numba.objmode`` block: Print, as_op): numba compiles that block at
  its first call when the kernel was loaded from disk, and looks the module's
  globals up by name then, so its module stays in sys.modules while the Kernel
  lives (removed when it is freed). After each compile the cache is
  kept under config.cache_max_mb.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import pickle
import shutil
import sys
import threading
import types as pytypes
import warnings
import weakref

from theanine import cache

_LOADED = weakref.WeakValueDictionary()  # key -> Kernel, while a function uses it
# The kernels last asked for stay loaded a while after their functions are gone, so that
# functions rebuilt in a loop (tests, notebooks) do not reload their kernels each time.
_RECENT = collections.deque(maxlen=64)
_LOCK = threading.RLock()
_WARNED = set()
_CACHE_ERRORS = (EOFError, ValueError, KeyError, AttributeError, ImportError, IndexError,
                 OSError)
_SIZE = {"added": 0}  # bytes written since the last eviction check (this process)


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
    # the vector width the kernels ask LLVM for (kernels/vector_width.py)
    width = os.environ.get("THEANINE_NUMBA_VECTOR_WIDTH", "").strip()
    return (f"py{sys.version_info[0]}.{sys.version_info[1]}-np{numpy.__version__}-"
            f"nb{nb_version}-vw{width}-{source_digest()[:16]}")


def key_of(text):
    return hashlib.sha256((version_tag() + "\n" + text).encode()).hexdigest()[:32]


@cache.on_clear
def forget_loaded():
    """Drop this process's table of loaded kernels (after cache.clear())."""
    with _LOCK:
        for k in list(_LOADED.values()):
            k.dispatcher = k.module = None
            k.on_disk.clear()
        _LOADED.clear()
        _RECENT.clear()
        _WARNED.clear()


def describe(dtype, ndim, layout, readonly):
    """The manifest's name of an array parameter type."""
    return f"{dtype}:{ndim}:{layout}:{'ro' if readonly else 'rw'}"


def sig_key(sig):
    """The manifest's name of a tuple of numba types."""
    parts = []
    for t in sig:
        if getattr(t, "ndim", None) is not None and hasattr(t, "layout"):
            parts.append(describe(t.dtype, t.ndim, t.layout, not t.mutable))
        else:
            parts.append(str(t))
    return ",".join(parts)


class _Damaged(Exception):
    """A loaded entry is not what its key describes."""


def _warn(key, message):
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, cache.CacheWarning, stacklevel=4)


class Kernel:
    """One compiled module. ``dispatcher`` is numba's function once loaded."""

    def __init__(self, text, key):
        self.text, self.key = text, key
        self.module = self.dispatcher = None
        self.failed = None  # an error message: compiled code is unavailable
        self.dir = None
        self.memory_only = None  # why the disk cache is not used for this kernel
        self.on_disk = {}  # signature name -> True: verified on disk (this process)
        self.guard = threading.RLock()

    @property
    def module_name(self):
        return f"theanine_kernel_{self.key}"

    # -- files -------------------------------------------------------------------
    def paths(self):
        d = self.dir or os.path.join(cache.cache_dir("numba"), self.key)
        self.dir = d
        return d, os.path.join(d, f"k{self.key}.py"), os.path.join(d, "manifest.json")

    def usable(self):
        """False (and memory_only says why) when the disk cache cannot be used."""
        if self.memory_only is None:
            try:
                lock = os.path.join(self.paths()[0], "lock")
                if os.path.isdir(lock):  # found now, not by a worker that then fails
                    with cache.file_lock(lock):
                        pass
            except cache.CacheError as e:
                self._no_disk(e)
        return self.memory_only is None

    def _no_disk(self, e):
        self.memory_only = str(e)
        _warn(str(e), f"{e} -- until then, compiled kernels are kept in memory only "
                      "(compiled again in every process)")

    def write_module(self):
        d, src, _ = self.paths()
        if not os.path.isdir(d):
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o700)
        cache.check_safe(d)
        if not self._source_ok():  # missing or damaged: rewrite; numba's files are stale
            self._wipe_compiled()
            cache.atomic_write(src, self.text)

    def _source_ok(self):
        try:
            with open(self.paths()[1], encoding="utf-8") as f:
                return f.read() == self.text
        except (OSError, ValueError):
            return False

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
        self.on_disk.clear()

    def _manifest(self):
        try:
            with open(self.paths()[2]) as f:
                m = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(m, dict) or m.get("key") != self.key:
            return None  # an old format or another entry's: compiled again
        return m

    def verify(self, wipe=True, sig=None):
        """True when compiled files exist and match the manifest (which lists `sig`,
        when given); a mismatch of the files wipes them (with `wipe`: needs the lock)."""
        m = self._manifest()
        files = self._numba_files()
        if m is not None and files and m.get("files") == files:
            return sig is None or sig in m.get("sigs", ())
        if wipe and (files or m is not None):
            self._wipe_compiled()
        return False

    def write_manifest(self, sig):
        m = self._manifest()
        sigs = [] if m is None else [s for s in m.get("sigs", ()) if s != sig]
        files = self._numba_files()
        cache.atomic_write(self.paths()[2], json.dumps(
            {"key": self.key, "sigs": sigs + [sig], "files": files}))

    def lock(self):
        d = self.paths()[0]
        if not os.path.isdir(d):
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o700)
        return cache.file_lock(os.path.join(d, "lock"))

    # -- loading -----------------------------------------------------------------
    def import_module(self, text=None):
        """The kernel's dispatcher (a fresh module unless one is held); `text`: exec
        that source in a module without a file (no disk cache)."""
        if self.dispatcher is None:
            if text is not None:
                mod = pytypes.ModuleType(self.module_name)
                exec(compile(text, f"<theanine kernel {self.key}>", "exec"), mod.__dict__)
            else:
                spec = importlib.util.spec_from_file_location(self.module_name,
                                                              self.paths()[1])
                mod = importlib.util.module_from_spec(spec)
                with self._registered(mod):
                    spec.loader.exec_module(mod)
            self.module, self.dispatcher = mod, mod.kernel
            if self.calls_python:
                sys.modules[self.module_name] = mod
                weakref.finalize(self, _unregister, self.module_name, mod)
        return self.dispatcher

    @property
    def calls_python(self):
        """True when the kernel has an objmode block (module doc: kept registered)."""
        return "numba.objmode(" in self.text

    @contextlib.contextmanager
    def _registered(self, mod):
        """The module in sys.modules while numba compiles or loads (a cached entry's
        environment is rebuilt by module name), and not afterwards, so that it is
        freed with this Kernel."""
        sys.modules[self.module_name] = mod
        try:
            yield
        finally:
            if not self.calls_python:
                _unregister(self.module_name, mod)

    def _numba_compile(self, sig):
        d = self.dispatcher
        with self._registered(self.module):
            d._can_compile = True
            try:
                d.compile(sig)
            finally:
                # later calls with other types raise TypeError: the glue then
                # normalises the arguments or compiles explicitly
                d._can_compile = False
        self._check(sig)
        return d

    def _check(self, sig):
        """What is loaded is what the key describes (module doc); else _Damaged."""
        d = self.dispatcher
        for cres in d.overloads.values():
            mod = getattr(getattr(cres, "fndesc", None), "modname", self.module_name)
            if mod != self.module_name:
                raise _Damaged(f"its compiled file holds the code of {mod}, not of "
                               f"{self.module_name}")
        if tuple(sig) not in d.overloads:
            got = "; ".join(sig_key(a) for a in d.overloads) or "none"
            raise _Damaged(f"it holds code for the signature(s) {got}, not {sig_key(sig)}")

    def compile(self, sig):
        """The dispatcher with code for `sig`: from memory (no I/O), else loaded from
        disk (no lock, no write), else compiled under the entry's lock (manifest
        written), else compiled in memory when the disk cache cannot be used."""
        d = self.dispatcher
        if d is not None and tuple(sig) in d.overloads:
            return d
        with self.guard:
            d = self.dispatcher
            if d is not None and tuple(sig) in d.overloads:
                return d
            if not self.usable():
                return self._compile_in_memory(sig)
            try:
                if self._load(sig):
                    return self.dispatcher
                return self._compile_on_disk(sig)
            except cache.CacheError as e:
                self._no_disk(e)
                return self._compile_in_memory(sig)

    def _load(self, sig):
        """Load `sig` from a verified entry; False when there is none (or it is bad)."""
        name = sig_key(sig)
        if not (self._source_ok() and self.verify(wipe=False, sig=name)):
            return False
        try:
            self.import_module()
            misses = sum(self.dispatcher.stats.cache_misses.values())
            self._numba_compile(sig)
        except (_Damaged, *_CACHE_ERRORS):
            return False  # the compile path wipes the entry and says why
        if sum(self.dispatcher.stats.cache_misses.values()) != misses:
            with self.lock():  # numba compiled after all: record what is now on disk
                self.write_manifest(name)
        self.on_disk[name] = True
        cache.touch(self.paths()[0])
        return True

    def _compile_on_disk(self, sig):
        name = sig_key(sig)
        with self.lock():
            self.write_module()
            self.verify()
            self.import_module()
            try:
                self._numba_compile(sig)
            except (_Damaged, *_CACHE_ERRORS) as e:
                if not isinstance(e, _Damaged) and not _looks_like_cache_error(e):
                    raise
                why = str(e) if isinstance(e, _Damaged) else f"loading it failed ({e})"
                _warn(("damaged", self.key), f"theanine cache: the entry {self.paths()[0]} "
                      f"is not what its key describes: {why}; it was deleted and compiled "
                      "again")
                self.dispatcher._reset_overloads()
                self._wipe_compiled()
                self._numba_compile(sig)
            self.write_manifest(name)
        self.on_disk[name] = True
        cache.touch(self.paths()[0])
        _keep_size(self.paths()[0])
        return self.dispatcher

    def _compile_in_memory(self, sig):
        if self.module is not None and self.module.__spec__ is not None:
            self.module = self.dispatcher = None  # a file-backed module: not reused
        self.import_module(self.text.replace("cache=True", "cache=False"))
        return self._numba_compile(sig)


def _unregister(name, mod):
    if sys.modules.get(name) is mod:
        del sys.modules[name]


def _looks_like_cache_error(e):
    return isinstance(e, (pickle.UnpicklingError, *_CACHE_ERRORS))


def _keep_size(entry):
    """Keep the cache under its limit. Walking it costs O(entries), so this process
    walks it once, then again only when what it wrote since would exceed the limit
    (eviction leaves a tenth of the limit free)."""
    limit = cache.limit_bytes()
    if limit <= 0:
        return
    root = cache.cache_root()
    if _SIZE.get("root") != root:  # THEANINE_CACHE_DIR changed: walk the new one
        _SIZE.clear()
        _SIZE.update(root=root, added=0)
    _SIZE["added"] += cache.tree_size(entry)
    if "total" not in _SIZE or _SIZE["total"] + _SIZE["added"] > limit:
        _SIZE["total"] = cache.evict("numba", keep=(entry,), limit=limit)
        _SIZE["added"] = 0


def get(text):
    """The process-wide Kernel for this module text."""
    key = key_of(text)
    with _LOCK:
        k = _LOADED.get(key)
        if k is None:
            k = _LOADED[key] = Kernel(text, key)
        _RECENT.append(k)
        return k


def cached_on_disk(kernel, sig=None):
    """True when a verified compiled entry exists (for signature name `sig`, when
    given): a second process's hit. Reads only; answers from memory once known."""
    if kernel.dispatcher is not None and kernel.dispatcher.overloads and (
            sig is None or sig in kernel.on_disk):
        return True
    if sig is not None and sig in kernel.on_disk:
        return True
    if not kernel.usable():
        return False
    with contextlib.suppress(OSError, cache.CacheError):
        ok = kernel._source_ok() and kernel.verify(wipe=False, sig=sig)
        if ok and sig is not None:
            kernel.on_disk[sig] = True
        return ok
    return False
