"""Theano's taps, translated into the core form's sequences and carries (checked when
the graph is built, each error naming the argument).

- A sequence with taps T (ints, all different; a lone int is [it]) is one core
  sequence per tap, ``x[k - lo : L - (hi - k)]`` with lo = min(T, 0),
  hi = max(T, 0): L - (hi - lo) steps, so x needs at least hi - lo rows.
  go_backwards reverses x first.
- An output with taps [-1] is a carry; with strictly negative taps T (m = -min T)
  a carry holding a window of the last m values, whose trace's last column is the
  output: its initial state needs at least m rows, of which the first m are used.
- A length that is not known when the graph is built is checked when the loop runs,
  before it starts (CheckSteps, with a message naming the argument).
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.graph.basic import Constant, Variable

from .utils import CheckSteps


class Sequence:
    """One entry of `sequences`: `slices` (the core sequences, one per tap), `args`
    (the step variables fn receives for them) and `n_steps` (the steps it allows)."""

    def __init__(self, x, taps, arg):
        lo, hi = min(min(taps), 0), max(max(taps), 0)
        x = _at_least(x, hi - lo, f"{arg} has {{rows}} rows, but its taps {taps} need "
                                  f"at least {{n}} (each step reads {hi - lo + 1} "
                                  "consecutive rows)")
        length = x.shape[0]
        self.n_steps = length - (hi - lo)
        self.slices, self.args = [], []
        for tap in taps:
            self.slices.append(x[tap - lo:] if hi - tap == 0
                               else x[tap - lo:length - (hi - tap)])
            inner = x.type.clone(broadcastable=x.broadcastable[1:])()
            inner.name = f"{x.name}[t{tap:+d}]" if x.name else None
            self.args.append(inner)


class Output:
    """One entry of `outputs_info`: `kind` 'carry' (taps [-1]), 'window' (other taps)
    or 'y' (not fed back); `init` the initial state (the first m rows for a window),
    `carry` the inner carry variable and `args` the variables fn receives for it."""

    def __init__(self, kind, init=None, taps=(), carry=None, args=()):
        self.kind, self.init, self.taps = kind, init, list(taps)
        self.carry, self.args = carry, list(args)


def sequences(seqs, go_backwards):
    """[Sequence] for the entries of `sequences`."""
    out = []
    for k, s in enumerate(seqs):
        arg = f"sequences[{k}]"
        if isinstance(s, dict):
            if "input" not in s:
                raise ValueError(f"scan: {arg} is a dict without 'input'")
            x = as_var(s["input"], f"{arg}['input']")
            taps = check_taps(s.get("taps", [0]), arg) or [0]
        else:
            x, taps = as_var(s, arg), [0]
        if x.ndim == 0:
            raise TypeError(f"scan: {arg} is a 0-d tensor; sequences are iterated "
                            "over their first dimension")
        out.append(Sequence(x[::-1] if go_backwards else x, taps, arg))
    return out


def outputs(infos):
    """[Output] for the entries of `outputs_info`."""
    out = []
    for k, info in enumerate(infos):
        arg = f"outputs_info[{k}]"
        if info is None:
            out.append(Output("y"))
            continue
        if isinstance(info, dict):
            taps = check_taps(info.get("taps"), arg)
            if info.get("initial") is None:
                if taps:
                    raise ValueError(f"scan: {arg} has taps but no 'initial' state; give "
                                     "dict(initial=..., taps=...)")
                out.append(Output("y"))
                continue
            init = as_var(info["initial"], f"{arg}['initial']")
            taps = taps or [-1]
        else:
            init, taps = as_var(info, arg), [-1]
        if any(t >= 0 for t in taps):
            raise ValueError(f"scan: {arg} has taps {taps}; output taps must be strictly "
                             "negative (they read past values)")
        out.append(_carry(init, taps, arg))
    return out


def _carry(init, taps, arg):
    if taps == [-1]:
        c = init.type()
        c.name = f"{init.name}[t-1]" if init.name else None
        return Output("carry", init, taps, c, [c])
    m = -min(taps)
    if init.ndim == 0:
        raise TypeError(f"scan: {arg} uses taps {taps}, so its initial state needs a "
                        f"leading axis of at least {m} rows")
    init = _at_least(init, m, f"{arg}['initial'] has {{rows}} rows, but its taps {taps} "
                              "read that many past values: it needs at least {n}")
    window = init[:m]
    w = window.type()
    return Output("window", window, taps, w, [w[m + t] for t in taps])


def check_taps(taps, arg):
    """`taps` as a list of distinct ints (a lone int: [it]; None: [])."""
    if taps is None:
        return []
    if isinstance(taps, int | np.integer):
        taps = [taps]
    taps = list(taps)
    bad = [t for t in taps if not isinstance(t, int | np.integer) or isinstance(t, bool)]
    if bad:
        raise TypeError(f"scan: {arg} has taps {taps}; taps must be integers, got {bad[0]!r}")
    if len(set(taps)) != len(taps):
        raise ValueError(f"scan: {arg} has taps {taps}: taps must be different")
    return [int(t) for t in taps]


def _at_least(x, rows, message):
    """x, checked to have at least `rows` rows: now if its length is known, else when
    the loop runs, before it starts. `message` says what is wrong, with {rows} for
    the rows found and {n} for the rows needed."""
    if rows <= 0:
        return x
    if isinstance(x, Constant):
        known = np.shape(x.data)[0]
    elif x.broadcastable[0]:
        known = 1
    else:
        return CheckSteps("scan: " + message)(x, rows)
    if known < rows:
        raise ValueError("scan: " + message.format(rows=known, n=rows))
    return x


def as_var(v, arg):
    """`v` as a symbolic variable; a TypeError naming `arg` if it cannot be one."""
    if isinstance(v, Variable):
        return v
    try:
        return T.as_tensor_variable(v)
    except TypeError as e:
        if isinstance(v, np.ma.MaskedArray):  # the reason, not only the value
            raise TypeError(f"scan: {arg}: {e}") from None
        raise TypeError(f"scan: {arg} must be a symbolic tensor or a number/array, got "
                        f"{v!r}") from None
