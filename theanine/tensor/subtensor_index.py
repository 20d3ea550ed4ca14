"""Index parsing shared by the subtensor ops: classify user indices, encode them
as a hashable pattern plus symbolic slot inputs, decode at run time, and infer
the layout of the result.

A *pattern* is a tuple with one entry per indexed dimension group:
  - a Python int                 constant integer index
  - "s"                          symbolic integer scalar (one slot input)
  - ("slice", a, b, c)           a slice; each part None, a Python int or "s"
  - "a"                          integer array or boolean mask (one slot input;
                                 advanced ops only)
Patterns never contain None (newaxis) or Ellipsis: `getitem` expands Ellipsis
and re-inserts newaxis dims with a DimShuffle. Trailing full slices are dropped,
so x[0] and x[0, :] build the same op.

Also the helpers both kinds of indexing ops use (subtensor.py and
subtensor_advanced.py): index scalars, the value of an increment, its gradient.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant, Variable

from .basic import as_tensor_variable
from .math import cast, int_div, lt, maximum, minimum, switch
from .math import gt as gt_
from .reduce import sum as tsum
from .shape import patternbroadcast

FULL = ("slice", None, None, None)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _describe(e):
    if isinstance(e, Variable):
        return f"a symbolic {e.type}"
    return f"{type(e).__name__} {e!r}"


def _scalar_part(p, what):
    """A slice part or scalar index: None, a Python int, or an int scalar Variable."""
    if p is None or _is_int(p):
        return None if p is None else int(p)
    if isinstance(p, Variable) or isinstance(p, np.ndarray):
        v = as_tensor_variable(p)
        if v.ndim != 0 or not v.dtype.startswith(("int", "uint")):
            raise TypeError(f"{what}: expected None, an int or an integer scalar, got "
                            f"{_describe(p)}")
        if isinstance(v, Constant):
            return int(v.data)
        return v
    raise TypeError(f"{what}: expected None, an int or an integer scalar, got {_describe(p)}")


def classify(idx, ndim):
    """Turn a user index into a list of entries, Ellipsis expanded:
    ("new",), ("int", int|Variable), ("slice", a, b, c), ("arr", Variable),
    ("mask", Variable), ("ell0",) (an Ellipsis that covers no dim).
    Raises TypeError / IndexError naming the bad index."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    entries, n_ell, used = [], 0, 0
    for k, e in enumerate(idx):
        what = f"index {k}"
        if e is None:
            entries.append(("new",))
        elif e is Ellipsis:
            n_ell += 1
            if n_ell > 1:
                raise IndexError("an index can only have a single Ellipsis ('...')")
            entries.append(("ell",))
        elif isinstance(e, slice):
            parts = tuple(_scalar_part(p, f"{what} (slice {name})")
                          for p, name in zip((e.start, e.stop, e.step),
                                             ("start", "stop", "step")))
            if parts[2] == 0:
                raise ValueError(f"{what}: slice step cannot be zero")
            entries.append(("slice",) + parts)
            used += 1
        elif isinstance(e, (bool, np.bool_)):
            raise TypeError(f"{what}: a boolean scalar is not a valid index; use a "
                            "boolean array (mask) or an integer")
        elif _is_int(e):
            entries.append(("int", int(e)))
            used += 1
        elif isinstance(e, (float, complex, np.floating, np.complexfloating, str)):
            raise TypeError(f"{what}: expected an integer, slice, None, Ellipsis or an "
                            f"integer/boolean array, got {_describe(e)}")
        else:
            try:
                v = as_tensor_variable(e)
            except TypeError:
                raise TypeError(f"{what}: expected an integer, slice, None, Ellipsis or an "
                                f"integer/boolean array, got {_describe(e)}") from None
            if v.dtype == "bool":
                if v.ndim == 0:
                    raise TypeError(f"{what}: a boolean scalar is not a valid index; use a "
                                    "boolean array (mask) or an integer")
                entries.append(("mask", v))
                used += v.ndim
            elif v.dtype.startswith(("int", "uint")):
                if v.ndim == 0:
                    entries.append(("int", int(v.data) if isinstance(v, Constant) else v))
                else:
                    entries.append(("arr", v))
                used += 1
            else:
                raise TypeError(f"{what}: expected an integer, slice, None, Ellipsis or an "
                                f"integer/boolean array, got {_describe(e)} (cast float "
                                "indices with T.cast(i, 'int64'))")
    if used > ndim:
        raise IndexError(f"too many indices for a {ndim}-d tensor: {used} dimensions "
                         f"indexed by {idx!r}")
    out = []
    for e in entries:
        if e[0] == "ell" and used == ndim:
            out.append(("ell0",))  # NumPy: an empty Ellipsis still separates array indices
        elif e[0] == "ell":
            out.extend([FULL] * (ndim - used))
        else:
            out.append(e)
    return out


def is_advanced(entries):
    return any(e[0] in ("arr", "mask") for e in entries)


def encode(entries):
    """(pattern, slot inputs) for entries without newaxis; trailing full slices dropped."""
    entries = list(entries)
    while entries and entries[-1] == FULL:
        entries.pop()
    pattern, slots = [], []

    def part(p):
        if p is None or isinstance(p, int):
            return p
        slots.append(p)
        return "s"

    for e in entries:
        if e[0] == "int":
            pattern.append(part(e[1]))
        elif e[0] == "slice":
            pattern.append(("slice", part(e[1]), part(e[2]), part(e[3])))
        else:
            slots.append(e[1])
            pattern.append("a")
    return tuple(pattern), slots


def decode(pattern, values):
    """The NumPy index tuple for `pattern` with slot `values` filled in."""
    it = iter(values)

    def part(p):
        return int(next(it)) if p == "s" else p

    out = []
    for p in pattern:
        if isinstance(p, tuple):
            out.append(slice(part(p[1]), part(p[2]), part(p[3])))
        elif p == "a":
            out.append(np.asarray(next(it)))
        else:
            out.append(part(p))
    return tuple(out)


def layout(entries, x_broadcastable):
    """Output dims of indexing a tensor with `entries` (Ellipsis expanded), with
    NumPy's rules: each slice or remaining dim keeps an input dim, newaxis adds a
    broadcastable dim, integers drop a dim; with any array index, integers and
    arrays broadcast together into one block, placed where the first of them
    is when they are consecutive (newaxis and any Ellipsis separate them), else
    first.
    Returns a list of (label, broadcastable): label ("d", input_dim), ("x",) or
    ("adv", j)."""
    advanced = is_advanced(entries)
    pre, adv_pos, dim = [], [], 0
    adv_shapes = []
    for k, e in enumerate(entries):
        kind = e[0]
        if kind == "new":
            pre.append((("x",), True))
        elif kind == "ell0":
            continue
        elif kind == "slice":
            pre.append((("d", dim), slice_broadcastable(x_broadcastable[dim], e[1:])))
            dim += 1
        elif kind == "int":
            if advanced:
                adv_pos.append(k)
                adv_shapes.append(())
            dim += 1
        elif kind == "arr":
            adv_pos.append(k)
            adv_shapes.append(e[1].broadcastable)
            dim += 1
        else:  # mask
            adv_pos.append(k)
            adv_shapes.append((False,))
            dim += e[1].ndim
        if advanced and kind in ("int", "arr", "mask"):
            pre.append(("ADV", None))
    rest = [(("d", d), x_broadcastable[d]) for d in range(dim, len(x_broadcastable))]
    if not advanced:
        return pre + rest
    nb = max(len(s) for s in adv_shapes)
    block = []
    for j in range(nb):
        flags = [s[j - (nb - len(s))] for s in adv_shapes if j >= nb - len(s)]
        block.append((("adv", j), all(flags)))
    consecutive = adv_pos == list(range(adv_pos[0], adv_pos[-1] + 1))
    others = [p for p in pre if p[0] != "ADV"]
    if consecutive:
        first = pre.index(("ADV", None))
        before = [p for p in pre[:first] if p[0] != "ADV"]
        after = [p for p in pre[first:] if p[0] != "ADV"]
        return before + block + after + rest
    return block + others + rest


def slice_broadcastable(in_bc, parts):
    """A slice of a broadcastable (length-1) dim stays broadcastable when its
    constant parts select exactly that one element."""
    if not in_bc or any(not (p is None or isinstance(p, int)) for p in parts):
        return False
    return len(range(1)[slice(*parts)]) == 1


def check_int_index(i, n, axis, what="index"):
    """Raise IndexError for an out-of-range integer index (NumPy-style message)."""
    if not -n <= i < n:
        raise IndexError(f"{what} {i} is out of bounds for axis {axis} with size {n}")


def slice_length(n, parts):
    """Symbolic int64 length of x[slice(*parts)] along a dim of symbolic length n."""
    start, stop, step = parts
    if start is None and stop is None and (step is None or step == 1):
        return n

    def i64(p):
        return p if p is None or isinstance(p, int) else cast(p, "int64")

    start, stop, step = i64(start), i64(stop), i64(step)

    def clamp(p, default, lo, hi_off):
        # Python's slice clamping: negative counts from the end, limited to [lo, n+hi_off]
        if p is None:
            return default
        hi = n + hi_off if hi_off else n
        if isinstance(p, int):
            return maximum(n + p, lo) if p < 0 else minimum(hi, p)
        return switch(lt(p, 0), maximum(n + p, lo), minimum(hi, p))

    def positive(st):
        s = clamp(start, 0, 0, 0)
        e = clamp(stop, n, 0, 0)
        d = e if isinstance(s, int) else maximum(e - s, 0)  # int s: start None, 0
        return d if isinstance(st, int) and st == 1 else int_div(d + st - 1, st)

    def negative(st):
        s = clamp(start, n - 1, -1, -1)
        e = clamp(stop, -1, -1, -1)
        d = maximum(s - e, 0)
        return int_div(d + (-st) - 1, -st)

    if step is None or isinstance(step, int):
        st = 1 if step is None else step
        out = positive(st) if st > 0 else negative(st)
    else:
        out = switch(gt_(step, 0), positive(step), negative(step))
    return cast(out, "int64")


# -- helpers of the indexing ops (subtensor.py, subtensor_advanced.py) ----------
def as_index_scalar(v, what):
    """An integer scalar index input (symbolic)."""
    v = as_tensor_variable(v)
    if v.ndim != 0 or not v.dtype.startswith(("int", "uint")):
        raise TypeError(f"{what}: expected an integer scalar, got {v.type}")
    return v


def check_value_broadcast(opname, view_shape, y, y_bc, set_instead_of_inc):
    """The value y must broadcast to the indexed shape along its declared
    broadcastable dims only (so its gradient can be summed back)."""
    off = len(view_shape) - y.ndim
    for j in range(y.ndim):
        n = view_shape[off + j]
        if y.shape[j] != n and not y_bc[j]:
            verb = "set" if set_instead_of_inc else "increment"
            raise ValueError(
                f"{opname}: cannot {verb} a subtensor of shape {tuple(view_shape)} with a "
                f"value of shape {y.shape}: dimension {j} of the value has length "
                f"{y.shape[j]} where {n} is needed" +
                (" (it is not broadcastable; mark it with T.addbroadcast if it has "
                 "length 1 on purpose)" if y.shape[j] == 1 else ""))


def reduce_like(g, y):
    """Sum gradient g (of the broadcast value) back to the type of the value y."""
    lead = g.ndim - y.ndim
    if lead:
        g = tsum(g, axis=tuple(range(lead)))
    axes = tuple(i for i in range(y.ndim) if y.broadcastable[i] and not g.broadcastable[i])
    if axes:
        g = tsum(g, axis=axes, keepdims=True)
    return patternbroadcast(g, y.broadcastable)


def prepare_value(opname, x, y, view_type):
    """y as a tensor of x's dtype with at most the indexed view's ndim."""
    y = as_tensor_variable(y)
    if y.ndim > view_type.ndim:
        raise ValueError(f"{opname}: the value y has {y.ndim} dims, more than the "
                         f"{view_type.ndim} of the indexed subtensor of {x}")
    if y.dtype.startswith("complex") and not x.dtype.startswith("complex"):
        raise TypeError(f"{opname}: cannot store complex y (dtype {y.dtype}) into x of "
                        f"dtype {x.dtype}")
    return cast(y, x.dtype)
