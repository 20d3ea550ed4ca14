"""Many devices, many machines (the jax backend; docs/jax.md).

    from theanine import distributed
    distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=rank)  # per process
    f = theano.function([x, y], cost, updates=updates, mode="JAX", shard={x: 0, y: 0})
    f(distributed.local_rows(X), distributed.local_rows(Y))   # this process's rows

``Mesh`` names the axes of the device grid (``with Mesh(data=2, model=4): ...``);
``initialize`` joins several processes into one program (a thin layer over
``jax.distributed.initialize``). Importing this module imports JAX.
"""

from theanine.backends.jax.distributed import (  # noqa: F401
    device_count,
    initialize,
    local_device_count,
    local_rows,
    process_count,
    process_index,
    shutdown,
)
from theanine.graph.sharding import Mesh, current_mesh  # noqa: F401

__all__ = ["Mesh", "current_mesh", "initialize", "shutdown", "process_index",
           "process_count", "device_count", "local_device_count", "local_rows"]
