"""Values split over a device mesh: the jax side of graph/sharding.py.

A function is *sharded* when it was given ``shard=`` or reads a shared variable
with a ``sharding``. It then runs on the mesh current when it was compiled
(``with Mesh(...)``, else every device on one axis): explicit inputs are placed
with their spec (``shard=``) or replicated, shared values with their variable's
sharding or replicated, and each update is constrained to its variable's sharding
inside the jitted code, so updated values keep it. XLA's partitioner (GSPMD)
splits the computation and inserts the collectives.

With several processes (theanine.distributed), every array is global: each
process passes its local part of a split input (the rows of its devices, in
process order) and gets back its local part of a split output; replicated
inputs must be equal on every process. ``get_value`` of a shared variable split
over several processes gathers it from all of them (a collective: call it on
every process).

Invariant: ``SHARDED_IO.read`` returns the container's value on the device with
exactly the slot's sharding (moving it once when another function placed it
otherwise).
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from theanine.graph.sharding import current_mesh, normalize_spec, resolve
from theanine.tensor.random import RandomStateType

from .device import DeviceIO, generator_from_key, key_from_generator, x64

_meshes = {}  # (mesh key, device ids) -> jax Mesh


def devices_in_order():
    """Every device of every process, by process then id: a process's devices are
    contiguous, so splitting the first mesh axis gives each process whole rows."""
    return sorted(jax.devices(), key=lambda d: (d.process_index, d.id))


def jax_mesh(desc):
    """The jax Mesh of a graph.sharding.Mesh description (cached)."""
    devs = list(desc.devices) if desc.devices is not None else devices_in_order()
    key = (desc.key(), tuple(d.id for d in devs))
    hit = _meshes.get(key)
    if hit is not None:
        return hit
    sizes = dict(desc.axes)
    known = math.prod(s for s in sizes.values() if s != -1)
    for name, s in sizes.items():
        if s == -1:
            if len(devs) % known:
                raise ValueError(f"{desc!r}: {len(devs)} devices do not split evenly over "
                                 f"the other axes ({known} devices per {name!r} entry)")
            sizes[name] = len(devs) // known
    n = math.prod(sizes.values())
    if n > len(devs):
        raise ValueError(f"{desc!r} needs {n} devices; JAX sees {len(devs)} "
                         f"({devs[0].platform}). On CPUs, set XLA_FLAGS="
                         f"--xla_force_host_platform_device_count={n} before JAX is imported "
                         "(or theanine.distributed.initialize(local_device_count=...))")
    grid = np.empty(n, dtype=object)
    grid[:] = devs[:n]
    mesh = _meshes[key] = Mesh(grid.reshape(tuple(sizes.values())), tuple(sizes))
    return mesh


def named(mesh, spec):
    """The NamedSharding of a resolved spec (None: replicated)."""
    if spec is None:
        return NamedSharding(mesh, PartitionSpec())
    return NamedSharding(mesh, PartitionSpec(*(e[0] if e is not None and len(e) == 1 else e
                                               for e in spec)))


def spec_of(var, spec, desc, what):
    """A resolved spec for variable `var` (normalised against its ndim)."""
    return resolve(normalize_spec(spec, var.type.ndim, what), desc, what)


def _check_divisible(shape, sharding, what):
    mesh_shape = sharding.mesh.shape
    for d, entry in enumerate(sharding.spec):
        if entry is None:
            continue
        names = (entry,) if isinstance(entry, str) else entry
        parts = math.prod(mesh_shape[a] for a in names)
        if shape[d] % parts:
            raise ValueError(f"{what}: the sharding splits dimension {d} over {parts} "
                             f"devices (mesh axes {list(names)}), but its length is "
                             f"{shape[d]} (shape {tuple(shape)}), not a multiple of {parts}")


def place_input(value, sharding, what):
    """An explicit input on the mesh: `value` is this process's part of the array."""
    if isinstance(value, jax.Array) and value.sharding == sharding:
        return value
    if jax.process_count() == 1:
        _check_divisible(np.shape(value), sharding, what)
        return jax.device_put(value, sharding)
    try:
        return jax.make_array_from_process_local_data(sharding, np.asarray(value))
    except ValueError as e:
        raise ValueError(f"{what}: this process's part, of shape {np.shape(value)}, does not "
                         f"fit the sharding {sharding.spec} over {sharding.mesh.shape} "
                         f"devices: {e}") from None


def place_whole(value, sharding, what):
    """A whole array (a shared value: the same on every process) on the mesh."""
    if isinstance(value, jax.Array):
        if value.sharding == sharding:
            return value
        return jax.device_put(value, sharding)
    _check_divisible(np.shape(value), sharding, what)
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda idx: value[idx])


def local_part(x):
    """A device array as NumPy: all of it when this process holds all of it,
    else the block of its devices' shards."""
    if not isinstance(x, jax.Array):
        return np.asarray(x)
    if x.is_fully_addressable or x.is_fully_replicated:
        return np.asarray(x)
    shards = x.addressable_shards
    lo = [min(s.index[d].start or 0 for s in shards) for d in range(x.ndim)]
    hi = [max(x.shape[d] if s.index[d].stop is None else s.index[d].stop for s in shards)
          for d in range(x.ndim)]
    out = np.empty([h - low for low, h in zip(lo, hi)], x.dtype)
    for s in shards:
        idx = tuple(slice((i.start or 0) - low, (x.shape[d] if i.stop is None else i.stop)
                          - low) for d, (i, low) in enumerate(zip(s.index, lo)))
        out[idx] = np.asarray(s.data)
    return out


def whole(x):
    """A device array as NumPy, all of it (gathered from every process if needed)."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


class ShardedIO(DeviceIO):
    """DeviceIO of a sharded function: values placed on its mesh (module doc).

    shared: {slot: NamedSharding} of the shared inputs (replicated by default)."""

    inline = False  # read places values on the mesh

    def __init__(self, mesh, shared, names):
        super().__init__(None)
        self.mesh = mesh
        self.replicated = named(mesh, None)
        self.shared, self.names = shared, names

    def read(self, container, slot=None):
        target = self.shared.get(slot, self.replicated)
        raw = container.raw
        if container.on_device:
            if getattr(raw, "sharding", None) == target:
                return raw
            with x64(True):
                dev = place_whole(raw, target, self.names.get(slot, "shared variable"))
            container.rebuffer(dev)
            return dev
        with x64(True):
            if isinstance(container.type, RandomStateType):
                dev = place_whole(key_from_generator(raw), target, "random generator")
                container.store_device(dev, generator_from_key, host=raw)
                return dev
            dev = place_whole(raw, target, self.names.get(slot, "shared variable"))
        container.store_device(dev, whole, host=raw)
        return dev

    def write(self, container, value):
        if value is container.raw:
            return
        if isinstance(container.type, RandomStateType):
            container.store_device(value, generator_from_key)
        else:
            container.store_device(value, whole)

    @staticmethod
    def to_host(value):
        return value if isinstance(value, np.ndarray) else local_part(value)

    def owned(self, value):
        return np.array(self.to_host(value))


class FunctionSharding:
    """Where a sharded function's values live (module doc), built when it is linked.

    inputs: {explicit input position: NamedSharding}; updates: {graph output
    position: NamedSharding of the updated variable}; io: its ShardedIO."""

    def __init__(self, fgraph, shard, updates, n_in):
        desc = current_mesh()
        self.mesh = jax_mesh(desc)
        ins = fgraph.inputs
        self.inputs, self.what = {}, {}
        for pos in range(n_in):
            spec = shard.get(pos)
            what = self.what[pos] = f"input {pos} ({ins[pos]})"
            self.inputs[pos] = named(self.mesh, None if spec is None else resolve(
                spec, desc, what))
        shared, names = {}, {}
        for pos in range(n_in, len(ins)):
            v, slot = ins[pos], pos - n_in
            names[slot] = f"shared variable {v.name or v}"
            spec = getattr(v, "sharding", None)
            shared[slot] = named(self.mesh, None if spec is None else resolve(
                spec, desc, names[slot]))
        self.updates = {o: shared[i - n_in] for i, o in updates}
        self.io = ShardedIO(self.mesh, shared, names)
        self.key = (desc.key(), tuple(sorted((k, s.spec) for k, s in self.inputs.items())),
                    tuple(sorted((k, s.spec) for k, s in self.updates.items())))

    def place(self, args):
        with x64(True):
            return [place_input(a, self.inputs[k], self.what[k]) if k in self.inputs else a
                    for k, a in enumerate(args)]


def function_sharding(fgraph, shard, updates, n_in):
    """The FunctionSharding of a function given ``shard=`` or reading a shared variable
    with a sharding, else None (a plain one-device function)."""
    if not shard and not any(getattr(v, "sharding", None) is not None
                             for v in fgraph.inputs[n_in:]):
        return None
    return FunctionSharding(fgraph, shard or {}, updates, n_in)
