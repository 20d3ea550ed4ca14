"""Theano's ``theano.compile.debugmode`` names (the mode lives in mode.py)."""

from theanine.backends.numba.debug import DebugModeError

from .mode import DebugMode

__all__ = ["DebugMode", "DebugModeError"]
