"""Two processes on 127.0.0.1, two CPU devices each (gloo collectives), run the same
training script (tests/backends/jax/dist_model.py), each feeding its local rows of
every batch: the weights after training equal one process's (float64, rtol 1e-12).
Also the argument checks of theanine.distributed.initialize."""

import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import dist_model as dm  # noqa: E402  (tests/backends/jax is on sys.path)

from theanine import distributed  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_two_processes_train_like_one(tmp_path):
    out = tmp_path / "weights.npz"
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=f"{ROOT}{os.pathsep}{HERE}")
    env.pop("XLA_FLAGS", None)  # initialize(local_device_count=2) sets the device count
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, str(HERE / "dist_model.py"), str(pid), "2",
                               port, str(out)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
             for pid in range(2)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=400)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for pid, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0 and f"process {pid} done" in log, log[-6000:]
    got = np.load(out)
    ref_costs, ref = dm.train_mlp("PY")
    np.testing.assert_allclose(got["costs"], ref_costs, rtol=1e-12)
    np.testing.assert_allclose(got["costs2"], ref_costs, rtol=1e-12)
    for k, w in enumerate(ref):
        np.testing.assert_allclose(got[f"w{k}"], w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got[f"v{k}"], w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw, match", [
    ({"num_processes": 0}, "num_processes must be a positive int, got 0"),
    ({"process_id": -1}, "process_id must be a non-negative int, got -1"),
    ({"num_processes": 2, "process_id": 2}, "process_id must be below num_processes"),
    ({"local_device_count": 1.5}, "local_device_count must be a positive int, got 1.5"),
    ({"coordinator_address": "localhost"}, "coordinator_address must be 'host:port'"),
])
def test_distributed_initialize_checks_its_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        distributed.initialize(**kw)


def test_distributed_initialize_after_jax_started_says_when_to_call_it():
    # this process's JAX has devices already (other tests ran functions on jax)
    distributed.device_count()
    with pytest.raises(RuntimeError, match="must run before JAX computes anything"):
        distributed.initialize("127.0.0.1:1", 2, 0)


def test_distributed_local_rows_of_one_process_is_the_whole_batch():
    X = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(distributed.local_rows(X), X)
    np.testing.assert_array_equal(distributed.local_rows(X.T, axis=1), X.T)
    with pytest.raises(ValueError, match="axis 2 is out of range for a 2-d array"):
        distributed.local_rows(X, axis=2)
