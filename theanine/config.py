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
    "optimizer": ("fast_run", _str, "accepted for Theano compatibility"),
    "exception_verbosity": ("low", _choice("low", "high"), "detail of error messages"),
    "profile": (False, _bool, "profile every compiled function"),
    "warn_float64": ("ignore", _choice("ignore", "warn", "raise", "pdb"),
                     "accepted for Theano compatibility"),
    # Accepted so that Theano scripts and THEANO_FLAGS strings run unchanged;
    # theanine generates Python, so no C compiler or GPU setting applies.
    "cxx": ("", _str, "accepted for Theano compatibility (no C compiler is used)"),
    "linker": ("cvm", _str, "accepted for Theano compatibility (see mode)"),
    "optimizer_including": ("", _str, "accepted for Theano compatibility"),
    "optimizer_excluding": ("", _str, "accepted for Theano compatibility"),
    "compiledir": ("", _str, "accepted for Theano compatibility"),
    "base_compiledir": ("", _str, "accepted for Theano compatibility"),
    "openmp": (False, _bool, "accepted for Theano compatibility"),
    "deterministic": ("default", _choice("default", "more"), "accepted for Theano compatibility"),
    "nocleanup": (False, _bool, "accepted for Theano compatibility"),
    "scan.allow_gc": (False, _bool, "accepted for Theano compatibility"),
    "traceback.limit": (8, int, "accepted for Theano compatibility"),
    "blas.ldflags": ("", _str, "accepted for Theano compatibility"),
    "dnn.enabled": ("auto", _str, "accepted for Theano compatibility"),
    "lib.cnmem": (0.0, float, "accepted for Theano compatibility"),
    "gpuarray.preallocate": (0.0, float, "accepted for Theano compatibility"),
}
_SECTIONS = {k.split(".", 1)[0] for k in _FLAGS if "." in k}


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
