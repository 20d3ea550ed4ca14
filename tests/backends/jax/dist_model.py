"""Small models trained by the multi-device and multi-process tests, and the worker
that runs one process of a distributed run.

    python tests/backends/jax/dist_model.py PROCESS_ID N_PROCESSES PORT OUT.npz

Every process builds the same models, feeds its local rows of each global batch
(``theanine.distributed.local_rows``) and trains; process 0 saves the weights
(gathered with get_value, a collective for weights split over processes).
``train_*(...)`` with ``shard=None`` and one device is the single-process reference.
"""

from __future__ import annotations

import sys

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine import distributed

B, D, H, K = 16, 6, 8, 3
STEPS = 4


def batches(steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(B, D)), rng.normal(size=(B, K))) for _ in range(steps)]


def mlp_params(sharded):
    """W1 split by columns and W2 by rows over the 'model' axis when `sharded`."""
    rng = np.random.default_rng(1)
    s1, s2 = ((None, "model"), ("model", None)) if sharded else (None, None)
    W1 = theano.shared(rng.normal(size=(D, H)) * 0.5, name="W1", sharding=s1)
    b1 = theano.shared(np.zeros(H), name="b1", sharding=("model",) if sharded else None)
    W2 = theano.shared(rng.normal(size=(H, K)) * 0.5, name="W2", sharding=s2)
    return [W1, b1, W2]


def mlp_step(params, mode, shard):
    """One SGD step of a tanh MLP with a squared error: f(x, y) -> (cost, predictions)."""
    W1, b1, W2 = params
    x, y = T.dmatrix("x"), T.dmatrix("y")
    pred = T.dot(T.tanh(T.dot(x, W1) + b1), W2)
    cost = ((pred - y) ** 2).mean()
    grads = theano.grad(cost, params)
    kw = {} if shard is None else {"shard": shard(x, y)}
    return theano.function([x, y], [cost, pred], mode=mode,
                           updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)], **kw)


def train_mlp(mode, shard=None, sharded=False, local=None):
    """Costs and final weights after STEPS steps; `local` maps a global batch to the
    part this process feeds."""
    params = mlp_params(sharded)
    f = mlp_step(params, mode, shard)
    costs = []
    for X, Y in batches():
        if local is not None:
            X, Y = local(X), local(Y)
        costs.append(float(f(X, Y)[0]))
    return costs, [p.get_value() for p in params]


def worker(pid, n_proc, port, out):
    distributed.initialize(f"127.0.0.1:{port}", n_proc, pid, local_device_count=2)
    assert distributed.process_count() == n_proc and distributed.process_index() == pid
    assert distributed.device_count() == 2 * n_proc and distributed.local_device_count() == 2
    local = distributed.local_rows
    # data parallel: the batch split over every device of every process
    costs, weights = train_mlp("JAX", shard=lambda x, y: {x: 0, y: 0}, local=local)
    # data and model parallel: processes along 'data', each process's 2 devices along
    # 'model' (W1 by columns, W2 by rows)
    with distributed.Mesh(data=n_proc, model=2):
        costs2, weights2 = train_mlp("JAX", shard=lambda x, y: {x: 0, y: 0}, sharded=True,
                                     local=local)
    if pid == 0:
        np.savez(out, costs=costs, costs2=costs2, **{f"w{k}": w for k, w in enumerate(weights)},
                 **{f"v{k}": w for k, w in enumerate(weights2)})
    print(f"process {pid} done", flush=True)


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
