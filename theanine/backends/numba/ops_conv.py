"""numba emitters: Conv2d, Conv2d_gradWeights, Conv2d_gradInputs (all border modes,
subsample, filter_flip, filter_dilation, num_groups). Pooling: ops_pool.

A kernel checks the shape hints and calls conv_fwd / conv_grad_weights /
conv_grad_inputs (kernels/conv.py: im2col and one BLAS GEMM per image and group),
with the geometry as an argument, so those compile once per process and dtype and
serve every kernel.

Unsupported (NumPy runs): convolutions whose output is not float32/float64 (BLAS).
"""

from __future__ import annotations

from theanine.tensor.nnet.conv import Conv2d, Conv2d_gradInputs, Conv2d_gradWeights

from .codegen import np_dtype
from .registry import Unsupported, register


def _conv_setup(ctx, node, tensors):
    """The tensor inputs cast to the output's float dtype."""
    dt = node.outputs[0].type.dtype
    if dt not in ("float32", "float64"):
        raise Unsupported(f"convolution with {dt} output (BLAS needs float32/float64)")
    names = []
    for e, v in zip(tensors, node.inputs):
        if v.type.dtype != dt:
            names.append(ctx.tmp("c"))
            ctx.line(f"{names[-1]} = {e}.astype({np_dtype(dt)})")
        else:
            names.append(e)
    return names


def _geo(op, kh, kw):
    """The geometry tuple (see kernels/conv.py) for filters of kh x kw (expressions); all
    int64 values, not literals, so that one compilation of the helpers serves all."""
    (dh, dw), bm = op.filter_dilation, op.border_mode
    if isinstance(bm, str):
        spans = (f"(({kh} - 1) * {dh} + 1)", f"(({kw} - 1) * {dw} + 1)")
        one = {"valid": ["0", "0"], "full": [f"{s} - 1" for s in spans],
               "half": [f"{s} // 2" for s in spans]}[bm]
        pads = (one[0], one[0], one[1], one[1])
    else:
        pads = bm[0] + bm[1]
    vals = (int(op.filter_flip), op.num_groups) + pads + op.subsample + op.filter_dilation
    return f"({', '.join(f'np.int64({v})' for v in vals)})"


def _check_hints(ctx, op, img, kern):
    """Runtime checks of the input_shape / filter_shape hints (expressions per entry)."""
    for hint, exprs, name in ((op.imshp, img, "input_shape"), (op.kshp, kern, "filter_shape")):
        for h, e in zip(hint or (), exprs):
            if h is not None:
                with ctx.block(f"if {e} != {h}:"):
                    ctx.line(f"raise ValueError('{op.fn}: the actual shape differs from the "
                             f"{name} given')")


@register(Conv2d, outer=True)
def _conv2d(ctx, node, ins, outs):
    op = node.op
    x, w = _conv_setup(ctx, node, ins)
    _check_hints(ctx, op, [f"{x}.shape[{i}]" for i in range(4)],
                 [f"{w}.shape[{i}]" for i in range(4)])
    ctx.line(f"{outs[0]} = conv_fwd({x}, {w}, {_geo(op, f'{w}.shape[2]', f'{w}.shape[3]')})")


@register(Conv2d_gradWeights, outer=True)
def _conv2d_grad_weights(ctx, node, ins, outs):
    op = node.op
    x, gz = _conv_setup(ctx, node, ins[:2])
    kh, kw = ins[2:]
    _check_hints(ctx, op, [f"{x}.shape[{i}]" for i in range(4)],
                 [f"{gz}.shape[1]", f"{x}.shape[1] // {op.num_groups}", kh, kw])
    ctx.line(f"{outs[0]} = conv_grad_weights({x}, {gz}, {kh}, {kw}, {_geo(op, kh, kw)})")


@register(Conv2d_gradInputs, outer=True)
def _conv2d_grad_inputs(ctx, node, ins, outs):
    op = node.op
    w, gz = _conv_setup(ctx, node, ins[:2])
    h, wd = ins[2:]
    _check_hints(ctx, op, [f"{gz}.shape[0]", f"{w}.shape[1] * {op.num_groups}", h, wd],
                 [f"{w}.shape[{i}]" for i in range(4)])
    geo = _geo(op, f"{w}.shape[2]", f"{w}.shape[3]")
    ctx.line(f"{outs[0]} = conv_grad_inputs({w}, {gz}, {h}, {wd}, {geo})")
