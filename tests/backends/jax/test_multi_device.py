"""Functions split over 8 CPU devices (data and model parallelism) give the results of
one device. JAX fixes its device count when it starts, so each test runs a script in
a fresh interpreter with XLA_FLAGS=--xla_force_host_platform_device_count=8; the
script's asserts are the test's.

Tolerances: float64 throughout; results equal one device's to rtol 1e-12 (XLA
partitions sums over devices, which changes the order of float additions)."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")
pytestmark = pytest.mark.jax

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]

PRELUDE = """
import numpy as np, jax
import theanine as theano, theanine.tensor as T
from theanine import distributed
from theanine.distributed import Mesh
from jax.sharding import PartitionSpec as P
import dist_model as dm
assert jax.device_count() == 8, jax.devices()
def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
def hlo(f, *args):
    fn = list(f.fn.single.variants.values())[0]
    with jax.enable_x64(True):
        return fn.lower(*f.fn.sharding.place(args),
                        *[c.raw for c in f.containers]).compile().as_text()
"""


def run_on_8_devices(body):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=f"{ROOT}{os.pathsep}{HERE}")
    src = PRELUDE + textwrap.dedent(body) + "\nprint('checks passed')\n"
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=600)
    assert r.returncode == 0 and "checks passed" in r.stdout, r.stdout + r.stderr[-6000:]


def test_multi_device_data_parallel_training_equals_one_device():
    run_on_8_devices("""
        ref_costs, ref = dm.train_mlp("PY")
        costs, got = dm.train_mlp("JAX", shard=lambda x, y: {x: 0, y: 0})
        close(costs, ref_costs)
        for a, b in zip(got, ref):
            close(a, b)
        # the batch is split over the 8 devices, the weights replicated on all of them,
        # and XLA sums the gradients over devices (an all-reduce)
        params = dm.mlp_params(False)
        f = dm.mlp_step(params, "JAX", lambda x, y: {x: 0, y: 0})
        X, Y = dm.batches()[0]
        cost, pred = f(X, Y)
        assert pred.shape == (dm.B, dm.K) and isinstance(pred, np.ndarray)
        w = params[0].get_value(return_internal_type=True)
        assert len(w.sharding.device_set) == 8 and w.sharding.is_fully_replicated
        text = hlo(f, X, Y)
        assert "all-reduce" in text, text[:3000]
        assert "f64[2,6]" in text  # each device's parameter: 16 / 8 rows of x
    """)


def test_multi_device_model_parallel_weights_split_by_columns():
    run_on_8_devices("""
        ref_costs, ref = dm.train_mlp("PY")
        with Mesh(data=2, model=4):
            costs, got = dm.train_mlp("JAX", shard=lambda x, y: {x: 0, y: 0}, sharded=True)
            params = dm.mlp_params(True)
            f = dm.mlp_step(params, "JAX", lambda x, y: {x: 0, y: 0})
        close(costs, ref_costs)
        for a, b in zip(got, ref):
            close(a, b)
        X, Y = dm.batches()[0]
        for _ in range(2):  # updates keep the sharding
            f(X, Y)
            W1 = params[0].get_value(return_internal_type=True)
            assert W1.sharding.spec == P(None, "model"), W1.sharding
            assert {s.data.shape for s in W1.addressable_shards} == {(dm.D, dm.H // 4)}
            W2 = params[2].get_value(return_internal_type=True)
            assert {s.data.shape for s in W2.addressable_shards} == {(dm.H // 4, dm.K)}
        full = params[0].get_value()  # the whole matrix, as NumPy
        assert isinstance(full, np.ndarray) and full.shape == (dm.D, dm.H)
        close(full, np.asarray(W1))
        # set_value takes NumPy; the next call splits it again
        params[0].set_value(np.ones((dm.D, dm.H)))
        f(X, Y)
        W1 = params[0].get_value(return_internal_type=True)
        assert W1.sharding.spec == P(None, "model")
        # another function on the same mesh reads the split values as they are
        with Mesh(data=2, model=4):
            g = theano.function([], params[0].sum() * 1.0, mode="JAX")
        close(g(), params[0].get_value().sum())
        assert params[0].get_value(return_internal_type=True) is W1
        # the same model on numba ignores the shardings
        costs_nb, got_nb = dm.train_mlp("NUMBA", sharded=True)
        close(costs_nb, ref_costs)
    """)


def test_multi_device_scan_bptt_with_the_batch_split():
    run_on_8_devices("""
        rng = np.random.default_rng(0)
        TT, B, D, H = 7, 16, 3, 5
        X, Y = rng.normal(size=(TT, B, D)), rng.normal(size=(B, H))
        res = []
        for mode, shard in (("PY", None), ("JAX", lambda x, y: {x: 1, y: 0})):
            W = theano.shared(rng0 := np.random.default_rng(1).normal(size=(D, H)), name="W")
            U = theano.shared(np.random.default_rng(2).normal(size=(H, H)) * 0.3, name="U")
            x, y = T.dtensor3("x"), T.dmatrix("y")
            hs, _ = theano.scan(lambda xt, h: T.tanh(T.dot(xt, W) + T.dot(h, U)), sequences=x,
                                outputs_info=T.zeros((x.shape[1], H)))
            cost = ((hs[-1] - y) ** 2).mean()
            gW, gU = theano.grad(cost, [W, U])
            kw = {} if shard is None else {"shard": shard(x, y)}
            f = theano.function([x, y], [cost, hs], mode=mode,
                                updates=[(W, W - 0.5 * gW), (U, U - 0.5 * gU)], **kw)
            out = [f(X, Y) for _ in range(3)]
            res.append((out, W.get_value(), U.get_value()))
        (ref, W1, U1), (got, W8, U8) = res
        for (c1, h1), (c8, h8) in zip(ref, got):
            close(c8, c1)
            close(h8, h1)
            assert h8.shape == (TT, B, H)
        close(W8, W1)
        close(U8, U1)
    """)


def test_multi_device_bad_specs_raise_clear_errors():
    run_on_8_devices("""
        import pytest
        x, y = T.dmatrix("x"), T.dvector("y")
        W = theano.shared(np.ones((3, 4)), name="W", sharding=(None, "model"))
        # the default mesh has one axis, 'data': 'model' is unknown
        with pytest.raises(ValueError, match="shared variable W.*'model'.*axes \\\\['data'\\\\]"):
            theano.function([x], T.dot(x, W), mode="JAX")
        with pytest.raises(ValueError, match="shard.*input 0.*'batch'"):
            theano.function([x], x * 2, mode="JAX", shard={x: ("batch",)})
        with pytest.raises(ValueError, match="Mesh\\\\(data=16\\\\) needs 16 devices; JAX sees 8"):
            with Mesh(data=16):
                theano.function([x], x * 2, mode="JAX", shard={x: 0})
        # a batch that does not split evenly: the call raises naming the input, and no
        # shared value changes
        V = theano.shared(np.ones(3), name="V")
        f = theano.function([x], (x * V).sum(), mode="JAX", shard={x: 0},
                            updates=[(V, V + 1)])
        f(np.ones((8, 3)))
        with pytest.raises(ValueError, match="input 0.*dimension 0 over 8 devices.*length is 5"):
            f(np.ones((5, 3)))
        close(V.get_value(), np.full(3, 2.0))
    """)
