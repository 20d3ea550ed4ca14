"""What fn returns: outputs, updates and an until condition, each checked (scan calls
fn once, on symbolic step variables).

Accepted returns: outputs; updates (a dict or a list of (shared, value) pairs);
(outputs, updates); (outputs, until); (outputs, updates, until); (updates, until).
An empty updates container ((), [] or {}) in the updates position is no update.
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.graph.basic import Variable
from theanine.graph.sharedvalue import SharedVariable

from .utils import until


def parse_return(raw):
    """Split fn's return into (outputs, update pairs, until condition)."""
    if isinstance(raw, until):
        return [], [], raw.condition
    if isinstance(raw, dict):
        return [], list(raw.items()), None
    if not isinstance(raw, (list, tuple)):
        return [raw], [], None
    items, cond, updates = list(raw), None, []
    if items and isinstance(items[-1], until):
        cond = items.pop().condition
    if any(isinstance(it, until) for it in items):
        raise ValueError("scan: until(...) must be the last thing fn returns, as in "
                         "`return outputs, until(cond)` or `return outputs, updates, "
                         "until(cond)`")
    if len(items) > 1 and isinstance(items[-1], (list, tuple, dict)) and not items[-1]:
        items.pop()  # (outputs, (), until(c)): no updates
    elif items and isinstance(items[-1], dict):
        updates = list(items.pop().items())
    elif items and _is_pair_list(items[-1]):
        updates = list(items.pop())
    elif _is_pair_list(items):
        return [], list(items), cond
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = list(items[0])
    return items, updates, cond


def _is_pair_list(v):
    return (isinstance(v, (list, tuple)) and len(v) > 0
            and all(isinstance(p, (list, tuple)) and len(p) == 2 and _is_shared(p[0])
                    for p in v))


def _is_shared(v):
    return isinstance(v, SharedVariable)


def as_output(o, k):
    """fn's output k as a symbolic variable, or a TypeError saying what it is."""
    if isinstance(o, Variable):
        return o
    if isinstance(o, (int, float, complex, bool, np.ndarray, np.generic)):
        raise TypeError(f"scan: fn returned the Python/NumPy constant {o!r} as output {k}; "
                        "return a symbolic variable (e.g. T.constant(value) or an "
                        "expression of fn's arguments)")
    raise TypeError(f"scan: fn returned {o!r} as output {k}; expected a symbolic variable")


def match_type(out, typ, k, init):
    """Check fn's output k against its state's type; fix only the safe direction."""
    if out.type == typ:
        return out
    if getattr(out, "dtype", None) != typ.dtype:
        raise TypeError(
            f"scan: output {k} of fn has dtype {out.dtype}, but its initial state "
            f"(outputs_info[{k}] = {init}) has dtype {typ.dtype}. Cast one of them, e.g. "
            f"outputs_info=T.cast(init, '{out.dtype}') or return T.cast(out, "
            f"'{typ.dtype}') from fn.")
    if out.ndim != typ.ndim:
        raise TypeError(f"scan: output {k} of fn has {out.ndim} dimensions but its initial "
                        f"state (outputs_info[{k}]) has {typ.ndim}; they must match")
    bad = [i for i, (a, b) in enumerate(zip(out.broadcastable, typ.broadcastable))
           if b and not a]
    if bad:
        raise TypeError(
            f"scan: output {k} of fn has broadcastable pattern {out.broadcastable} but its "
            f"initial state has {typ.broadcastable}: dimension(s) {bad} of the state are "
            "broadcastable but the output's are not. Use T.unbroadcast(init, "
            f"{', '.join(map(str, bad))}) on the initial state, or T.addbroadcast on fn's "
            "output if it really has length 1.")
    return T.patternbroadcast(out, typ.broadcastable)
