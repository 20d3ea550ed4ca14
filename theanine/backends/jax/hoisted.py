"""A loop's sequence that is a product hoisted out of the loop, recomputed step by step
where reading it back costs more than computing it.

``scan_hoist_sequences`` (rewrites/scan/hoist.py) takes per-step products of sequence
slices out of the loop body: ``x_t W`` becomes one product over all steps, ``X W``,
whose rows the loop reads. Whether that pays depends on sizes that the rewrite does
not know (T and B are input shapes, H often a shared variable's value) and the lowering
does. On XLA's CPU backend the one large product wins where the per-step product is
small (a small matrix product's fixed cost, paid T times, dominates it), and loses
where it is large (the buffer written, then read back row by row, costs more than the
products' setup). Measured (vanilla RNN forward, B=32, D=64, on device arrays, against
hand-written JAX; benchmarks/RESULTS.md, issue 12): H=32 (65K multiply-adds a step)
T=1000 0.75x hoisted against 0.93x recomputed; H=64 (131K) 0.78x / 0.75x; H=128 (262K)
T=100 1.12x / 0.98x; H=256 (524K) T=20, 100, 1000: 1.07x / 1.00x, 1.13-1.15x /
1.00-1.01x, 1.18x / 0.99x; the gradient (BPTT) the same either way.

``product_rows(var, env)`` recognises a sequence that is such a product, in the form
the rewrites leave it: ``Reshape(Dot(Reshape(S, (T*m, D)), W), (T, ..., K))``, or
``Dot(S, W)``, S having a row per step; its row t is ``Dot(S[t], W)`` (in the 2-d form
the graph computes it: ``S[t]`` as m rows of D). Where the step's product has at least
``RECOMPUTE_MACS`` multiply-adds, on a CPU, it returns an object whose ``row(t)``
computes that row in the loop's step with the Dot's own lowering: the loop reads S and
W instead of the buffer, and XLA drops the product no one reads any more (where
something else reads it too, it is still computed there, once). Otherwise None: the
loop reads the buffer. Both give the graph's values (the same products, row by row);
``RECOMPUTE`` forces one or the other (tests run both).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from theanine.graph.basic import Constant
from theanine.tensor.linalg import Dot
from theanine.tensor.shape import Reshape

from .device import default_device
from .evaluate import is_concrete, value_of
from .registry import lowering_for

RECOMPUTE = None  # None: decide by size (see recompute); True / False: always / never
# a hoisted product whose step takes at least this many multiply-adds is recomputed per
# step on a CPU (the measured sizes: 65K a step is faster hoisted, 131K the same either
# way, 262K and more faster recomputed)
RECOMPUTE_MACS = 1 << 17


def recompute(macs):
    """Whether a hoisted product taking `macs` multiply-adds a step is recomputed per
    step (module doc)."""
    if RECOMPUTE is not None:
        return RECOMPUTE
    if (default_device() or jax.devices()[0]).platform != "cpu":
        return False  # one large product is what an accelerator does best
    return macs >= RECOMPUTE_MACS


class ProductRows:
    """Row t of a hoisted product: Dot(S[t] as m rows, W), in the row's shape."""

    def __init__(self, dot, source, weights, flat_rows, row_shape):
        self.dot, self.source, self.weights = dot, source, weights
        self.flat_rows, self.row_shape = flat_rows, row_shape

    def row(self, t):
        x = jax.lax.dynamic_index_in_dim(self.source, t, 0, keepdims=False)
        if self.flat_rows is not None:
            x = jnp.reshape(x, self.flat_rows)
        r = lowering_for(self.dot.op)(self.dot, x, self.weights)
        return jnp.reshape(r, self.row_shape)


def product_rows(var, env):
    """A ProductRows for sequence `var` if it is a hoisted product to recompute per
    step (module doc), else None."""
    node = var.owner
    if env is None or node is None:
        return None
    flat = None
    if isinstance(node.op, Reshape):
        dot = node.inputs[0].owner
        if dot is None or not isinstance(dot.op, Dot):
            return None
        flat = dot.inputs[0].owner
        if flat is None or not isinstance(flat.op, Reshape):
            return None
        source = flat.inputs[0]
    elif isinstance(node.op, Dot):
        dot, source = node, node.inputs[0]
    else:
        return None
    known = [source, dot.inputs[1], var] + ([] if flat is None else [flat.outputs[0]])
    if not all(isinstance(v, Constant) or id(v) in env for v in known):
        return None
    s, w, out = (value_of(env, v) for v in (source, dot.inputs[1], var))
    if any(is_concrete(x) for x in (s, out)) or s.ndim < 2 or w.ndim not in (1, 2):
        return None  # (a product folded when tracing is no buffer the loop reads)
    k = tuple(w.shape[1:])
    if flat is None:
        if out.shape != s.shape[:-1] + k:
            return None
        flat_rows = None
    else:
        m = math.prod(s.shape[1:-1])
        flat_value = value_of(env, flat.outputs[0])
        if (flat_value.shape != (s.shape[0] * m, s.shape[-1])
                or out.shape[0] != s.shape[0]
                or math.prod(out.shape[1:]) != m * math.prod(k)):
            return None
        flat_rows = (m, s.shape[-1])
    macs = math.prod(s.shape[1:]) * math.prod(k)  # m rows of D, times K columns
    if not recompute(macs):
        return None
    return ProductRows(dot, s, w, flat_rows, out.shape[1:])
