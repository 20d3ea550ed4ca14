"""Compilation modes: which rewrites run and which backend links the graph.

Mode names (case-insensitive): FAST_RUN (the default: numba when it imports,
else py; $THEANINE_BACKEND=py|numba|jax chooses, and THEANO_FLAGS=device=cuda (or
gpu, cudaN, gpuN) chooses jax, on the GPU), NUMBA, JAX (docs/jax.md; needs
``pip install theanine[jax]``), FAST_COMPILE and PY (the NumPy reference backend),
DebugMode / DEBUG_MODE / DEBUG (py and numba side by
side, every node's results compared and checked against their types; py with
type checks when numba is missing). A Mode may
also be built directly: ``Mode(linker="py", optimizer="fast_compile")``; Theano's
C linker names ('c', 'cvm', 'vm', ...) select the py backend.

Invariant: get_mode returns a Mode or raises naming the known modes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import warnings

from theanine import backends
from theanine.config import config
from theanine.rewrites.pipeline import steps_for

_PY_LINKERS = (None, "py", "vm", "cvm", "c", "c|py", "py|c", "cvm_nogc", "vm_nogc",
               "c|py_nogc")


class Mode:
    """A backend plus rewrite options.

    linker: backend name ('py', or one registered in theanine.backends).
    optimizer: rewrite pipeline: 'fast_run', 'fast_compile', 'merge', None (no
    rewrites) or 'default' (config.optimizer); see theanine/rewrites/pipeline.py.
    excluding: names of steps, rule sets or rules not to run; including: FAST_RUN
    steps to add to a smaller pipeline; requiring: accepted for Theano.
    check_types: check each op's output against its type (as DebugMode)."""

    def __init__(self, linker=None, optimizer="default", name=None, excluding=(),
                 including=(), requiring=(), check_types=False):
        self.backend = _backend_of(linker)
        self.optimizer = optimizer
        self.name = name or f"Mode(linker={self.backend!r}, optimizer={optimizer!r})"
        self.excluding_ = tuple(excluding)
        self.including_ = tuple(including)
        self.requiring_ = tuple(requiring)
        self.check_types = bool(check_types)

    @property
    def linker(self):
        return self.backend

    def _with(self, **changes):
        kw = {"linker": self.backend, "optimizer": self.optimizer, "name": self.name,
              "excluding": self.excluding_, "including": self.including_,
              "requiring": self.requiring_, "check_types": self.check_types}
        kw.update(changes)
        return self._rebuild(kw)

    def _rebuild(self, kw):
        """A mode of this class with the Mode arguments `kw` (subclasses keep theirs)."""
        return Mode(**kw)

    def excluding(self, *names):
        return self._with(excluding=self.excluding_ + names)

    def including(self, *names):
        return self._with(including=self.including_ + names)

    def requiring(self, *names):
        return self._with(requiring=self.requiring_ + names)

    def clone(self, link_kwargs=None, optimizer="", **kwargs):
        return self._with(optimizer=self.optimizer if optimizer == "" else optimizer)

    def __eq__(self, other):
        return isinstance(other, Mode) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def rewrite_steps(self):
        """(steps, excluded names): this mode's rewrite pipeline (theanine/rewrites),
        with `including` added and `excluding` (and the optimizer_* flags, and the
        backend's own exclusions: rewrites/pipeline.py BACKEND_EXCLUDES) applied."""
        return steps_for(self.optimizer, self.excluding_, self.including_, self.backend)

    def _key(self):
        return (type(self), self.backend, self.optimizer, self.excluding_, self.including_,
                self.requiring_, self.check_types)

    def __repr__(self):
        return self.name


class DebugMode(Mode):
    """Theano's DebugMode (``theano.compile.debugmode.DebugMode``): every node runs on
    the py backend and as a numba kernel side by side, results compared and checked
    against their types (backends/numba/debug.py); without numba, py with type checks.

    Theano's check_* options are accepted; theanine always runs the checks it has
    (types, py against numba) and none of the others (C code, strides, preallocated
    outputs, which do not exist here)."""

    def __init__(self, optimizer="fast_run", stability_patience=None, check_c_code=None,
                 check_py_code=None, check_isfinite=None, check_preallocated_output=None,
                 require_matching_strides=None, linker=None, name="DebugMode",
                 excluding=(), including=(), requiring=(), check_types=True):
        super().__init__(linker or _debug_backend(), optimizer, name, excluding, including,
                         requiring, check_types=True)

    def _rebuild(self, kw):
        return DebugMode(optimizer=kw["optimizer"], linker=kw["linker"], name=kw["name"],
                         excluding=kw["excluding"], including=kw["including"],
                         requiring=kw["requiring"])


class MonitorMode(Mode):
    """Theano's MonitorMode: ``pre_func(i, node, fn)`` and ``post_func(i, node, fn)``
    are called before and after node number i of the graph runs, with ``fn.inputs``
    and ``fn.outputs`` lists of one-element lists holding the values (outputs hold
    None before the node runs). Runs on the py backend (as Theano's, which wraps
    its Python linker)."""

    def __init__(self, pre_func=None, post_func=None, optimizer="default", linker=None,
                 name="MonitorMode", excluding=(), including=(), requiring=(),
                 check_types=False):
        for arg, f in (("pre_func", pre_func), ("post_func", post_func)):
            if f is not None and not callable(f):
                raise TypeError(f"MonitorMode: {arg} must be callable or None, got {f!r}")
        self.pre_func, self.post_func = pre_func, post_func
        super().__init__("py", optimizer, name, excluding, including, requiring,
                         check_types)

    def _rebuild(self, kw):
        return MonitorMode(self.pre_func, self.post_func, kw["optimizer"], None, kw["name"],
                           kw["excluding"], kw["including"], kw["requiring"],
                           kw["check_types"])

    def _key(self):
        return super()._key() + (self.pre_func, self.post_func)


def _backend_of(linker):
    if linker in _PY_LINKERS:
        return "py"
    if linker not in backends.BACKENDS:
        raise ValueError(f"Mode: unknown linker {linker!r}; known: "
                         f"{sorted(backends.BACKENDS)} (and Theano's C/VM linker names, "
                         "which select 'py')")
    if linker == "jax" and importlib.util.find_spec("jax") is None:
        raise ImportError("the jax backend (mode='JAX', linker='jax', THEANINE_BACKEND=jax) "
                          "needs JAX, which is not installed: pip install theanine[jax]")
    return linker


_warned = []


def _fastest_backend():
    """The FAST_RUN backend: $THEANINE_BACKEND when set; jax when config.device names a
    GPU; else numba when it imports, else py."""
    choice = os.environ.get("THEANINE_BACKEND", "").strip().lower()
    if choice in ("py", "numba", "jax"):
        return choice
    if re.fullmatch(r"(cuda|gpu)\d*", str(config.device).strip().lower()):
        if importlib.util.find_spec("jax") is not None:
            return "jax"
        if not _warned:
            _warned.append(True)
            warnings.warn(f"theanine: device={config.device} runs on the GPU through the jax "
                          "backend, but JAX is not installed (pip install theanine[jax]); "
                          "running on the CPU instead", stacklevel=4)
    return "numba" if _numba_importable() else "py"


def _numba_importable():
    # find_spec, not import: importing numba costs ~0.3 s, paid at the first link
    return importlib.util.find_spec("numba") is not None


def _debug_backend():
    return "debug" if _numba_importable() else "py"


PRESETS = {
    "FAST_RUN": lambda: Mode(_fastest_backend(), "fast_run", "FAST_RUN"),
    "FAST_COMPILE": lambda: Mode("py", "fast_compile", "FAST_COMPILE"),
    "PY": lambda: Mode("py", "fast_run", "PY"),
    "NUMBA": lambda: Mode("numba", "fast_run", "NUMBA"),
    "JAX": lambda: Mode("jax", "fast_run", "JAX"),
    "DEBUG_MODE": lambda: DebugMode(),
}
_ALIASES = {"DEBUGMODE": "DEBUG_MODE", "DEBUG": "DEBUG_MODE"}


def get_mode(mode=None):
    """Resolve None (config.mode), a preset name, or a Mode."""
    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        key = mode.upper()
        key = _ALIASES.get(key, key)
        if key in PRESETS:
            return PRESETS[key]()
        raise ValueError(f"unknown mode {mode!r}; known modes: "
                         f"{sorted(PRESETS) + ['DebugMode']} or a theano.Mode instance")
    raise TypeError(f"mode must be a mode name or a Mode instance, got {mode!r}")


def get_default_mode():
    """The Mode that function(mode=None) uses (config.mode)."""
    return get_mode(None)


FAST_RUN = PRESETS["FAST_RUN"]()
FAST_COMPILE = PRESETS["FAST_COMPILE"]()
