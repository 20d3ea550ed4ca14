"""Sorting and searching: sort, argsort (stable, so ties keep their order),
the permutation op of sort's gradient, searchsorted. unique's output length
depends on the values: it runs on the host between segments."""

from __future__ import annotations

import jax.numpy as jnp

from theanine.tensor.sorting import ArgSortOp, PermuteAlongAxis, SearchsortedOp, SortOp, Unique

from .evaluate import ON_HOST
from .registry import lowerings

lowerings.register(Unique)(ON_HOST)


@lowerings.register(SortOp)
def _sort(node, a):
    return jnp.sort(a, axis=node.op.axis)


@lowerings.register(ArgSortOp)
def _argsort(node, a):
    return jnp.argsort(a, axis=node.op.axis, stable=True).astype("int64")


def _grid(perm, axis):
    """Index arrays placing perm along `axis` and the identity along the other axes."""
    idx = list(jnp.indices(perm.shape, sparse=True))
    idx[axis] = perm
    return tuple(idx)


@lowerings.register(PermuteAlongAxis)
def _permute(node, x, perm):
    if x.shape != perm.shape:
        raise ValueError(f"permute: x of shape {x.shape} and perm of shape {perm.shape} must "
                         "have the same shape")
    if not node.op.inverse:
        return jnp.take_along_axis(x, perm, axis=node.op.axis)
    return jnp.zeros_like(x).at[_grid(perm, node.op.axis)].set(x)


@lowerings.register(SearchsortedOp)
def _searchsorted(node, x, v, sorter=None):
    if sorter is not None:
        x = x[sorter]
    return jnp.searchsorted(x, v, side=node.op.side).astype("int64")
