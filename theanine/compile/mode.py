"""Compilation modes: which rewrites run and which backend links the graph.

Mode names: FAST_RUN (default: the fastest available backend), FAST_COMPILE
and PY (the NumPy reference backend). A Mode object may also be built
directly: ``Mode(linker="py", optimizer="fast_compile")``.
"""

from __future__ import annotations

from theanine.config import config


class Mode:
    """A backend plus rewrite options. `excluding` names rule sets or rules to skip."""

    def __init__(self, linker=None, optimizer="default", name=None, excluding=(),
                 including=()):
        self.backend = _backend_of(linker)
        self.optimizer = optimizer
        self.name = name or f"Mode(linker={self.backend!r})"
        self.excluding_ = tuple(excluding)
        self.including_ = tuple(including)

    def excluding(self, *names):
        return Mode(self.backend, self.optimizer, self.name,
                    self.excluding_ + names, self.including_)

    def including(self, *names):
        return Mode(self.backend, self.optimizer, self.name,
                    self.excluding_, self.including_ + names)

    def __eq__(self, other):
        return isinstance(other, Mode) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.backend, self.optimizer, self.excluding_, self.including_)

    def __repr__(self):
        return self.name


def _backend_of(linker):
    if linker in (None, "py", "vm", "cvm", "c", "c|py", "py|c", "cvm_nogc", "vm_nogc"):
        return "py"
    from theanine import backends

    if linker not in backends.BACKENDS:
        raise ValueError(f"Mode: unknown linker {linker!r}; known: {sorted(backends.BACKENDS)}")
    return linker


def _fastest_backend():
    return "py"


PRESETS = {
    "FAST_RUN": lambda: Mode(_fastest_backend(), "fast_run", "FAST_RUN"),
    "FAST_COMPILE": lambda: Mode("py", "fast_compile", "FAST_COMPILE"),
    "PY": lambda: Mode("py", "fast_run", "PY"),
}


def get_mode(mode=None):
    """Resolve None (config.mode), a preset name, or a Mode."""
    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        key = mode.upper() if mode.upper() in PRESETS else mode
        if key in PRESETS:
            return PRESETS[key]()
        raise ValueError(f"unknown mode {mode!r}; known modes: {sorted(PRESETS)}")
    raise TypeError(f"mode must be a mode name or a Mode, got {mode!r}")


FAST_RUN = "FAST_RUN"
FAST_COMPILE = "FAST_COMPILE"
