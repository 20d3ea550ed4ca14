"""Configuration flags, set in code (``theano.config.floatX = "float32"``) or
from the environment: ``THEANO_FLAGS`` then ``THEANINE_FLAGS`` (which wins),
each a comma-separated list of ``name=value``.

Invariant: every flag has a default and a validator; setting an unknown flag
or an invalid value raises at once, naming the flag and the allowed values.
"""

from __future__ import annotations

import contextlib
import os
import warnings


def _choice(*allowed):
    def check(v):
        if v not in allowed:
            raise ValueError(f"expected one of {allowed}, got {v!r}")
        return v

    return check


def _bool(v):
    if isinstance(v, str):
        lv = v.strip().lower()
        if lv in ("1", "true", "yes", "on"):
            return True
        if lv in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {v!r}")
    return bool(v)


def _str(v):
    return str(v)


_UNITS = {"": 1, "b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def memory_size(v):
    """Bytes from an int or a string with a unit: 0, 1000000, '256MB', '1.5GiB', '64 kb'."""
    if isinstance(v, str):
        text = v.strip().lower().replace(" ", "").replace("_", "")
        num = text.rstrip("kmgtib")
        unit = text[len(num):]
        try:
            v = float(num) * _UNITS[unit]
        except (KeyError, ValueError):
            raise ValueError(f"expected a number of bytes, optionally with a unit "
                             f"({', '.join(u.upper() for u in _UNITS if u)}), got {v!r}"
                             ) from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != v:
        raise ValueError(f"expected a non-negative number of bytes, got {v!r}")
    return int(v)


def _nonnegative(v):
    v = float(v)
    if not v >= 0:
        raise ValueError(f"expected a number >= 0, got {v!r}")
    return v


NOOP_DOC = "accepted for Theano compatibility; no effect in theanine"

_FLAGS = {
    # name: (default, validator, doc)
    "floatX": ("float64", _choice("float64", "float32", "float16"),
               "dtype of float constants, T.matrix() etc."),
    "mode": ("FAST_RUN", _str, "default compilation mode (FAST_RUN, FAST_COMPILE, PY, ...)"),
    "on_unused_input": ("raise", _choice("raise", "warn", "ignore"),
                        "what function() does with an input the outputs do not use"),
    "allow_gc": (True, _bool, "free intermediate results as soon as they are no longer needed"),
    "check_types": (False, _bool,
                    "check every op's output dtype and ndim against its type (slow; tests)"),
    "print_rewrites": (False, _bool, "print each rewrite that fires"),
    "compute_test_value": ("off", _choice("off", "ignore", "warn", "raise", "pdb"),
                           "accepted for Theano compatibility; test values are not computed"),
    "device": ("cpu", _str, "cuda, gpu, cudaN or gpuN: run on that GPU through the jax "
                            "backend (docs/jax.md); cpu and others: accepted"),
    "optimizer": ("fast_run", _str, "the rewrite pipeline of modes built with "
                  "optimizer='default' (fast_run, fast_compile, merge, None)"),
    "exception_verbosity": ("low", _choice("low", "high"),
                            "accepted for Theano compatibility; errors always carry the "
                            "failing node, its inputs' shapes and types"),
    "profile": (False, _bool, "profile every compiled function"),
    "cache_max_mb": (1000.0, _nonnegative,
                     "size limit of the compiled-code cache in MB; the least recently used "
                     "entries are removed beyond it (0: no limit)"),
    "warn_float64": ("ignore", _choice("ignore", "warn", "raise", "pdb"),
                     "accepted for Theano compatibility"),
    # Accepted so that Theano scripts and THEANO_FLAGS strings run unchanged;
    # theanine generates Python, so no C compiler or GPU setting applies.
    "cxx": ("", _str, "accepted for Theano compatibility (no C compiler is used)"),
    "linker": ("cvm", _str, "accepted for Theano compatibility (see mode)"),
    "optimizer_including": ("", _str, "rewrite steps or rules to add (':'-separated)"),
    "optimizer_excluding": ("", _str, "rewrite steps or rules to skip (':'-separated)"),
    "compiledir": ("", _str, "accepted for Theano compatibility"),
    "base_compiledir": ("", _str, "accepted for Theano compatibility"),
    "openmp": (False, _bool, "accepted for Theano compatibility"),
    "deterministic": ("default", _choice("default", "more"), "accepted for Theano compatibility"),
    "nocleanup": (False, _bool, "accepted for Theano compatibility"),
    "scan.allow_gc": (False, _bool, "accepted for Theano compatibility"),
    "scan_memory_budget": (0, memory_size,
                           "bytes the gradient of a loop may keep for its trace (0: no "
                           "limit); above it the gradient stores checkpoints and recomputes "
                           "steps on a binomial (revolve) schedule (units: 256MB, 1GiB; "
                           "docs/scan_memory_budget.md)"),
    "numba_interim": ("jax", _choice("jax", "numpy"),
                      "what runs a numba function while its kernels compile, when that "
                      "is expected to take long: jax (if installed; else numpy) or numpy "
                      "(docs/numba.md)"),
    "scan.parallel_linear": (True, _bool,
                             "loop carries updated as A*h + B (cumsum, cumprod, running "
                             "max/min, dot(h, M) + B) run as parallel prefix scans "
                             "(docs/parallel_scan.md)"),
    "traceback.limit": (8, int, "accepted for Theano compatibility"),
    "blas.ldflags": ("", _str, "accepted for Theano compatibility"),
    "dnn.enabled": ("auto", _str, "accepted for Theano compatibility"),
    "lib.cnmem": (0.0, float, "accepted for Theano compatibility"),
    "gpuarray.preallocate": (0.0, float, "accepted for Theano compatibility"),
    # Theano 1.0 flags honoured by theanine (added for its scripts).
    "on_opt_error": ("warn", _choice("warn", "raise", "pdb", "ignore"),
                     "a rewrite rule that fails: warn (RewriteWarning) and skip it, raise, "
                     "pdb (post-mortem, then raise) or ignore"),
    "optimizer_verbose": (False, _bool, "print each rewrite that fires (as print_rewrites)"),
    "tensor.local_elemwise_fusion": (True, _bool,
                                     "fuse chains of elementwise ops (False excludes the "
                                     "fusion step)"),
    "cast_policy": ("custom", _choice("custom"),
                    "Theano's default casting rules (the only policy theanine implements)"),
}
_FLAGS.update({name: (default, check, NOOP_DOC) for name, (default, check) in {
    # Theano 1.0 flags accepted so that scripts and THEANO_FLAGS strings run unchanged;
    # they change nothing here (why, per group, in docs/theano_compat.md).
    # graph construction and debugging aids theanine does not have
    "compute_test_value_opt": ("off", _choice("off", "ignore", "warn", "raise", "pdb")),
    "print_test_value": (False, _bool), "pickle_test_value": (True, _bool),
    "check_input": (True, _bool), "check_stack_trace": ("off", _str),
    "cycle_detection": ("regular", _str), "on_shape_error": ("warn", _choice("warn", "raise")),
    "optimizer_requiring": ("", _str), "print_global_stats": (False, _bool),
    "profile_memory": (False, _bool), "profile_optimizer": (False, _bool),
    "cache_optimizations": (False, _bool), "unpickle_function": (True, _bool),
    "reoptimize_unpickled_function": (False, _bool), "vm.lazy": ("None", _str),
    "int_division": ("int", _choice("int", "raise", "floatX")),
    "traceback.compile_limit": (0, int), "conv.assert_shape": (False, _bool),
    "tensor.cmp_sloppy": (0, int), "unittests.rseed": ("666", _str),
    "experimental.local_alloc_elemwise_assert": (True, _bool),
    "experimental.unpickle_gpu_on_cpu": (False, _bool),
    # the scan op's memory options (theanine's scan_memory rewrites decide)
    "scan.allow_output_prealloc": (True, _bool), "scan.debug": (False, _bool),
    # C code generation and compilation (theanine generates Python and numba code)
    "gcc.cxxflags": ("", _str), "compiledir_format": ("", _str),
    "cmodule.mac_framework_link": (False, _bool), "cmodule.warn_no_version": (False, _bool),
    "cmodule.remove_gxx_opt": (False, _bool), "cmodule.compilation_warning": (False, _bool),
    "cmodule.preload_cache": (False, _bool), "cmodule.age_thresh_use": (60 * 60 * 24 * 24, int),
    "cmodule.debug": (False, _bool), "compile.wait": (5, int), "compile.timeout": (120, int),
    "blas.check_openmp": (True, _bool), "openmp_elemwise_minsize": (200000, int),
    "lib.amdlibm": (False, _bool), "ctc.root": ("", _str),
    # GPU back ends of Theano (CUDA, libgpuarray, cuDNN, MAGMA)
    "init_gpu_device": ("", _str), "force_device": (False, _bool), "contexts": ("", _str),
    "print_active_device": (True, _bool), "enable_initial_driver_test": (True, _bool),
    "cuda.root": ("", _str), "cuda.enabled": (True, _bool), "pycuda.init": (False, _bool),
    "cublas.lib": ("cublas", _str), "gpuarray.sync": (False, _bool),
    "gpuarray.sched": ("default", _str), "gpuarray.single_stream": (True, _bool),
    "gpuarray.cache_path": ("", _str), "gpuelemwise.sync": (True, _bool),
    "gpu.local_elemwise_fusion": (True, _bool), "nvcc.fastmath": (False, _bool),
    "nvcc.flags": ("", _str), "nvcc.compiler_bindir": ("", _str),
    "dnn.conv.algo_fwd": ("small", _str), "dnn.conv.algo_bwd_data": ("none", _str),
    "dnn.conv.algo_bwd_filter": ("none", _str), "dnn.conv.precision": ("as_input_f32", _str),
    "dnn.base_path": ("", _str), "dnn.include_path": ("", _str),
    "dnn.library_path": ("", _str), "dnn.bin_path": ("", _str),
    "magma.enabled": (False, _bool), "magma.include_path": ("", _str),
    "magma.library_path": ("", _str),
    # Theano's DebugMode, NanGuardMode and profiler options (theanine's DebugMode always
    # runs the checks it has; see docs/function.md for its profiler)
    "DebugMode.patience": (10, int), "DebugMode.check_c": (True, _bool),
    "DebugMode.check_py": (True, _bool), "DebugMode.check_finite": (True, _bool),
    "DebugMode.check_strides": (0, int), "DebugMode.warn_input_not_reused": (True, _bool),
    "DebugMode.check_preallocated_output": ("", _str),
    "DebugMode.check_preallocated_output_ndim": (4, int),
    "NanGuardMode.nan_is_error": (True, _bool), "NanGuardMode.inf_is_error": (True, _bool),
    "NanGuardMode.big_is_error": (True, _bool), "NanGuardMode.action": ("raise", _str),
    "profiling.time_thunks": (True, _bool), "profiling.n_apply": (20, int),
    "profiling.n_ops": (20, int), "profiling.output_line_width": (512, int),
    "profiling.min_memory_size": (1024, int), "profiling.min_peak_memory": (False, _bool),
    "profiling.destination": ("stderr", _str), "profiling.debugprint": (False, _bool),
    "profiling.ignore_first_call": (False, _bool),
    "optdb.position_cutoff": (float("inf"), float), "optdb.max_use_ratio": (8.0, float),
    "metaopt.verbose": (0, int), "metaopt.optimizer_excluding": ("", _str),
    "metaopt.optimizer_including": ("", _str),
    # NumPy's floating-point error state (theanine leaves it to the program)
    "numpy.seterr_all": ("ignore", _str), "numpy.seterr_divide": ("None", _str),
    "numpy.seterr_over": ("None", _str), "numpy.seterr_under": ("None", _str),
    "numpy.seterr_invalid": ("None", _str),
    # warnings about bugs of old Theano versions
    "warn.ignore_bug_before": ("0.9", _str), "warn.argmax_pushdown_bug": (False, _bool),
    "warn.gpusum_01_011_0111_bug": (False, _bool), "warn.sum_sum_bug": (False, _bool),
    "warn.sum_div_dimshuffle_bug": (False, _bool), "warn.subtensor_merge_bug": (False, _bool),
    "warn.gpu_set_subtensor1": (False, _bool), "warn.vm_gc_bug": (False, _bool),
    "warn.signal_conv2d_interface": (False, _bool), "warn.reduce_join": (False, _bool),
    "warn.inc_set_subtensor1": (False, _bool), "warn.round": (False, _bool),
    "warn.inc_subtensor1_opt": (False, _bool), "warn.identify_1pexp_bug": (False, _bool),
}.items()})
NOOP = frozenset(k for k, v in _FLAGS.items() if v[2].startswith(
    ("accepted for Theano compatibility", NOOP_DOC)))
_SECTIONS = {k.rsplit(".", i)[0] for k in _FLAGS for i in range(1, k.count(".") + 1)}


class _Section:
    """``config.scan`` in ``config.scan.allow_gc``: forwards to the dotted flag."""

    def __init__(self, cfg, prefix):
        object.__setattr__(self, "_cfg", cfg)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name):
        return getattr(self._cfg, f"{self._prefix}.{name}")

    def __setattr__(self, name, value):
        setattr(self._cfg, f"{self._prefix}.{name}", value)


class Config:
    """Attribute access to the flags; ``change_flags`` sets some temporarily."""

    def __init__(self):
        object.__setattr__(self, "_values", {k: v[0] for k, v in _FLAGS.items()})

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            if name in _SECTIONS:
                return _Section(self, name)
            raise AttributeError(f"theanine.config has no flag {name!r}") from None

    def __setattr__(self, name, value):
        if name not in _FLAGS:
            raise AttributeError(
                f"theanine.config has no flag {name!r}; known flags: {sorted(_FLAGS)}")
        try:
            value = _FLAGS[name][1](value)
        except (ValueError, TypeError) as e:
            raise ValueError(f"config.{name}: {e}") from None
        self._values[name] = value

    def __dir__(self):
        return sorted(_FLAGS)

    @contextlib.contextmanager
    def change_flags(self, *args, **kwargs):
        """Set flags inside a ``with`` block (or a decorated function), then
        restore them, even on error. Accepts a dict too (for dotted names)."""
        for d in args:
            kwargs.update(d)
        old = {k: getattr(self, k) for k in kwargs}
        try:
            for k, v in kwargs.items():
                setattr(self, k, v)
            yield self
        finally:
            for k, v in old.items():
                self._values[k] = v

    def __str__(self):
        return "\n".join(f"{k} = {self._values[k]!r}  # {_FLAGS[k][2]}" for k in sorted(_FLAGS))


def parse_flags(text, source):
    """Parse 'a=b,c=d' into a dict; malformed entries raise naming `source`."""
    out = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"{source}: expected name=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


config = Config()

for _var in ("THEANO_FLAGS", "THEANINE_FLAGS"):
    for _k, _v in parse_flags(os.environ.get(_var, ""), _var).items():
        if _k in _FLAGS:
            try:
                setattr(config, _k, _v)
            except ValueError as _e:
                raise ValueError(f"{_var}: {_e}") from None
        else:
            warnings.warn(f"{_var}: unknown flag {_k!r} ignored", stacklevel=1)

change_flags = config.change_flags
