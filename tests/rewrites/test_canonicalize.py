"""canonicalize: each rule alone, before-graph -> expected after-graph, same values."""

import numpy as np
import pytest

import theanine.tensor as T
from theanine.gradient import disconnected_grad, zero_grad
from theanine.graph.traversal import toposort
from theanine.rewrites import canonicalize as C
from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.reduce import CAReduce

from .helpers import check_rewrite, check_same_values, check_unchanged, rewritten


def f64(v):
    return T.constant(np.float64(v))


def test_mul_by_one_and_add_zero():
    x, y = T.matrix("x"), T.matrix("y")
    check_rewrite(C.drop_identity, x * 1, x, [x])
    check_rewrite(C.drop_identity, 0 + x, x, [x])
    check_rewrite(C.drop_identity, T.mul(x, 1, y), T.mul(x, y), [x, y])


def test_mul_by_one_keeps_the_dtype():
    i = T.ivector("i")
    check_rewrite(C.drop_identity, i * f64(1.0), T.cast(i, "float64"), [i])


def test_mul_by_a_non_broadcastable_one_is_kept():
    x = T.vector("x")
    ones = T.constant(np.ones(3))  # it sets the length: not an identity
    check_unchanged(C.drop_identity, x * ones, [x])


def test_narrower_remaining_dtype_is_kept():
    x, y = T.fvector("x"), T.fvector("y")
    check_unchanged(C.drop_identity, T.mul(x, y, f64(1.0)), [x, y])


def test_sub_zero_and_div_one():
    x = T.matrix("x")
    check_rewrite(C.drop_right_identity, x - 0, x, [x])
    check_rewrite(C.drop_right_identity, x / 1, x, [x])
    check_unchanged(C.drop_right_identity, 0 - x, [x])


def test_sub_self():
    x = T.matrix("x")
    check_rewrite(C.sub_self, x - x, T.second(x, T.constant(np.float64(0))), [x])
    b = T.bvector("b")
    out = check_rewrite(C.sub_self, b - b, T.second(b, T.constant(np.int8(0))), [b])
    assert out.dtype == "int8"


def test_neg_neg():
    x = T.matrix("x")
    check_rewrite(C.neg_neg, T.neg(T.neg(x)), x, [x])
    check_unchanged(C.neg_neg, -x, [x])


def test_flatten_nested_add_and_mul():
    a, b, c, d = T.vectors("a", "b", "c", "d")
    check_rewrite(C.flatten, (a + b) + (c + d), T.add(a, b, c, d), [a, b, c, d])
    check_rewrite(C.flatten, a * (b * c), T.mul(a, b, c), [a, b, c])


def test_flatten_keeps_shared_and_other_dtype_subterms():
    a, b, c = T.vectors("a", "b", "c")
    ab = a + b
    check_unchanged(C.flatten, [ab + c, ab], [a, b, c])
    i, j = T.ivectors("i", "j")
    check_unchanged(C.flatten, (i + j) + c, [i, j, c])


def test_flatten_long_chain_makes_a_tree_of_wide_sums():
    xs = T.vectors(*[f"x{k}" for k in range(5)])
    y = xs[0]
    for k in range(4000):
        y = y + xs[k % 5]
    out = rewritten(y, C.flatten, xs)
    adds = toposort([out])
    assert all(len(n.inputs) <= C.MAX_FLAT for n in adds)
    assert sum(len(n.inputs) for n in adds) - (len(adds) - 1) == 4001  # every term kept
    assert len(adds) < 4000 / (C.MAX_FLAT - 2)
    check_same_values(xs, [y], [out])


def test_sort_moves_constants_last_and_combines_them():
    a, b = T.vectors("a", "b")
    check_rewrite(C.sort_inputs, T.mul(f64(2.0), a, f64(3.0), b),
                  T.mul(a, b, T.constant(np.float64(6.0))), [a, b])
    check_rewrite(C.sort_inputs, T.add(f64(2.0), a), T.add(a, f64(2.0)), [a])
    check_unchanged(C.sort_inputs, T.add(b, a), [a, b])
    check_unchanged(C.sort_inputs, T.add(a, b, f64(1.0)), [a, b])


def test_sort_leaves_mixed_dtypes_alone():
    a, i = T.vector("a"), T.ivector("i")
    check_unchanged(C.sort_inputs, T.add(f64(1.0), i, a), [a, i])


def test_div_by_constant():
    x = T.matrix("x")
    check_rewrite(C.div_by_constant, x / f64(4.0), x * T.constant(np.float64(0.25)), [x])
    check_unchanged(C.div_by_constant, x / f64(0.0), [x])
    i = T.ivector("i")
    check_unchanged(C.div_by_constant, i / 4, [i])


@pytest.mark.parametrize("k, expected", [
    (0, lambda x: T.second(x, T.constant(np.float64(1)))),
    (1, lambda x: x),
    (2, lambda x: T.sqr(x)),
    (3, lambda x: T.mul(T.sqr(x), x)),
    (4, lambda x: T.sqr(T.sqr(x))),
    (-1, lambda x: T.inv(x)),
    (-2, lambda x: T.inv(T.sqr(x))),
    (0.5, lambda x: T.sqrt(x)),
    (-0.5, lambda x: T.inv(T.sqrt(x))),
])
def test_pow_by_small_constants(k, expected):
    x = T.matrix("x")
    check_rewrite(C.pow_small, x ** f64(k), expected(x), [x])


def test_pow_kept_for_other_exponents_and_negative_int_powers():
    x, i = T.matrix("x"), T.ivector("i")
    check_unchanged(C.pow_small, x ** f64(5.0), [x])
    check_unchanged(C.pow_small, x ** f64(1.5), [x])
    check_unchanged(C.pow_small, i ** -1, [i])
    check_rewrite(C.pow_small, i ** 2, T.sqr(i), [i])


def test_pow_casts_to_the_output_dtype():
    x = T.fvector("x")
    check_rewrite(C.pow_small, x ** f64(2.0), T.sqr(T.cast(x, "float64")), [x])


def test_sum_of_sums():
    x = T.tensor3("x")
    check_rewrite(C.reduce_of_reduce, T.sum(T.sum(x, axis=1), axis=1),
                  CAReduce("sum", (1, 2))(x), [x])
    check_rewrite(C.reduce_of_reduce, T.max(T.max(x, axis=0), axis=0),
                  CAReduce("max", (0, 1))(x), [x])
    check_unchanged(C.reduce_of_reduce, T.sum(T.max(x, axis=0)), [x])


def test_sum_of_sums_keeps_narrowing_inner_dtype():
    x = T.tensor3("x")
    check_unchanged(C.reduce_of_reduce, T.sum(T.sum(x, axis=1, dtype="float32"), axis=0),
                    [x])
    b = T.btensor3("b")
    check_rewrite(C.reduce_of_reduce, T.sum(T.sum(b, axis=1), axis=0),
                  CAReduce("sum", (0, 1))(b), [b])


def test_transpose_of_transpose():
    x = T.tensor3("x")
    check_rewrite(C.dimshuffle_chain, x.dimshuffle(2, 0, 1).dimshuffle(1, 2, 0), x, [x])
    check_rewrite(C.dimshuffle_chain, x.T.dimshuffle(0, "x", 2, 1),
                  DimShuffle(x.broadcastable, (2, "x", 0, 1))(x), [x])
    check_unchanged(C.dimshuffle_chain, x.T, [x])


def test_reshape_chains():
    x = T.matrix("x")
    check_rewrite(C.reshape_chain, x.reshape((6,)).reshape((3, 2)), x.reshape((3, 2)), [x],
                  values=[np.arange(6.0).reshape(2, 3)])
    check_rewrite(C.reshape_chain, T.reshape(x, x.shape), x, [x])
    check_rewrite(C.reshape_chain, T.reshape(x, (x.shape[0], x.shape[1])), x, [x])


def test_useless_ops_are_removed():
    x = T.matrix("x")
    check_rewrite(C.useless, zero_grad(x) + disconnected_grad(x), x + x, [x])
    check_rewrite(C.useless, T.tensor_copy(x), x, [x])
    r = T.row("r")
    check_rewrite(C.useless, T.addbroadcast(T.unbroadcast(r, 0), 0), r, [r])
    m = T.matrix("m")
    kept = T.unbroadcast(T.addbroadcast(m, 0), 0)  # checks that dim 0 has length 1
    check_unchanged(C.useless, kept, [m])


def test_canonicalize_set_folds_constants_too():
    x = T.vector("x")
    y = x * (T.constant(np.float64(2.0)) - 1.0)
    check_rewrite(C.canonicalize, y, x, [x])
