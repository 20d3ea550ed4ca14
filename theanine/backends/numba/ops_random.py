"""numba emitters for MRG_RandomStreams' ops: MRGUniform (MRG31k3p, bit for bit the
NumPy implementation in sandbox/mrg_core.py), MultinomialFromUniform and
ChoiceFromUniform; the compiled code is kernels/mrg.py.

The state input is copied, never changed. float16 samples raise Unsupported (they
run in NumPy).
"""

from __future__ import annotations

from theanine.sandbox.mrg_ops import ChoiceFromUniform, MRGUniform, MultinomialFromUniform

from .codegen import np_dtype
from .registry import Unsupported, register

_UNIFORM = {"float64": "mrg_uniform_f64", "float32": "mrg_uniform_f32"}


@register(MRGUniform, outer=True)
def _mrg_uniform(ctx, node, ins, outs):
    dtype = node.op.dtype
    if dtype not in _UNIFORM:
        raise Unsupported(f"MRG uniform of {dtype}")
    flat = ctx.tmp("flat")
    ctx.line(f"{outs[0]}, {flat} = {_UNIFORM[dtype]}({ins[0]}, {ins[1]})")
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
    rows, c, r, m = ctx.tmp("rows"), ctx.tmp("c"), ctx.tmp("r"), ctx.tmp("m")
    ctx.line(f"mrg_check_from_uniform({p}, {u}, {n})")
    ctx.line(f"{rows} = {p}.shape[0]")
    ctx.line(f"{o} = np.zeros(({rows}, {p}.shape[1]), {np_dtype(node.op.dtype)})")
    with ctx.block(f"for {c} in range({n}):"), ctx.block(f"for {r} in range({rows}):"):
        ctx.line(f"{m} = mrg_first_above({p}, {r}, np.float64({u}[{c} * {rows} + {r}]))")
        with ctx.block(f"if {m} < {p}.shape[1]:"):
            ctx.line(f"{o}[{r}, {m}] += 1")


@register(ChoiceFromUniform, outer=True)
def _choice(ctx, node, ins, outs):
    p, u, n = ins
    ctx.line(f"mrg_check_from_uniform({p}, {u}, {n})")
    ctx.line(f"{outs[0]} = np.full(({p}.shape[0], max({n}, 0)), -1, "
             f"{np_dtype(node.op.dtype)})")
    ctx.line(f"mrg_choice_from_uniform({p}, {u}, {n}, {outs[0]})")
