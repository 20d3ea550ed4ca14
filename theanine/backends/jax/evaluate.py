"""Evaluate a graph's nodes while JAX traces: the body of every jitted function.

``run(nodes, env)`` walks nodes in order; ``env`` maps ``id(variable)`` to its value:
a jax array (traced) or a NumPy value known when tracing ("concrete": constants,
shapes, values the linker specialises on, loop-invariant values of a loop body).

Per node:
- every input concrete and the op foldable (pure, no callback, no draw): the py
  backend's NumPy implementation computes it now (so shape arithmetic stays concrete
  and static shapes reach reshape/alloc/arange/scan lengths);
- else its lowering (registry.py) emits jax calls; an op without one runs through
  a Python callback (callback.py).

Invariant: every output has exactly its variable's dtype and ndim (a lowering's
result of another dtype is cast; another ndim is a lowering bug and raises), so
jnp's type promotion never leaks into the graph's types.
"""

from __future__ import annotations

import numpy as np

from theanine.backends.py.linker import py_funcify
from theanine.graph.basic import Constant
from theanine.tensor.random import RandomOp
from theanine.tensor.type import TensorType

from . import callback
from .registry import lowering_for

FOLD_LIMIT = 1 << 16  # elements: larger concrete inputs are left to XLA

CONCRETE = (np.ndarray, np.generic, int, float, bool, complex)


def is_concrete(x):
    return isinstance(x, CONCRETE)


class NotStatic(Exception):
    """A lowering needs a value when tracing that is only known at run time."""

    def __init__(self, node, index):
        super().__init__(f"{node.op}: input {index} ({node.inputs[index]}) must be known "
                         "when the graph is compiled (it decides a shape)")
        self.node, self.index = node, index


def static_inputs(*indices):
    """Mark a lowering whose inputs at `indices` must be concrete (they decide output
    shapes: reshape's shape, arange's bounds, a loop's length). A single callable
    argument gives the indices for a node."""

    def deco(fn):
        if len(indices) == 1 and callable(indices[0]):
            fn.static_inputs = indices[0]
        else:
            fn.static_inputs = tuple(indices)
        return fn

    return deco


def needed_static(node, fn):
    """Indices of node's inputs that `fn` needs concrete."""
    if fn is None:
        return ()
    s = getattr(fn, "static_inputs", ())
    return tuple(s(node)) if callable(s) else s


def foldable(node):
    """Whether node may be computed by NumPy when its inputs are concrete."""
    op = node.op
    if isinstance(op, RandomOp) or getattr(op, "inner_inputs", None) is not None:
        return False
    fn = lowering_for(op)
    if fn is None or getattr(fn, "no_fold", False):
        return False  # Python code of users runs when the graph runs, never at trace
    return op.do_constant_folding(node)


def value_of(env, v):
    if isinstance(v, Constant):
        return v.data
    return env[id(v)]


def run(nodes, env, force_fold=frozenset()):
    """Evaluate `nodes` (topologically sorted) into `env`."""
    for node in nodes:
        ins = [value_of(env, v) for v in node.inputs]
        outs = eval_node(node, ins, node in force_fold, env)
        for var, val in zip(node.outputs, outs):
            env[id(var)] = val
    return env


def eval_node(node, ins, force_fold=False, env=None):
    """The output values of `node` (a list) for input values `ins`. A lowering marked
    ``wants_env`` also gets `env` (the values computed so far, to read an input's
    ancestors: Scan reads sequences through slices of them)."""
    if all(is_concrete(x) for x in ins) and foldable(node) and (force_fold or (
            all(np.size(x) <= FOLD_LIMIT for x in ins)
            and not getattr(lowering_for(node.op), "prefer_lowering", False))):
        res = py_funcify(node.op, node)(*ins)
        res = [res] if len(node.outputs) == 1 else list(res)
        return [_typed(v, r, node) for v, r in zip(node.outputs, res)]
    fn = lowering_for(node.op)
    if fn is None:
        res = callback.run(node, ins)
    else:
        for k in needed_static(node, fn):
            if not is_concrete(ins[k]):
                raise NotStatic(node, k)
        res = fn(node, *ins, env=env) if getattr(fn, "wants_env", False) else fn(node, *ins)
    res = [res] if len(node.outputs) == 1 else list(res)
    if len(res) != len(node.outputs):
        raise RuntimeError(f"theanine jax backend: the lowering of {node.op} returned "
                           f"{len(res)} values for {len(node.outputs)} outputs")
    return [_typed(v, r, node) for v, r in zip(node.outputs, res)]


def _typed(var, value, node):
    t = var.type
    if not isinstance(t, TensorType):
        return value
    if is_concrete(value):
        value = np.asarray(value)
        if value.dtype != t.numpy_dtype:
            value = value.astype(t.numpy_dtype)
    elif value.dtype != t.numpy_dtype:
        value = value.astype(t.numpy_dtype)
    if value.ndim != t.ndim:
        raise RuntimeError(f"theanine jax backend: the lowering of {node.op} gave a "
                           f"{value.ndim}-d value for the {t.ndim}-d output {var.index}")
    for i, b in enumerate(t.broadcastable):
        if b and value.shape[i] != 1:
            raise ValueError(f"{node.op}: output {var.index} has shape {value.shape} but "
                             f"dimension {i} is declared broadcastable (length 1)")
    return value


def deferred_raw(node, ins):
    """A deferred node's raw values (buffers of its bound, the count of rows used),
    computed in its segment; ``deferred_finish`` turns them into its outputs."""
    return lowering_for(node.op).deferred(node, *ins)


def deferred_finish(node, raw):
    return lowering_for(node.op).finish(node, raw)


def _on_host(node, *ins):
    raise callback.NeedsHost(f"{node.op}: its output shape depends on its input values")


_on_host.host = True
ON_HOST = _on_host  # the lowering of ops that run on the host between segments
