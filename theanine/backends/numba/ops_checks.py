"""numba emitters: SpecifyShape and Assert (run-time checks passing their value on).

    if x.shape[0] != s[0] or x.shape[1] != s[1]:
        raise AssertionError('specify_shape: the array has another shape than specified')
    v = x
"""

from __future__ import annotations

from theanine.tensor.checks import Assert, SpecifyShape

from .registry import register


@register(SpecifyShape)
def _specify_shape(ctx, node, ins, outs):
    x, shp = ins
    nd = node.inputs[0].type.ndim
    if nd:
        test = " or ".join(f"{x}.shape[{d}] != {shp}[{d}]" for d in range(nd))
        with ctx.block(f"if {shp}.shape[0] != {nd} or {test}:"):
            ctx.line("raise AssertionError('specify_shape: the array has another shape "
                     "than specified')")
    ctx.line(f"{outs[0]} = {x}")


@register(Assert)
def _assert(ctx, node, ins, outs):
    value, *conds = ins
    for c, v in zip(conds, node.inputs[1:]):
        test = f"not {c}" if v.type.ndim == 0 else f"not np.all({c})"
        with ctx.block(f"if {test}:"):
            ctx.line(f"raise AssertionError({node.op.msg!r})")
    ctx.line(f"{outs[0]} = {value}")
