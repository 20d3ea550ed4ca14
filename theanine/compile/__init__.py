"""Compilation: function, shared variables, In/Out, modes, profiling."""

from . import ops
from .compiled_function import Function
from .function import UnusedInputError, function
from .io import In, Out
from .mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode
from .ops import as_op
from .profiling import ProfileStats
from .shared import SharedVariable, TensorSharedVariable, shared

__all__ = ["Function", "UnusedInputError", "function", "In", "Out", "FAST_COMPILE",
           "FAST_RUN", "Mode", "get_default_mode", "get_mode", "ProfileStats",
           "SharedVariable", "TensorSharedVariable", "shared", "ops", "as_op"]
