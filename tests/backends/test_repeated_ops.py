"""A graph repeating one op (a deep unrolled network) generates its code once: the
numba kernel text per (op, types, repeated inputs), the py backend's fused function
per (op, types); what differs in any of these gets its own."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.backends.numba import linker as nl
from theanine.backends.py import fused
from theanine.tensor.composite import Composite


def test_numba_text_once_per_op_types_and_repeats():
    x, y = T.dvector("x"), T.dvector("y")
    a, b, c = x * y, (x + 1) * y, x * x
    f32 = T.fvector("f") * T.fvector("g")
    muls = [a.owner, b.owner, c.owner, f32.owner]
    assert muls[0].op == muls[1].op == muls[2].op == muls[3].op
    t_a, t_b = nl.kernel_text(muls[0]), nl.kernel_text(muls[1])
    assert t_a is t_b  # the same op on the same types: emitted once
    assert nl.text_key(muls[2]) != nl.text_key(muls[0])  # x * x: one variable twice
    assert nl.text_key(muls[3]) != nl.text_key(muls[0])  # float32
    assert nl.kernel_text(muls[3]) != t_a


def test_numba_repeated_composites_compute_their_own_values():
    x = T.dvector("x")
    y = x
    for _ in range(30):
        y = T.tanh(y) * 0.9 + 0.05
    cost = y.sum()
    g = T.grad(cost, x)
    v = np.array([0.3, -1.2, 2.0])
    want = theano.function([x], [cost, g], mode="PY")(v)
    with nl.policy("checked", "all"):
        got = theano.function([x], [cost, g], mode="NUMBA")(v)
    for w, o in zip(want, got):
        np.testing.assert_allclose(o, w, rtol=1e-12)


def test_py_fused_function_once_per_op_and_types():
    prog = (((T.tanh(T.dscalar()).owner.op.scalar_op), (0,), "float64"),)
    op = Composite(1, prog)
    vec, mat = T.dvector().type, T.dmatrix().type
    src1, f1 = fused._compiled(op, (vec,))
    src2, f2 = fused._compiled(Composite(1, prog), (vec,))
    assert f1 is f2 and src1 == src2
    _, f3 = fused._compiled(op, (mat,))
    assert f3 is not f1
    np.testing.assert_allclose(f1(np.array([0.5, -2.0])), np.tanh([0.5, -2.0]))
