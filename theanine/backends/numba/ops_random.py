"""numba emitters for MRG_RandomStreams' ops: MRGUniform (MRG31k3p, Theano's int32
arithmetic with wrap-around, bit for bit the NumPy implementation in
sandbox/mrg_core.py), MultinomialFromUniform and ChoiceFromUniform.

The state input is copied, never changed. float16 samples raise Unsupported (they run in NumPy).
"""

from __future__ import annotations

from theanine.sandbox.mrg_ops import ChoiceFromUniform, MRGUniform, MultinomialFromUniform

from .codegen import NJIT_OPTS, np_dtype
from .registry import Unsupported, register

_DEC = f"@numba.njit({NJIT_OPTS})\n"

_TO_UNIFORM = {
    "float64": "np.float64(z) * 4.656612873077392578125e-10",
    "float32": "np.float32(z) * np.float32(4.6566126e-10)",
}

# The states are copied into six int32 columns (one per state number): a round
# advances every stream once, with no dependency between streams (2.5 ns a sample
# here, 4x the stream-by-stream order). np.int32(...) wraps as Theano's C code.
_UNIFORM = _DEC + """def mi_mrg_uniform_{dtype}(state, size):
    n = 1
    for s in size:
        if s < 0:
            raise ValueError("MRG uniform: size must hold non-negative lengths")
        n *= s
    if n > 2147483647:
        raise ValueError("MRG uniform: at most 2**31 - 1 samples per draw")
    if state.shape[1] != 6 or state.shape[0] == 0:
        raise ValueError("MRG uniform: the random state must be an (n_streams, 6) matrix")
    ns = state.shape[0]
    k = min(ns, n)
    cols = np.empty((6, k), np.int32)
    for j in range(k):
        for q in range(6):
            cols[q, j] = state[j, q]
    x11, x12, x13, x21, x22, x23 = cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
    M1 = np.int32(2147483647)
    M2 = np.int32(2147462579)
    out = np.empty(n, np.{dtype})
    for lo in range(0, n, ns):
        for j in range(min(k, n - lo)):
            a2, a3 = x12[j], x13[j]
            y1 = np.int32(((a2 & np.int32(511)) << np.int32(22)) + (a2 >> np.int32(9))
                          + ((a3 & np.int32(16777215)) << np.int32(7)) + (a3 >> np.int32(24)))
            y1 = np.int32(y1 - M1) if y1 < 0 or y1 >= M1 else y1
            y1 = np.int32(y1 + a3)
            y1 = np.int32(y1 - M1) if y1 < 0 or y1 >= M1 else y1
            b1, b3 = x21[j], x23[j]
            a = np.int32(((b1 & np.int32(65535)) << np.int32(15))
                         + np.int32(21069) * (b1 >> np.int32(16)))
            a = np.int32(a - M2) if a < 0 or a >= M2 else a
            b = np.int32(((b3 & np.int32(65535)) << np.int32(15))
                         + np.int32(21069) * (b3 >> np.int32(16)))
            b = np.int32(b - M2) if b < 0 or b >= M2 else b
            b = np.int32(b + b3)
            b = np.int32(b - M2) if b < 0 or b >= M2 else b
            b = np.int32(b + a)
            b = np.int32(b - M2) if b < 0 or b >= M2 else b
            x13[j], x12[j], x11[j] = a2, x11[j], y1
            x23[j], x22[j], x21[j] = x22[j], b1, b
            z = y1 - b + M1 if y1 <= b else y1 - b
            out[lo + j] = {to_uniform}
    st = state.copy()
    for j in range(k):
        for q in range(6):
            st[j, q] = cols[q, j]
    return st, out
"""

# the first column whose running float64 sum of p[r] exceeds u (k when none)
_FIRST_ABOVE = _DEC + """def mi_first_above(p, r, u):
    acc = 0.0
    for m in range(p.shape[1]):
        acc += np.float64(p[r, m])
        if acc > u:
            return m
    return p.shape[1]
"""

_CHECK = _DEC + """def mi_check_from_uniform(pvals, unis, n):
    if n < 0:
        raise ValueError("multinomial/choice: n must be >= 0")
    if unis.shape[0] != pvals.shape[0] * n:
        raise ValueError("multinomial/choice: unis must hold pvals.shape[0] * n uniforms")
"""


@register(MRGUniform, outer=True)
def _mrg_uniform(ctx, node, ins, outs):
    dtype = node.op.dtype
    if dtype not in _TO_UNIFORM:
        raise Unsupported(f"MRG uniform of {dtype}")
    ctx.helper(_UNIFORM.format(dtype=dtype, to_uniform=_TO_UNIFORM[dtype]))
    flat = ctx.tmp("flat")
    ctx.line(f"{outs[0]}, {flat} = mi_mrg_uniform_{dtype}({ins[0]}, {ins[1]})")
    nd = node.op.ndim
    if nd == 0:
        ctx.line(f"{outs[1]} = {flat}[0]")
    else:
        shape = ", ".join(f"{ins[1]}[{d}]" for d in range(nd))
        ctx.line(f"{outs[1]} = {flat}.reshape(({shape},))")


@register(MultinomialFromUniform, outer=True)
def _multinomial(ctx, node, ins, outs):
    p, u, n = ins
    o = outs[0]
    ctx.helper(_FIRST_ABOVE)
    ctx.helper(_CHECK)
    rows, c, r, m = ctx.tmp("rows"), ctx.tmp("c"), ctx.tmp("r"), ctx.tmp("m")
    ctx.line(f"mi_check_from_uniform({p}, {u}, {n})")
    ctx.line(f"{rows} = {p}.shape[0]")
    ctx.line(f"{o} = np.zeros(({rows}, {p}.shape[1]), {np_dtype(node.op.dtype)})")
    with ctx.block(f"for {c} in range({n}):"), ctx.block(f"for {r} in range({rows}):"):
        ctx.line(f"{m} = mi_first_above({p}, {r}, np.float64({u}[{c} * {rows} + {r}]))")
        with ctx.block(f"if {m} < {p}.shape[1]:"):
            ctx.line(f"{o}[{r}, {m}] += 1")


_CHOICE = _DEC + """def mi_choice_from_uniform(pvals, unis, n, out):
    rows, k = pvals.shape
    if n > k:
        raise ValueError("choice: cannot draw more distinct outcomes than p has columns")
    p = pvals.copy()
    for c in range(n):
        for r in range(rows):
            m = mi_first_above(p, r, np.float64(unis[c * rows + r]))
            if m < k:
                out[r, c] = m
                if c < n - 1:
                    p[r, m] = 0
                    total = p[r, 0]
                    for q in range(1, k):
                        total += p[r, q]
                    for q in range(k):
                        p[r, q] = p[r, q] / total
"""


@register(ChoiceFromUniform, outer=True)
def _choice(ctx, node, ins, outs):
    p, u, n = ins
    ctx.helper(_FIRST_ABOVE)
    ctx.helper(_CHECK)
    ctx.helper(_CHOICE)
    ctx.line(f"mi_check_from_uniform({p}, {u}, {n})")
    ctx.line(f"{outs[0]} = np.full(({p}.shape[0], max({n}, 0)), -1, "
             f"{np_dtype(node.op.dtype)})")
    ctx.line(f"mi_choice_from_uniform({p}, {u}, {n}, {outs[0]})")
