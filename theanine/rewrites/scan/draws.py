"""scan_hoist_draws: a loop's per-step random draws become one draw before the loop.

A NumPy generator carried by a loop (RandomStreams' updates inside scan) and drawn
from once per step, with a size and parameters that do not change between steps,
gives step t the t-th block of one draw of n_steps times the sample's shape: NumPy
fills a sample in the order the steps would draw (checked, generator and final
state alike, in tests/scan/test_scan_random.py, for the distributions in
SEQUENTIAL). The loop then reads the draws as a sequence and carries no generator,
so the numba backend compiles it; the generator's final state is the big draw's.

Not for loops with `until` (the steps run are not known before the loop), for
generators drawn from more than once a step (the order of the draws would change),
or for carries whose per-step states are read (traced).
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.graph.basic import Constant
from theanine.graph.rewrite import rule
from theanine.scan.op import Scan
from theanine.scan.utils import is_tensor
from theanine.tensor.random import RandomOp
from theanine.tensor.shape import static_length

from .parts import ScanParts

SEQUENTIAL = {"uniform", "normal", "binomial", "poisson", "random_integers"}


def _hoistable_draw(parts, clients, carry):
    """The single draw advancing `carry` each step, if it can move out of the loop."""
    if is_tensor(carry["inner"]) or carry["traced"]:
        return None
    users = clients.get(id(carry["inner"]), [])
    if len(users) != 1:
        return None
    draw, pos = users[0]
    if (not isinstance(draw.op, RandomOp) or pos != 0 or draw.op.dist not in SEQUENTIAL
            or draw.outputs[0] is not carry["out"] or clients.get(id(draw.outputs[0]))):
        return None
    consts = {id(i) for _, i in parts.consts}
    if not all(isinstance(v, Constant) or id(v) in consts for v in draw.inputs[1:]):
        return None
    if static_length(draw.inputs[1]) is None:
        return None
    return draw


@rule(Scan)
def scan_hoist_draws(graph, node):
    """Per-step draws from a carried generator become one draw before the loop."""
    if node.op.has_until:
        return None
    parts = ScanParts(node)
    clients = parts.inner_clients()
    outer_of = {id(i): o for o, i in parts.consts}
    for carry in parts.carries:
        draw = _hoistable_draw(parts, clients, carry)
        if draw is None:
            continue
        op = draw.op
        size, params = draw.inputs[1], draw.inputs[2:]
        pad = op.ndim - static_length(size)
        size_all = T.concatenate([T.stack([parts.n_steps]),
                                  T.constant(np.full(pad, -1, dtype="int64")),
                                  outer_of.get(id(size), size)])
        new_rng, samples = RandomOp(op.dist, op.ndim + 1, op.dtype)(
            carry["init"], size_all, *[outer_of.get(id(p), p) for p in params])
        sample = draw.outputs[1]
        if samples.type.broadcastable[1:] != sample.type.broadcastable:
            continue
        step_sample = sample.type()
        parts.substitute({sample: step_sample})
        parts.seqs.append([samples, step_sample])
        parts.carries.remove(carry)
        out = parts.build() if parts.carries or parts.ys else {}
        out[carry["final"]] = new_rng
        return out
    return None
