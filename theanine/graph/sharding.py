"""How values are split over devices: device meshes and sharding specs (plain data).

A ``Mesh`` names the axes of a grid of devices, ``Mesh(data=4, model=2)``: 8 devices
as 4 rows ("data") of 2 ("model"). One size may be -1: the devices left over
(``Mesh(data=-1)``, the default mesh, is every device on one axis). A mesh is used
with ``with``: functions compiled inside the block run on it (the jax backend builds
the device grid; docs/jax.md). Outside any block the default mesh applies.

A sharding spec says how an array is split over a mesh, one entry per leading
dimension (missing trailing entries: not split):

- ``None``: that dimension is not split;
- an axis name (``"model"``) or a tuple of axis names: the dimension is split over
  those mesh axes;
- a whole spec may be an int ``k``: dimension ``k`` split over the mesh's first axis
  (the data axis), the rest not split: ``shard={x: 0}`` splits a batch.

A value with no spec is replicated: every device holds all of it.

This module only checks and normalises specs; it imports nothing of JAX.
Invariant: ``normalize_spec`` returns a tuple of length ndim whose entries are None,
a tuple of axis names, or FIRST (the mesh's first axis, resolved by ``resolve``).
"""

from __future__ import annotations

import contextvars


class _First:
    """The marker of an int spec's dimension: the mesh's first axis (one object, also
    after pickling)."""

    def __reduce__(self):
        return "FIRST"

    def __repr__(self):
        return "FIRST"


FIRST = _First()

_current = contextvars.ContextVar("theanine_mesh", default=None)


class Mesh:
    """Named axes of a device grid; ``with Mesh(...):`` makes it the current mesh.

    Sizes are positive ints, or -1 (at most one axis) for the devices left over.
    ``devices``: the devices to use, in order (default: every device of every
    process, sorted by process and id)."""

    def __init__(self, axes=None, /, devices=None, **sizes):
        if axes is not None and sizes:
            raise TypeError("Mesh: give the axes either as a dict or as keywords, not both")
        axes = dict(axes if axes is not None else sizes)
        if not axes:
            raise ValueError("Mesh: give at least one axis, e.g. Mesh(data=-1)")
        for name, size in axes.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise TypeError(f"Mesh: axis names must be identifiers, got {name!r}")
            if isinstance(size, bool) or not isinstance(size, int) or (
                    size < 1 and size != -1):
                raise ValueError(f"Mesh: the size of axis {name!r} must be a positive int "
                                 f"or -1 (the devices left over), got {size!r}")
        if sum(s == -1 for s in axes.values()) > 1:
            raise ValueError(f"Mesh: at most one axis may have size -1, got {axes}")
        self.axes = axes
        self.devices = None if devices is None else list(devices)
        self._token = []

    @property
    def names(self):
        return tuple(self.axes)

    def key(self):
        """Hashable: equal meshes compile alike."""
        devs = None if self.devices is None else tuple(id(d) for d in self.devices)
        return (tuple(self.axes.items()), devs)

    def __enter__(self):
        self._token.append(_current.set(self))
        return self

    def __exit__(self, *exc):
        _current.reset(self._token.pop())

    def __repr__(self):
        inner = ", ".join(f"{k}={v}" for k, v in self.axes.items())
        return f"Mesh({inner})"


DEFAULT = Mesh(data=-1)


def current_mesh():
    """The mesh of the innermost ``with Mesh(...)`` block, else the default mesh."""
    m = _current.get()
    return DEFAULT if m is None else m


def normalize_spec(spec, ndim, what):
    """`spec` checked against an array of `ndim` dimensions (see module doc); `what`
    names the value in errors ("input 0 (x)", "shared variable W")."""
    if isinstance(spec, bool):
        raise TypeError(f"{what}: a sharding spec must be an int (the dimension split over "
                        f"the mesh's first axis) or a tuple of axis names / None per "
                        f"dimension, got {spec!r}")
    if isinstance(spec, int):
        if not -ndim <= spec < ndim:
            raise ValueError(f"{what}: cannot split dimension {spec} of a {ndim}-d value "
                             f"(expected an int in [{-ndim}, {ndim - 1}])")
        out = [None] * ndim
        out[spec % ndim] = FIRST
        return tuple(out)
    if isinstance(spec, str):
        spec = (spec,)
    if not isinstance(spec, (tuple, list)):
        raise TypeError(f"{what}: a sharding spec must be an int or a tuple of axis names "
                        f"/ None, one per dimension, got {spec!r}")
    if len(spec) > ndim:
        raise ValueError(f"{what}: the sharding spec {tuple(spec)!r} has {len(spec)} "
                         f"entries for a {ndim}-d value")
    out, seen = [], set()
    for k, entry in enumerate(spec):
        if entry is None:
            out.append(None)
            continue
        names = (entry,) if isinstance(entry, str) else entry
        if not isinstance(names, (tuple, list)) or not names or not all(
                isinstance(n, str) for n in names):
            raise TypeError(f"{what}: entry {k} of the sharding spec {tuple(spec)!r} must "
                            f"be None, an axis name or a tuple of axis names, got {entry!r}")
        for n in names:
            if n in seen:
                raise ValueError(f"{what}: mesh axis {n!r} is used twice in the sharding "
                                 f"spec {tuple(spec)!r}")
            seen.add(n)
        out.append(tuple(names))
    return tuple(out) + (None,) * (ndim - len(out))


def resolve(spec, mesh, what):
    """A normalised spec with FIRST replaced by the mesh's first axis and every name
    checked against the mesh: a tuple of None / tuples of axis names."""
    out = []
    for entry in spec:
        if entry is FIRST:
            entry = (mesh.names[0],)
        if entry is not None:
            for n in entry:
                if n not in mesh.axes:
                    raise ValueError(f"{what}: the sharding names mesh axis {n!r}, but the "
                                     f"mesh is {mesh!r} (axes {list(mesh.names)}); compile "
                                     f"inside `with theanine.distributed.Mesh(...)` naming "
                                     "that axis")
        out.append(entry)
    used = [n for e in out if e is not None for n in e]
    if len(used) != len(set(used)):
        raise ValueError(f"{what}: the sharding uses a mesh axis twice: {tuple(out)}")
    return tuple(out)
