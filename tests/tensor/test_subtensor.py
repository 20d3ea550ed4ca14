"""Indexing: basic/advanced getitem, set/inc_subtensor, take, split, nonzero.
Every value is compared with NumPy; gradients with finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    IncSubtensor,
    Split,
    Subtensor,
)

A3 = np.arange(2 * 3 * 4, dtype="float64").reshape(2, 3, 4)


def run(inputs, outputs, *vals):
    return theano.function(inputs, outputs)(*vals)


class _Idx:
    def __getitem__(self, idx):
        return idx


I = _Idx()

BASIC = [I[0], I[-1], I[1:], I[:, 0], I[::-1], I[:, ::-2, 1], I[..., 0], I[0, ...],
         I[None], I[:, None, 1:], I[None, ..., None], I[1, 2, 3], I[-2, -3, -4],
         I[:, 1:3, ::3], I[5:], I[-10:10], I[:, :, -1:-5:-1], I[...], I[:], I[0, None, 1],
         I[..., None, ::2], I[1:2], I[:, 3:0:-2]]


@pytest.mark.parametrize("idx", BASIC, ids=str)
def test_basic_constant_index_matches_numpy(idx):
    x = T.tensor3("x")
    out = x[idx]
    expect = A3[idx]
    assert out.ndim == np.ndim(expect)
    got = run([x], out, A3)
    np.testing.assert_array_equal(got, expect)
    node = out.owner if isinstance(out.owner.op, Subtensor) else out.owner.inputs[0].owner
    (shp,) = node.op.infer_shape(node, [tuple(x.shape[d] for d in range(3))])
    f = theano.function([x], [node.outputs[0], *shp])
    val, *dims = f(A3)
    assert tuple(int(d) for d in dims) == val.shape


def test_basic_uses_subtensor_and_broadcastable():
    x = T.tensor3("x")
    assert isinstance(x[1:, 0].owner.op, Subtensor)
    assert x[0, None].broadcastable == (True, False, False)
    r = T.row("r")
    assert r[0:1].broadcastable == (True, False)
    assert r[:, 1:].broadcastable == (True, False)
    assert r[1:].broadcastable == (False, False)
    assert x[0].owner.op == x[0, :].owner.op  # trailing full slices dropped
    assert x[0].owner.op != x[1].owner.op


def test_symbolic_scalar_indices():
    x = T.matrix("x")
    i, j, k = T.lscalar("i"), T.iscalar("j"), T.bscalar("k")
    a = np.arange(30.0).reshape(5, 6)
    f = theano.function([x, i, j, k], [x[i], x[:, j], x[i:j:k], x[i, j], x[k:], x[::k]])
    for iv, jv, kv in [(1, 4, 1), (-1, -5, -2), (4, 0, -1), (2, 2, 3), (0, -1, -3)]:
        res = f(a, iv, jv, kv)
        exp = [a[iv], a[:, jv], a[iv:jv:kv], a[iv, jv], a[kv:], a[::kv]]
        for r, e in zip(res, exp):
            np.testing.assert_array_equal(r, e)


def test_shape_indexing():
    x = T.tensor3("x")
    f = theano.function([x], [x.shape[0], x.shape[-1], x.shape[1:], x.shape[::-1]])
    r = f(A3)
    assert [int(r[0]), int(r[1])] == [2, 4]
    np.testing.assert_array_equal(r[2], [3, 4])
    np.testing.assert_array_equal(r[3], [4, 3, 2])
    assert r[0].dtype == np.int64
    assert T.reshape(x, x.shape[:2], ndim=2).ndim == 2


slice_part = st.one_of(st.none(), st.integers(-8, 8))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 7), start=slice_part, stop=slice_part,
       step=st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0)),
       symbolic=st.booleans())
def test_slices_and_infer_shape_hypothesis(n, start, stop, step, symbolic):
    x = T.vector("x")
    a = np.arange(n, dtype=x.dtype) * 1.5
    ins, vals, parts = [x], [a], []
    for p in (start, stop, step):
        if symbolic and p is not None:
            s = T.lscalar()
            ins.append(s)
            vals.append(p)
            parts.append(s)
        else:
            parts.append(p)
    out = x[slice(*parts)]
    node = out.owner
    (shp,) = node.op.infer_shape(node, [(x.shape[0],)])
    got, got_len = theano.function(ins, [out, shp[0]])(*vals)
    expect = a[start:stop:step]
    np.testing.assert_array_equal(got, expect)
    assert int(got_len) == expect.shape[0]


def test_errors():
    x = T.matrix("x")
    f = theano.function([x], x[3])
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        f(np.zeros((3, 2)))
    i = T.lscalar("i")
    g = theano.function([x, i], x[:, i])
    with pytest.raises(IndexError, match="index -3 is out of bounds for axis 1 with size 2"):
        g(np.zeros((3, 2)), -3)
    with pytest.raises(IndexError, match="too many indices for a 2-d tensor"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="too many indices"):
        x[x > 0, 0]
    with pytest.raises(TypeError, match="index 1: .*got float 1.5"):
        x[0, 1.5]
    with pytest.raises(TypeError, match="index 0: .*float"):
        x[T.dscalar("d")]
    with pytest.raises(TypeError, match="slice stop"):
        x[: T.dscalar()]
    with pytest.raises(ValueError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(TypeError, match="boolean scalar"):
        x[True]
    with pytest.raises(IndexError, match="single Ellipsis"):
        x[..., ...]
    with pytest.raises(TypeError, match="first argument must be an indexing expression"):
        T.set_subtensor(x, 0.0)
    with pytest.raises(ValueError, match="y has 3 dims"):
        T.set_subtensor(x[0], T.tensor3())


@pytest.mark.parametrize("idx", [I[1:, ::-1], I[0], I[None, :, 1], I[-1, 1:3], I[::2, -1]],
                         ids=str)
def test_basic_grad(idx):
    verify_grad(lambda x: x[idx], [np.random.default_rng(0).random((3, 4))])


def test_symbolic_index_grad():
    x, i = T.matrix("x"), T.lscalar("i")
    g = theano.function([x, i], T.grad((x[i:, i] ** 2).sum(), x))
    a = np.arange(12.0).reshape(3, 4)
    exp = np.zeros_like(a)
    exp[1:, 1] = 2 * a[1:, 1]
    np.testing.assert_allclose(g(a, 1), exp)


@pytest.mark.parametrize("idx,yshape", [(I[1:], (1, 4)), (I[:, 0], ()), (I[0], (4,)),
                                        (I[::-1, 1:3], (3, 2)), (I[1, None], (1, 4)),
                                        (I[None, :, 2], (1, 3))], ids=str)
def test_set_inc_basic(idx, yshape):
    x = T.matrix("x")
    y = T.tensor(broadcastable=tuple(s == 1 for s in yshape), name="y")
    a = np.arange(12.0).reshape(3, 4)
    b = np.random.default_rng(1).random(yshape)
    f = theano.function([x, y], [T.set_subtensor(x[idx], y), T.inc_subtensor(x[idx], y)])
    s, i = f(a, b)
    es, ei = a.copy(), a.copy()
    es[idx] = b
    ei[idx] += b
    np.testing.assert_array_equal(s, es)
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(a, np.arange(12.0).reshape(3, 4))  # input untouched
    verify_grad(lambda x, y: T.set_subtensor(x[idx], y), [a, b])
    verify_grad(lambda x, y: T.inc_subtensor(x[idx], y), [a, b])


def test_set_inc_dtypes_and_broadcast_errors():
    x = T.fmatrix("x")
    out = T.set_subtensor(x[0], 0.5)
    assert out.dtype == "float32"
    assert isinstance(out.owner.op, IncSubtensor)
    r = theano.function([x], T.inc_subtensor(x[:, 1], 2))(np.ones((2, 3), "float32"))
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, [[1, 3, 1], [1, 3, 1]])
    v = T.fvector("v")
    f = theano.function([x, v], T.set_subtensor(x[1:], v))
    with pytest.raises(ValueError, match="dimension 0 of the value has length 1 where 3"):
        f(np.ones((2, 3), "float32"), np.ones(1, "float32"))
    with pytest.raises(TypeError, match="complex"):
        T.set_subtensor(x[0], T.zvector())


ADV = [I[[0, 1, 0]], I[:, [1, 1, 2]], I[[[0, 1], [1, 1]]], I[[0, 1], [2, 0]],
       I[[0, 1], :, [3, 0]], I[:, [0, 2], [1, 3]], I[1, :, [0, 3]], I[:, 1, [0, 3]],
       I[[1, 0], 2], I[..., [3, 3]], I[None, [0, 1]], I[:, [0, 2], None, [1, 3]],
       I[[0, 1], None, :, [1, 3]], I[[[0], [1]], :, [1, 2, 3]],
       I[np.array([True, False])], I[:, np.array([True, False, True])],
       I[:, np.arange(12).reshape(3, 4) % 3 == 0], I[np.ones((2, 3), bool), [1, 0, 2, 1, 0, 3]],
       I[1:, [2, 0], ::-1], I[-1, [0, -1], 1:3],
       I[:, [0, 1, 0], ..., 0], I[[1, 0], ..., [3, 0]]]


@pytest.mark.parametrize("idx", ADV, ids=str)
def test_advanced_matches_numpy(idx):
    x = T.tensor3("x")
    out = x[idx]
    expect = A3[idx]
    assert out.ndim == expect.ndim
    got = run([x], out, A3)
    np.testing.assert_array_equal(got, expect)
    node = out.owner if isinstance(out.owner.op, AdvancedSubtensor) else None
    if node is not None:
        (shp,) = node.op.infer_shape(node, [tuple(v.shape[d] for d in range(v.ndim))
                                            for v in node.inputs])
        f = theano.function([x], list(shp), on_unused_input="ignore")
        assert tuple(f(A3)) == expect.shape


@pytest.mark.parametrize("idx", [I[[0, 1, 0]], I[:, [1, 1, 2]], I[[0, 1], :, [3, 0]],
                                 I[np.array([True, False])], I[1, :, [0, 3]],
                                 I[[[0], [1]], None, 1:, [1, 2, 3]]], ids=str)
def test_advanced_grad(idx):
    verify_grad(lambda x: x[idx], [np.random.default_rng(2).random((2, 3, 4))])


def test_symbolic_int_and_mask_indices():
    x, v, m = T.matrix("x"), T.ivector("v"), T.bmatrix("m")
    a = np.arange(12.0).reshape(3, 4) - 5
    vv = np.array([2, 0, 2], "int32")
    f = theano.function([x, v], [x[v], x[:, v], x[v, v], x[x > 0], x[T.gt(x, 0).nonzero()],
                                 x[v, 1:], x[x[:, 0] > -2]])
    exp = [a[vv], a[:, vv], a[vv, vv], a[a > 0], a[np.nonzero(a > 0)], a[vv, 1:],
           a[a[:, 0] > -2]]
    for r, e in zip(f(a, vv), exp):
        np.testing.assert_array_equal(r, e)
    with pytest.raises(TypeError, match="float"):
        x[T.dvector()]
    assert x[m.astype("bool")].ndim == 1
    g = theano.function([x, v], x[v])
    with pytest.raises(IndexError, match="out of bounds"):
        g(a, np.array([5], "int32"))


def test_advanced_set_inc_with_duplicates():
    x, v, y = T.matrix("x"), T.lvector("v"), T.vector("y")
    a = np.arange(12.0).reshape(3, 4)
    vv = np.array([0, 2, 0, 0])
    yv = np.array([1.0, 2.0, 3.0, 4.0])
    f = theano.function([x, v, y], [T.inc_subtensor(x[v, 1], y), T.set_subtensor(x[v, 1], y),
                                    T.inc_subtensor(x[v], 1.0), T.inc_subtensor(x[x > 5], y[0])])
    inc, st_, row, mask = f(a, vv, yv)
    ei = a.copy()
    np.add.at(ei, (vv, 1), yv)
    np.testing.assert_array_equal(inc, ei)
    es = a.copy()
    es[vv, 1] = yv
    np.testing.assert_array_equal(st_, es)
    er = a.copy()
    np.add.at(er, vv, 1.0)
    np.testing.assert_array_equal(row, er)
    em = a.copy()
    em[a > 5] += yv[0]
    np.testing.assert_array_equal(mask, em)
    assert isinstance(T.inc_subtensor(x[v], 1.0).owner.op, AdvancedIncSubtensor)
    verify_grad(lambda x, y: T.inc_subtensor(x[vv, 1], y), [a, yv])
    verify_grad(lambda x, y: T.set_subtensor(x[[2, 0], 1:], y), [a, np.ones((2, 3))])
    verify_grad(lambda x, y: T.inc_subtensor(x[:, [3, 3]], y), [a, np.ones((3, 1))])
    gy = theano.function([y], T.grad(T.inc_subtensor(T.zeros((3, 4))[vv, 1], y).sum() * 2,
                                     y))(yv)
    np.testing.assert_array_equal(gy, [2.0, 2.0, 2.0, 2.0])


@pytest.mark.parametrize("dtype", ["int8", "int64", "float32", "bool"])
def test_dtypes_preserved(dtype):
    x = T.tensor(dtype, (False, False), name="x")
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    outs = [x[1], x[:, [0, 0]], x[x.nonzero()], T.set_subtensor(x[0], a[1])]
    res = run([x], outs, a)
    exp0 = a.copy()
    exp0[0] = a[1]
    for r, e in zip(res, [a[1], a[:, [0, 0]], a[a.nonzero()], exp0]):
        assert r.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(r, e)


def test_take():
    x, v = T.matrix("x"), T.lvector("v")
    a = np.arange(12.0).reshape(3, 4)
    vv = np.array([5, -1, 0])
    m = np.array([[0, 1], [3, 2]])
    f = theano.function([x, v], [T.take(x, v), T.take(x, v, axis=1, mode="clip"),
                                 T.take(x, v, axis=-2, mode="wrap"), x.take(m, axis=1),
                                 T.take(x, 2, axis=0)])
    exp = [np.take(a, vv), np.take(a, vv, axis=1, mode="clip"),
           np.take(a, vv, axis=0, mode="wrap"), np.take(a, m, axis=1), np.take(a, 2, axis=0)]
    for r, e in zip(f(a, vv), exp):
        np.testing.assert_array_equal(r, e)
    with pytest.raises(IndexError):
        theano.function([x, v], T.take(x, v, axis=0))(a, vv)
    with pytest.raises(TypeError, match="indices must be integers"):
        T.take(x, T.dvector())
    verify_grad(lambda x: T.take(x, [1, 1, 0], axis=1), [a])


def test_split_and_join_grad():
    x = T.matrix("x")
    a = np.arange(12.0).reshape(3, 4)
    parts = T.split(x, [1, 0, 3], 3, axis=1)
    assert isinstance(parts[0].owner.op, Split)
    res = run([x], parts, a)
    for r, e in zip(res, np.split(a, [1, 1], axis=1)):
        np.testing.assert_array_equal(r, e)
    s = T.lvector("s")
    f = theano.function([x, s], T.split(x, s, 2, axis=-2))
    for r, e in zip(f(a, [2, 1]), np.split(a, [2], axis=0)):
        np.testing.assert_array_equal(r, e)
    with pytest.raises(ValueError, match="sum to the length 3"):
        f(a, [2, 2])
    with pytest.raises(ValueError, match="n_splits=2 but splits_size has 3"):
        T.split(x, [1, 1, 1], 2)
    one = T.split(x, [3], 1)
    assert isinstance(one, list) and len(one) == 1
    verify_grad(lambda x: T.split(x, [1, 3], 2, axis=1)[1] * 2, [a])
    verify_grad(lambda x: sum(p.sum() * (k + 1) for k, p in
                              enumerate(T.split(x, [2, 1], 2, axis=0))), [a])
    verify_grad(lambda x, y: T.concatenate([x, y], axis=0), [a, np.ones((2, 4))])
    (shp,) = parts[2].owner.op.infer_shape(parts[2].owner, [(x.shape[0], x.shape[1]),
                                                           (T.constant(3),)])[2:]
    np.testing.assert_array_equal(run([x], list(shp), a), [3, 3])


def test_nonzero_family():
    x = T.tensor3("x")
    a = (np.arange(24).reshape(2, 3, 4) % 5 == 0) * np.arange(24.0).reshape(2, 3, 4)
    f = theano.function([x], [*T.nonzero(x), T.nonzero(x, return_matrix=True),
                              T.flatnonzero(x), T.nonzero_values(x), *x.nonzero()])
    r = f(a)
    for k in range(3):
        np.testing.assert_array_equal(r[k], np.nonzero(a)[k])
        np.testing.assert_array_equal(r[k + 6], np.nonzero(a)[k])
        assert r[k].dtype == np.int64
    np.testing.assert_array_equal(r[3], np.array(np.nonzero(a)))
    np.testing.assert_array_equal(r[4], np.flatnonzero(a))
    np.testing.assert_array_equal(r[5], a.ravel()[np.flatnonzero(a)])
    with pytest.raises(ValueError, match="at least 1 dimension"):
        T.nonzero(T.scalar())
    b = np.array([0.0, 1.5, 0.0, -2.0])
    v = T.vector("v")
    gv = theano.function([v], T.grad((T.nonzero_values(v) ** 2).sum(), v))(b)
    np.testing.assert_array_equal(gv, 2 * b)


@st.composite
def mixed_index(draw):
    """A NumPy index mixing ints, slices, integer arrays (broadcasting together),
    one boolean mask, None and Ellipsis, valid for the drawn shape."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    bshape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    use_mask = draw(st.booleans())
    items, dim = [], 0
    kinds = ["int", "slice", "new", "stop", "ell", "mask" if use_mask else "arr"]
    while dim < len(shape):
        kind = draw(st.sampled_from(kinds))
        if kind == "stop":
            break
        if kind == "ell":  # covers k dims; the items after it index the last dims
            dim += draw(st.integers(0, len(shape) - dim))
            items.append(Ellipsis)
            kinds.remove("stop")
            kinds.remove("ell")
        elif kind == "new":
            items.append(None)
        elif kind == "int":
            items.append(draw(st.integers(-shape[dim], shape[dim] - 1)))
            dim += 1
        elif kind == "slice":
            step = draw(st.one_of(st.none(), st.sampled_from([-2, -1, 1, 2])))
            items.append(slice(draw(slice_part), draw(slice_part), step))
            dim += 1
        elif kind == "arr":
            nd = draw(st.integers(1, len(bshape)))
            sh = tuple(b if draw(st.booleans()) else 1 for b in bshape[len(bshape) - nd:])
            items.append(rng.integers(-shape[dim], shape[dim], size=sh))
            dim += 1
        else:
            k = draw(st.integers(1, len(shape) - dim))
            items.append(rng.random(shape[dim:dim + k]) > 0.4)
            kinds[-1] = "int"  # one mask at most
            dim += k
    return shape, tuple(items), draw(st.booleans())


@settings(max_examples=100, deadline=None)
@given(case=mixed_index())
def test_mixed_indices_hypothesis(case):
    shape, idx, symbolic = case
    a = np.arange(np.prod(shape), dtype="float64").reshape(shape) + 0.5
    x = T.tensor(broadcastable=(False,) * len(shape), name="x")
    ins, vals, sym_idx = [x], [a], []
    for e in idx:
        if symbolic and isinstance(e, np.ndarray):
            v = T.tensor(e.dtype.name, (False,) * e.ndim)
            ins.append(v)
            vals.append(e)
            sym_idx.append(v)
        else:
            sym_idx.append(e)
    out = x[tuple(sym_idx)]
    expect = a[idx]
    assert out.ndim == expect.ndim
    y = np.random.default_rng(0).random(expect.shape)
    inc = T.inc_subtensor(out, y)
    got, got_inc = theano.function(ins, [out, inc])(*vals)
    np.testing.assert_array_equal(got, expect)
    pos = np.arange(a.size).reshape(shape)[idx]
    exp_inc = a.copy().reshape(-1)
    np.add.at(exp_inc, pos, y)
    np.testing.assert_allclose(got_inc, exp_inc.reshape(shape))


def test_nll_pattern_and_theano_aliases():
    p, y = T.matrix("p"), T.lvector("y")
    a = np.random.default_rng(3).random((4, 3)) + 0.1
    yv = np.array([2, 0, 0, 1])
    cost = -T.log(p)[np.arange(4), y].mean()
    c, g = theano.function([p, y], [cost, T.grad(cost, p)])(a, yv)
    np.testing.assert_allclose(c, -np.log(a[np.arange(4), yv]).mean())
    eg = np.zeros_like(a)
    eg[np.arange(4), yv] = -1 / (4 * a[np.arange(4), yv])
    np.testing.assert_allclose(g, eg)
    w = T.matrix("w")
    f = theano.function([w, y], [T.advanced_subtensor1(w, y),
                                 T.subtensor.advanced_inc_subtensor1(w, 1.0, y),
                                 T.advanced_set_subtensor1(w, -1.0, y)])
    r = f(a, yv)
    e1, e2 = a.copy(), a.copy()
    np.add.at(e1, yv, 1.0)
    e2[yv] = -1.0
    for got, exp in zip(r, [a[yv], e1, e2]):
        np.testing.assert_allclose(got, exp)


def test_static_lengths_for_shape_vectors():
    x = T.tensor3("x")
    assert T.reshape(x, x.shape[:2]).ndim == 2
    assert T.zeros(x.shape[1:]).ndim == 2
    assert T.ones(x.shape[::-1][1:]).ndim == 2
    r = run([x], T.zeros(x.shape[1:]) + x[0], A3)
    np.testing.assert_array_equal(r, A3[0])
