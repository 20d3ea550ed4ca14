"""Compilation: function, shared variables, In/Out, modes, profiling."""

from . import ops
from .compiled_function import Function
from .function import UnusedInputError, function, function_dump
from .io import In, Out
from .mode import FAST_COMPILE, FAST_RUN, DebugMode, Mode, MonitorMode, get_default_mode, get_mode
from .ops import as_op
from .profiling import ProfileStats
from .shared import SharedVariable, TensorSharedVariable, shared

__all__ = ["Function", "UnusedInputError", "function", "function_dump", "In", "Out",
           "DebugMode", "MonitorMode", "FAST_COMPILE",
           "FAST_RUN", "Mode", "get_default_mode", "get_mode", "ProfileStats",
           "SharedVariable", "TensorSharedVariable", "shared", "ops", "as_op"]
