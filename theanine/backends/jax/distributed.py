"""Several processes, one program: a thin layer over ``jax.distributed``.

``initialize`` connects this process to the others (every process runs the same
script); afterwards every device of every process is in the default mesh, and a
function compiled with ``shard=`` splits its inputs over all of them: each process
passes its local part of the batch (``local_rows``). See docs/jax.md.

On CPUs the processes exchange data with gloo (``jax_cpu_collectives_implementation``),
and ``local_device_count`` sets how many CPU devices this process has (JAX's
``jax_num_cpu_devices``); both must be set before JAX creates its devices, so
``initialize`` comes before any computation.
"""

from __future__ import annotations

import jax
import numpy as np

from .sharding import devices_in_order


def initialize(coordinator_address=None, num_processes=None, process_id=None,
               local_device_count=None, local_device_ids=None, cpu_collectives="gloo",
               **options):
    """Join the group of `num_processes` processes whose process 0 listens at
    `coordinator_address` ("host:port"); `process_id` is this one's rank. Without
    arguments JAX detects a cluster (SLURM, Open MPI, TPU pods, ...).

    local_device_count: the number of CPU devices of this process (CPU only).
    local_device_ids: the GPUs this process uses (default: all it sees).
    cpu_collectives: how CPU processes exchange data ('gloo', 'mpi' or None to leave
    JAX's setting). Further keywords go to jax.distributed.initialize."""
    for name, v in (("num_processes", num_processes), ("process_id", process_id),
                    ("local_device_count", local_device_count)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0
                              or (name != "process_id" and v == 0)):
            raise ValueError(f"theanine.distributed.initialize: {name} must be a "
                             f"{'non-negative' if name == 'process_id' else 'positive'} "
                             f"int, got {v!r}")
    if (num_processes is not None and process_id is not None
            and process_id >= num_processes):
        raise ValueError(f"theanine.distributed.initialize: process_id must be below "
                         f"num_processes ({num_processes}), got {process_id}")
    if coordinator_address is not None and (not isinstance(coordinator_address, str)
                                            or ":" not in coordinator_address):
        raise ValueError("theanine.distributed.initialize: coordinator_address must be "
                         f"'host:port', got {coordinator_address!r}")
    try:  # JAX refuses first when its devices exist already: no setting changes then
        jax.distributed.initialize(coordinator_address, num_processes, process_id,
                                   local_device_ids=local_device_ids, **options)
        if cpu_collectives is not None:
            jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
        if local_device_count is not None:
            jax.config.update("jax_num_cpu_devices", local_device_count)
    except RuntimeError as e:
        raise RuntimeError("theanine.distributed.initialize must run before JAX computes "
                           "anything (before the first call of a function on the jax "
                           "backend, before jax.devices()), and once: call it at the start "
                           f"of the script ({e})") from e


def shutdown():
    """Leave the group (optional: done at exit)."""
    jax.distributed.shutdown()


def process_index():
    """This process's rank (0 without initialize)."""
    return jax.process_index()


def process_count():
    return jax.process_count()


def device_count():
    """Devices of every process."""
    return jax.device_count()


def local_device_count():
    return jax.local_device_count()


def local_rows(array, axis=0):
    """This process's part of a global batch: the rows (along `axis`) that its devices
    hold when the batch is split over every device (``shard={x: axis}`` on the default
    mesh). Every process passes its part to the same function."""
    a = np.asarray(array)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"local_rows: axis {axis} is out of range for a {a.ndim}-d array")
    devs = devices_in_order()
    n = len(devs)
    if a.shape[axis] % n:
        raise ValueError(f"local_rows: the batch has {a.shape[axis]} rows along axis {axis}, "
                         f"not a multiple of the {n} devices of all processes")
    mine = [k for k, d in enumerate(devs) if d.process_index == jax.process_index()]
    per = a.shape[axis] // n
    return np.take(a, np.arange(mine[0] * per, (mine[-1] + 1) * per), axis=axis)
