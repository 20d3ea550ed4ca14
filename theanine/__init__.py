"""theanine: symbolic tensor computing in the Theano tradition.

    import theanine as theano
    import theanine.tensor as T
"""

from __future__ import annotations

import sys as _sys

from . import config as _config_module
from .config import config
from .graph.basic import Apply, Constant, Op, Type, Variable
from .graph.fgraph import FunctionGraph, MissingInputError
from . import tensor  # noqa: E402
from . import gradient  # noqa: E402
from .gradient import Lop, Rop, grad  # noqa: E402
from . import compile  # noqa: E402
from .compile import (In, Mode, Out, ProfileStats, SharedVariable, function,  # noqa: E402
                      shared)
from .compile.function import UnusedInputError, function_dump  # noqa: E402
from .gradient import subgraph_grad  # noqa: E402
from .graph.traversal import clone_with_replacements as clone  # noqa: E402
from .tensor import dot  # noqa: E402
from .builders import OpFromGraph  # noqa: E402
from .scan import (OrderedUpdates, foldl, foldr, map, reduce, scan,  # noqa: E402, A004
                   scan_checkpoints, until)
from .scan.jacobian import hessian, jacobian  # noqa: E402
from . import scan_module  # noqa: E402
from . import ifelse, printing, sandbox  # noqa: E402
from .printing import debugprint as dprint  # noqa: E402
from .printing import pp  # noqa: E402

__version__ = "0.1.0"

change_flags = config.change_flags
theano = _sys.modules[__name__]  # ``from theanine import theano`` gives the package

__all__ = ["config", "Apply", "Constant", "Op", "Type", "Variable", "FunctionGraph",
           "MissingInputError", "tensor", "gradient", "grad", "Lop", "Rop", "compile", "In",
           "Mode", "Out", "ProfileStats", "SharedVariable", "function", "shared",
           "UnusedInputError", "function_dump", "subgraph_grad", "clone", "dot", "OpFromGraph",
           "theano", "OrderedUpdates", "foldl", "foldr", "map", "reduce", "scan",
           "scan_checkpoints", "until", "hessian", "jacobian", "scan_module", "ifelse",
           "printing", "sandbox", "dprint", "pp"]
del _config_module
