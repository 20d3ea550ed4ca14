"""shard= and sharding= on one device (this process has one CPU device; the tests on
8 devices are in test_multi_device.py): the specs and their errors, meshes, pickling
and copies of sharded functions, other backends."""

import pickle

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.distributed import Mesh, current_mesh  # noqa: E402
from theanine.graph.sharding import FIRST, normalize_spec, resolve  # noqa: E402


def test_specs_normalise_to_one_entry_per_dimension():
    assert normalize_spec(0, 2, "x") == (FIRST, None)
    assert normalize_spec(-1, 3, "x") == (None, None, FIRST)
    assert normalize_spec((None, "model"), 3, "x") == (None, ("model",), None)
    assert normalize_spec("data", 1, "x") == (("data",),)
    assert normalize_spec([("data", "model")], 2, "x") == (("data", "model"), None)
    mesh = Mesh(data=2, model=4)
    assert resolve(normalize_spec(1, 2, "x"), mesh, "x") == (None, ("data",))


@pytest.mark.parametrize("spec, ndim, error, match", [
    (2, 2, ValueError, r"W: cannot split dimension 2 of a 2-d value \(expected an int in "
                       r"\[-2, 1\]\)"),
    (True, 1, TypeError, "W: a sharding spec must be an int .* got True"),
    (1.5, 1, TypeError, "W: a sharding spec must be an int or a tuple .* got 1.5"),
    ((None, None, "a"), 2, ValueError, r"has 3 entries for a 2-d value"),
    ((None, 3), 2, TypeError, r"entry 1 of the sharding spec \(None, 3\) must be None, an "
                              "axis name or a tuple of axis names, got 3"),
    (("a", "a"), 2, ValueError, "mesh axis 'a' is used twice"),
])
def test_bad_specs_say_what_was_expected(spec, ndim, error, match):
    with pytest.raises(error, match=match):
        normalize_spec(spec, ndim, "W")


def test_meshes_check_their_axes_and_nest():
    for kw, match in [({}, "at least one axis"), ({"data": 0}, "positive int or -1"),
                      ({"data": -1, "model": -1}, "at most one axis may have size -1"),
                      ({"data": 2.0}, r"positive int or -1 \(the devices left over\), got 2.0")]:
        with pytest.raises(ValueError, match=match):
            Mesh(**kw)
    with pytest.raises(TypeError, match="axis names must be identifiers"):
        Mesh({"a b": 2})
    assert current_mesh().names == ("data",)
    outer, inner = Mesh(data=1, model=1), Mesh(model=1)
    with outer:
        with inner:
            assert current_mesh() is inner
        assert current_mesh() is outer
    assert current_mesh().names == ("data",)


def test_shard_argument_errors_name_the_argument():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    w = theano.shared(np.ones(3), name="w")
    with pytest.raises(ValueError, match="shard= .* needs the jax backend .* 'numba'"):
        theano.function([x], x * 2, mode="NUMBA", shard={x: 0})
    with pytest.raises(TypeError, match=r"shard must be a dict .* got list"):
        theano.function([x], x * 2, mode="JAX", shard=[(x, 0)])
    with pytest.raises(ValueError, match=r"shard key y is not an input of this function; "
                                         r"inputs: \['x'\]"):
        theano.function([x], x * 2, mode="JAX", shard={y: 0})
    with pytest.raises(ValueError, match="a shared variable: give it a sharding"):
        theano.function([x], x * w, mode="JAX", shard={w: 0})
    with pytest.raises(ValueError, match=r"shard\[x\] \(input 0\): cannot split dimension 2"):
        theano.function([x], x * 2, mode="JAX", shard={x: 2})
    with pytest.raises(ValueError, match=r"shard\[x\] \(input 0\): the sharding names mesh "
                                         r"axis 'model', but the mesh is Mesh\(data=-1\)"):
        theano.function([x], x * 2, mode="JAX", shard={x: (None, "model")})
    # nothing about the inputs changed: the same graph compiles unsharded
    np.testing.assert_allclose(theano.function([x], x * 2, mode="JAX")(np.ones((2, 2))), 2.0)


def test_shared_sharding_errors():
    with pytest.raises(ValueError, match="shared W: cannot split dimension 1 of a 1-d value"):
        theano.shared(np.ones(3), name="W", sharding=1)
    with pytest.raises(TypeError, match="a random generator cannot be split"):
        theano.shared(np.random.RandomState(0), sharding=0)
    assert theano.shared(np.ones((2, 3)), sharding=(None, "m")).sharding == (None, ("m",))
    assert theano.shared(np.ones(2)).sharding is None


def _sgd(mode, shard=True, sharding=None):
    w = theano.shared(np.arange(6.0).reshape(3, 2), name="w", sharding=sharding)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    cost = ((T.dot(x, w) - y) ** 2).mean()
    kw = {"shard": {x: 0, y: 0}} if shard else {}
    f = theano.function([x, y], cost, updates=[(w, w - 0.1 * theano.grad(cost, w))],
                        mode=mode, **kw)
    return w, f


def test_one_device_mesh_runs_sharded_functions_as_py():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    w0, f0 = _sgd("PY", shard=False)
    with Mesh(data=1, model=1):
        w1, f1 = _sgd("JAX", sharding=(None, "model"))
    for _ in range(3):
        np.testing.assert_allclose(f1(X, Y), f0(X, Y), rtol=1e-12)
    np.testing.assert_allclose(w1.get_value(), w0.get_value(), rtol=1e-12)
    assert isinstance(w1.get_value(return_internal_type=True), jax.Array)
    # shardings are ignored on the other backends
    w2, f2 = _sgd("NUMBA", shard=False, sharding=(None, "model"))
    w2.set_value(w0.get_value())
    w0b, f0b = _sgd("PY", shard=False)
    w0b.set_value(w0.get_value())
    np.testing.assert_allclose(f2(X, Y), f0b(X, Y), rtol=1e-12)


def test_sharded_functions_pickle_and_copy_with_their_shard():
    w, f = _sgd("JAX")
    X, Y = np.ones((4, 3)), np.ones((4, 2))
    f(X, Y)
    g = pickle.loads(pickle.dumps(f))
    assert g.shard == f.shard == {0: (normalize_spec(0, 2, "")), 1: normalize_spec(0, 2, "")}
    assert g.fn.sharding is not None
    np.testing.assert_allclose(g(X, Y), f(X, Y), rtol=1e-12)
    h = f.copy()
    assert h.shard == f.shard and h.fn.sharding is not None
