"""TensorType: value filtering (Theano's rules), dtype rules, typed constructors."""

import itertools
import pickle

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import config
from theanine.tensor.type import (
    TensorType,
    canonical_dtype,
    python_scalar_dtype,
    upcast,
    upgrade_to_float,
)

fvec = TensorType("float32", (False,))
dvec = TensorType("float64", (False,))
ivec = TensorType("int32", (False,))


# -- filter ------------------------------------------------------------------------
def test_filter_exact_dtype_is_returned_without_copy():
    a = np.ones(3, dtype="float32")
    assert fvec.filter(a) is a
    assert fvec.filter(a, strict=True) is a


def test_filter_strict_refuses_any_conversion():
    with pytest.raises(TypeError, match=r"expected an ndarray of dtype float32 \(strict\), "
                                        "got ndarray of dtype float64"):
        fvec.filter(np.ones(3), strict=True)
    with pytest.raises(TypeError, match="got list"):
        fvec.filter([1.0, 2.0], strict=True)


@pytest.mark.parametrize("src,dst", [("int8", "float32"), ("uint8", "float32"),
                                     ("int16", "float32"), ("int32", "float64"),
                                     ("float32", "float64"), ("int8", "int64"),
                                     ("bool", "int8"), ("float32", "complex64")])
def test_filter_safe_array_upcasts_are_accepted(src, dst):
    t = TensorType(dst, (False,))
    out = t.filter(np.array([1, 0, 1], dtype=src))
    assert out.dtype == dst
    np.testing.assert_array_equal(out, [1, 0, 1])


@pytest.mark.parametrize("src,dst", [("int64", "float32"), ("int32", "float32"),
                                     ("float64", "float32"), ("float32", "int64"),
                                     ("int64", "int32"), ("uint64", "int64"),
                                     ("complex64", "float64")])
def test_filter_unsafe_array_casts_are_refused(src, dst):
    t = TensorType(dst, (False,))
    x = np.array([1, 2], dtype=src)
    with pytest.raises(TypeError, match=f"cannot store a value of dtype {src} without "
                                        "risking loss of precision"):
        t.filter(x)
    with pytest.raises(TypeError):
        t.filter(x, allow_downcast=False)
    out = t.filter(x, allow_downcast=True)
    assert out.dtype == dst


def test_filter_python_float_to_floatx():
    with config.change_flags(floatX="float32"):
        # allow_downcast None: a Python float may become floatX even if inexact,
        # but (as in Theano) not a list of them
        assert TensorType("float32", ()).filter(0.1) == np.float32(0.1)
        with pytest.raises(TypeError, match="loss of precision"):
            fvec.filter([0.1])
        assert fvec.filter([0.5]).dtype == "float32"
        with pytest.raises(TypeError, match="cannot store 0.1 without loss of precision"):
            TensorType("float32", ()).filter(0.1, allow_downcast=False)
    # floatX is float64: a float32 type takes only exactly representable floats
    s32 = TensorType("float32", ())
    assert s32.filter(0.5) == 0.5
    with pytest.raises(TypeError, match="loss of precision"):
        s32.filter(0.1)
    assert s32.filter(0.1, allow_downcast=True) == np.float32(0.1)


def test_filter_lists_and_python_numbers_need_lossless_conversion():
    np.testing.assert_array_equal(ivec.filter([1, 2, 3]), [1, 2, 3])
    assert ivec.filter([1, 2]).dtype == "int32"
    with pytest.raises(TypeError, match="it would become"):
        ivec.filter([1.5, 2.0])
    np.testing.assert_array_equal(ivec.filter([1.0, 2.0]), [1, 2])
    assert TensorType("int8", ()).filter(100) == 100
    with pytest.raises(TypeError, match="cannot convert int 300 to"):
        TensorType("int8", ()).filter(300)
    nan = dvec.filter([np.nan, 1.0])
    assert np.isnan(nan[0])
    # NumPy scalars are checked by value, as Theano did (not by dtype)
    assert TensorType("float32", ()).filter(np.float64(0.5)) == 0.5
    with pytest.raises(TypeError, match="loss of precision"):
        TensorType("float32", ()).filter(np.float64(0.1))
    with pytest.raises(TypeError, match="cannot convert list"):
        dvec.filter([1 + 2j])
    with pytest.raises(TypeError, match="loss of precision"):
        dvec.filter(np.complex128(1 + 2j))


def test_filter_refuses_strings_objects_and_variables():
    with pytest.raises(TypeError, match="cannot convert"):
        dvec.filter(["a", "b"])
    with pytest.raises(TypeError, match="cannot convert"):
        dvec.filter([[1.0], [1.0, 2.0]])
    with pytest.raises(TypeError, match="got the symbolic variable x"):
        dvec.filter(T.dvector("x"))


def test_filter_checks_ndim_and_broadcastable_dims():
    with pytest.raises(TypeError, match=r"value: expected 1 dimensions for .*, got 2 "
                                        r"\(shape \(1, 3\)\)"):
        dvec.filter(np.ones((1, 3)))
    row = TensorType("float64", (True, False))
    assert row.filter(np.ones((1, 4))).shape == (1, 4)
    with pytest.raises(TypeError, match=r"dimension 0 of .* is broadcastable and must have "
                                        r"length 1, got shape \(2, 4\)"):
        row.filter(np.ones((2, 4)))
    with pytest.raises(TypeError, match="input 3"):
        dvec.filter(np.ones((2, 2)), arg="input 3")


def test_function_inputs_follow_filter_rules():
    x = T.fvector("x")
    f = theano.function([x], x * 2)
    assert f([1, 2]).dtype == "float32"
    with pytest.raises(TypeError, match="bad argument to theano function: input 0 .*float64"):
        f(np.ones(2))
    g = theano.function([x], x * 2, allow_input_downcast=True)
    np.testing.assert_allclose(g(np.ones(2)), [2, 2])
    with pytest.raises(TypeError, match="expected 1 dimensions"):
        f(np.ones((2, 2), dtype="float32"))


def test_is_valid_value_and_values_eq():
    assert dvec.is_valid_value(np.ones(2))
    assert not dvec.is_valid_value(np.ones((2, 2)))
    assert not dvec.is_valid_value([1.0])  # strict
    assert dvec.values_eq(np.ones(2), np.ones(2))
    assert dvec.values_eq_approx(np.array([1.0, np.nan]), np.array([1.0 + 1e-9, np.nan]))
    assert not dvec.values_eq_approx(np.ones(2), np.array([1.0, 1.1]))


# -- the type itself ------------------------------------------------------------------
def test_type_equality_hash_str_and_pickle():
    assert TensorType("float64", (False,)) == dvec
    assert hash(TensorType("float64", (False,))) == hash(dvec)
    assert dvec != fvec and dvec != TensorType("float64", (True,))
    assert TensorType("float64", shape=(1, None)) == TensorType("float64", (True, False))
    assert str(dvec) == "TensorType(float64, vector)"
    assert str(TensorType("int32", (True, False))) == "TensorType(int32, row)"
    assert str(TensorType("float32", (False, True))) == "TensorType(float32, col)"
    assert str(TensorType("float64", (False,) * 3)) == "TensorType(float64, 3D)"
    assert str(TensorType("float64", (True,))) == "TensorType(float64, (True,))"
    assert pickle.loads(pickle.dumps(dvec)) == dvec
    assert dvec.ndim == 1 and TensorType("int8", ()).ndim == 0
    assert TensorType("float64", (True, False)).shape == (1, None)
    assert dvec.clone(dtype="int8") == TensorType("int8", (False,))
    assert TensorType("float64", (True, False)).is_super(TensorType("float64", (True, False)))
    assert TensorType("float64", (False, False)).is_super(TensorType("float64", (True, False)))
    assert not TensorType("float64", (True, False)).is_super(
        TensorType("float64", (False, False)))


def test_type_constructor_errors():
    with pytest.raises(TypeError, match="give broadcastable"):
        TensorType("float64")
    with pytest.raises(TypeError, match=r"dtype: expected a dtype among .* got 'float8'"):
        TensorType("float8", ())
    with pytest.raises(TypeError, match="got 'object'"):
        canonical_dtype("object")


def test_canonical_dtype_aliases():
    assert canonical_dtype(np.float32) == "float32"
    assert canonical_dtype(np.dtype("int16")) == "int16"
    assert canonical_dtype("f4") == "float32"
    assert canonical_dtype("float") == "float64" and canonical_dtype("int") == "int64"
    assert canonical_dtype(bool) == "bool"
    with config.change_flags(floatX="float32"):
        assert canonical_dtype("floatX") == "float32"
    assert canonical_dtype("floatX") == "float64"


def test_dtype_helpers():
    assert upcast("int32", "float32") == "float64"
    assert upcast("int8", "float32") == "float32"
    assert upcast("int8", "uint8") == "int16"
    assert upcast("float32", "complex64") == "complex64"
    assert [upgrade_to_float(d) for d in ("int8", "int32", "bool", "float32", "complex64")] \
        == ["float32", "float64", "float32", "float32", "complex64"]
    assert python_scalar_dtype(3) == "int8"
    assert python_scalar_dtype(300) == "int16"
    assert python_scalar_dtype(2 ** 40) == "int64"
    assert python_scalar_dtype(2 ** 63) == "uint64"
    assert python_scalar_dtype(True) == "bool"
    assert python_scalar_dtype(1.5) == config.floatX
    assert python_scalar_dtype(1j) == "complex128"
    assert python_scalar_dtype(np.float32(1)) == "float32"


def test_filter_variable():
    x = T.dvector("x")
    assert dvec.filter_variable(x) is x
    col = T.dmatrix("m")
    bt = TensorType("float64", (False, True))
    assert bt.filter_variable(col).type == bt
    with pytest.raises(TypeError, match="dtype and number of dimensions must match"):
        fvec.filter_variable(x)


# -- dtype rules of operations ------------------------------------------------------
NUMERIC = ["int8", "int16", "int32", "int64", "uint8", "uint16", "float32", "float64",
           "complex64", "complex128"]


@pytest.mark.parametrize("d1,d2", list(itertools.combinations_with_replacement(NUMERIC, 2)))
def test_binary_op_dtypes_follow_numpy(d1, d2):
    a, b = T.tensor(d1, (False,)), T.tensor(d2, (False,))
    expected = np.result_type(d1, d2).name
    assert (a + b).dtype == expected
    assert (b * a).dtype == expected
    assert (a - b).dtype == expected


def test_weak_python_scalars():
    assert (T.fvector() * 0.5).dtype == "float32"
    assert (0.5 * T.fvector()).dtype == "float32"
    assert (T.ivector() + 1).dtype == "int32"
    assert (T.bvector() + 1).dtype == "int8"
    assert (T.bvector() + 1000).dtype == "int16"  # does not fit int8: the literal's own dtype
    assert (T.ivector() * 1.5).dtype == "float64"  # floatX is float64
    assert (T.fvector() + 1).dtype == "float32"
    assert (T.cvector() * 2.0).dtype == "complex64"
    assert (T.fvector() * 1j).dtype == "complex128"  # as Theano: 1j is complex128
    assert (T.dvector() * np.float32(2)).dtype == "float64"
    assert (T.fvector() * np.float64(2)).dtype == "float64"  # NumPy values are not weak


def test_true_div_of_integers_gives_float():
    assert (T.ivector() / T.ivector()).dtype == "float64"
    assert (T.bvector() / 2).dtype == "float64"


# -- constructors --------------------------------------------------------------------
PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
          "d": "float64", "c": "complex64", "z": "complex128"}
KINDS = {"scalar": (), "vector": (False,), "matrix": (False, False), "row": (True, False),
         "col": (False, True), "tensor3": (False,) * 3, "tensor4": (False,) * 4,
         "tensor5": (False,) * 5}


@pytest.mark.parametrize("prefix", list(PREFIX))
@pytest.mark.parametrize("kind", list(KINDS))
def test_typed_constructors(prefix, kind):
    v = getattr(T, prefix + kind)("v")
    assert v.name == "v" and v.owner is None
    assert v.dtype == PREFIX[prefix] and v.broadcastable == KINDS[kind]
    a, b = getattr(T, prefix + ("matrices" if kind == "matrix" else kind + "s"))("a", "b")
    assert (a.name, b.name) == ("a", "b") and a.type == v.type
    three = getattr(T, prefix + ("matrices" if kind == "matrix" else kind + "s"))(3)
    assert len(three) == 3 and all(t.type == v.type for t in three)
    typ = getattr(T, prefix + kind)  # a TensorType, as in Theano
    assert isinstance(typ, T.TensorType) and v.type == typ
    assert typ.dtype == PREFIX[prefix] and typ.broadcastable == KINDS[kind]


def test_untyped_constructors_use_floatx():
    assert T.matrix().dtype == "float64"
    assert T.matrix(dtype="int32").dtype == "int32"
    x, y = T.scalars("x", "y")
    assert x.dtype == "float64" and y.name == "y"
    with config.change_flags(floatX="float32"):
        assert T.tensor4().dtype == "float32" and T.vectors(2)[1].dtype == "float32"
    t = T.tensor("int16", (True, False, False), name="t")
    assert t.type == TensorType("int16", (True, False, False)) and t.name == "t"
    assert T.tensor(shape=(1, None)).broadcastable == (True, False)
    with pytest.raises(TypeError, match="give broadcastable"):
        T.tensor("float64")


def test_constants_and_as_tensor_variable():
    assert T.constant(1).dtype == "int8"
    assert T.constant(2 ** 20).dtype == "int32"
    assert T.constant(1.0).dtype == config.floatX
    assert T.constant(np.float32(1.0)).dtype == "float32"
    assert T.constant([1, 2], dtype="float32").dtype == "float32"
    c = T.constant(np.ones((1, 3)))
    assert c.broadcastable == (True, False)
    assert T.constant(5, ndim=2).broadcastable == (True, True)
    assert T.constant([]).dtype == config.floatX
    with pytest.raises(TypeError, match="cannot make a tensor constant"):
        T.constant("abc")
    with pytest.raises(ValueError, match="more than ndim=0"):
        T.constant([1, 2], ndim=0)
    x = T.dvector("x")
    assert T.as_tensor_variable(x) is x
    assert T.as_tensor_variable([x, x]).ndim == 2
    assert T.as_tensor_variable(x, dtype="float32").dtype == "float32"
    with pytest.raises(TypeError, match="cannot convert"):
        T.as_tensor_variable(object())


def test_plural_constructors_use_theano_names():
    import theanine.tensor as T

    a, b = T.dmatrices("a", "b")
    assert (a.name, b.name) == ("a", "b") and a.type == T.dmatrix().type
    assert [v.type.dtype for v in T.fvectors(3)] == ["float32"] * 3
    assert T.matrices(2)[0].ndim == 2 and not hasattr(T, "matrixs")
