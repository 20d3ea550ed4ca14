"""Theano's extra_ops (``T.extra_ops`` and the matching ``T.<name>``): ranges,
cumulative ops, sorting, repetition, diagonals and a few shape helpers.

The ops live in topic modules; this module gathers their public names.
"""

from __future__ import annotations

from .cumulative import CumOp, cumprod, cumsum, diff
from .diagonal import (
    ExtractDiag,
    SetDiag,
    diag,
    diagonal,
    fill_diagonal,
    fill_diagonal_offset,
    trace,
)
from .join import horizontal_stack, vertical_stack
from .ranges import (
    ARange,
    Bartlett,
    OneHot,
    arange,
    bartlett,
    eye,
    identity_like,
    to_one_hot,
    tri,
    tril,
    triu,
)
from .repetition import BinCount, RepeatGrad, RepeatOp, Roll, bincount, repeat, roll, tile
from .shape import MakeVector, Shape_i, flatten, get_vector_length, make_vector, shape_i, squeeze
from .sorting import (
    ArgSortOp,
    PermuteAlongAxis,
    SearchsortedOp,
    SortOp,
    Unique,
    argsort,
    compress,
    inverse_permutation,
    searchsorted,
    sort,
    unique,
)
from .unravel import RavelMultiIndex, UnravelIndex, ravel_multi_index, unravel_index

__all__ = [
    "Bartlett", "bartlett", "UnravelIndex", "unravel_index", "RavelMultiIndex",
    "ravel_multi_index",
    "ARange", "arange", "eye", "tri", "tril", "triu", "identity_like", "OneHot", "to_one_hot",
    "CumOp", "cumsum", "cumprod", "diff",
    "SortOp", "ArgSortOp", "PermuteAlongAxis", "sort", "argsort", "inverse_permutation", "compress",
    "SearchsortedOp", "searchsorted", "Unique", "unique",
    "RepeatOp", "RepeatGrad", "repeat", "tile", "Roll", "roll", "BinCount", "bincount",
    "ExtractDiag", "SetDiag", "diagonal", "trace", "diag", "fill_diagonal",
    "fill_diagonal_offset",
    "horizontal_stack", "vertical_stack",
    "MakeVector", "make_vector", "Shape_i", "shape_i", "get_vector_length", "flatten",
    "squeeze",
]
