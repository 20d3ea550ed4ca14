"""Print, as_op and ifelse in compiled code (numba): the same output as py, and the
Scans holding them run as compiled loops (each test checks that the Scan's kernel
is compiled and that py's Scan or IfElse implementation is never called)."""

import contextlib

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import assert_same, backend_mode
from theanine.backends.numba import linker
from theanine.backends.numba.registry import Unsupported
from theanine.compile.ops import as_op
from theanine.ifelse import LazyIfElse, ifelse
from theanine.printing import Print
from theanine.scan.op import Scan

R = np.random.default_rng(5)


@contextlib.contextmanager
def no_py_fallback(monkeypatch):
    """py's Scan loop and ifelse branches (LazyIfElse, the form ifelse runs as) fail if
    called."""

    def boom(*_):
        raise AssertionError("the py implementation ran instead of compiled code")

    with monkeypatch.context() as m:
        m.setattr(Scan, "inner_function", boom)
        m.setattr(LazyIfElse, "branch_functions", boom)
        yield


def run_compiled(monkeypatch, inputs, outputs, args, compiled=Scan, **kw):
    """(py results, numba results); numba's nodes of class `compiled` are kernels."""
    ref = theano.function(inputs, outputs, mode=backend_mode("py"), **kw)(*args)
    f = theano.function(inputs, outputs, mode=backend_mode("numba"), **kw)
    ks = [k for k in f.fn.kernels if isinstance(k.node.op, compiled)]
    assert ks and all(k.ready() for k in ks)
    with no_py_fallback(monkeypatch):
        got = f(*args)
    assert_same(ref, got)
    return ref, got


def test_print_in_scan_body(numba_strict, monkeypatch, capsys):
    x = T.vector("x", dtype="float32")

    def step(a, h, s):
        h = Print("h is")(h * 0.5 + a)
        s = Print("s", attrs=("shape", "dtype", "__str__"))(s + a)
        return h, s

    (h, s), _ = theano.scan(step, sequences=x, outputs_info=[T.zeros(2, "float32"),
                                                             T.constant(np.float32(0.1))])
    args = [np.array([1.5, -2.25, 0.125, 3.0], dtype="float32")]
    run_compiled(monkeypatch, [x], [h, s], args)
    out = capsys.readouterr().out.splitlines()
    half = len(out) // 2
    assert out[:half] == out[half:]  # py's then numba's
    assert sum(line.startswith("h is __str__ = ") for line in out[half:]) == 4
    assert sum(line.startswith("s ") for line in out[half:]) == 12
    assert "s shape = ()" in out and "s dtype = float32" in out


def test_print_global_fn_sees_numpy_values(numba_strict, monkeypatch):
    seen = []
    x = T.matrix("x")
    h, _ = theano.scan(lambda row, h: Print(global_fn=lambda op, v: seen.append(v.copy()))(h)
                       + row, sequences=x, outputs_info=T.zeros(3))
    run_compiled(monkeypatch, [x], h, [R.normal(size=(3, 3))])
    assert len(seen) == 6 and all(type(v) is np.ndarray for v in seen)
    for a, b in zip(seen[:3], seen[3:]):
        assert_same(a, b)


@as_op(itypes=[T.dvector, T.fscalar], otypes=[T.dmatrix, T.fscalar])
def outer_and_norm(v, s):
    return np.outer(v, v).T * s, np.float32(np.abs(v).sum())  # non-contiguous matrix


def test_as_op_in_scan_body(numba_strict, monkeypatch):
    x = T.matrix("x")

    def step(row, h, n):
        m, k = outer_and_norm(row + h, n)
        return m.sum(axis=0) * 0.1, n + k

    (h, n), _ = theano.scan(step, sequences=x, outputs_info=[T.zeros(3),
                                                            T.constant(np.float32(0.0))])
    run_compiled(monkeypatch, [x], [h, n], [R.normal(size=(5, 3))])


def test_as_op_error_in_compiled_scan():
    @as_op(itypes=[T.dscalar], otypes=[T.dscalar])
    def positive(v):
        if v < 0:
            raise ValueError(f"negative: {v}")
        return v

    x = T.vector("x")
    h, _ = theano.scan(lambda a, h: positive(h + a), sequences=x, outputs_info=T.constant(0.0))

    with linker.policy("strict", "all"):
        f = theano.function([x], h, mode=backend_mode("numba"))
    with pytest.raises(ValueError, match="negative: -1.0"):
        f(np.array([1.0, -2.0]))


def test_ifelse_top_level_matrices_and_scalars(numba_strict, monkeypatch):
    c, s = T.scalar("c"), T.scalar("s")
    a, b = T.matrix("a"), T.matrix("b")
    outs = ifelse(T.gt(c, 0), [T.dot(a, b), s * 2, a.T], [a + b, T.sqrt(s), b])
    args = [R.normal(size=(3, 3)), R.normal(size=(3, 3)), np.float64(4.0)]
    for cond in (1.0, -1.0):
        run_compiled(monkeypatch, [c, a, b, s], outs, [np.float64(cond)] + args,
                     compiled=LazyIfElse)


def test_ifelse_in_scan_runs_only_the_taken_branch(numba_strict, monkeypatch, capsys):
    calls = []

    @as_op(itypes=[T.dscalar], otypes=[T.dscalar])
    def expensive(v):
        calls.append(float(v))
        return v * 3

    x = T.vector("x")

    def step(a, h):
        return ifelse(T.gt(a, 0), expensive(h + a), Print("else")(h - a))

    h, _ = theano.scan(step, sequences=x, outputs_info=T.constant(1.0))
    args = [np.array([1.0, -1.0, 2.0, -0.5, -0.25])]
    ref, got = run_compiled(monkeypatch, [x], h, args)
    assert len(calls) == 4 and calls[:2] == calls[2:]  # 2 positive steps, py then numba
    assert len(capsys.readouterr().out.splitlines()) == 6  # 3 negative steps, twice


def test_ifelse_several_outputs_in_scan(numba_strict, monkeypatch):
    x = T.tensor3("x")

    def step(m, h, n):
        big = T.gt(n, 2.0)
        h2, n2 = ifelse(big, [T.tanh(T.dot(m, h)), n * 0.5], [h + m, n + m.sum()])
        return h2, n2

    (h, n), _ = theano.scan(step, sequences=x, outputs_info=[T.eye(3), T.constant(0.0)])
    run_compiled(monkeypatch, [x], [h, n], [R.normal(size=(6, 3, 3)) * 0.5])


def test_gradient_of_scan_with_ifelse(numba_strict, monkeypatch):
    x = T.vector("x")
    w = T.scalar("w")

    def step(a, h, w):
        return ifelse(T.gt(a, 0), T.tanh(w * h + a), h * w - a)

    h, _ = theano.scan(step, sequences=x, outputs_info=T.constant(0.3), non_sequences=w)
    cost = (h ** 2).sum()
    grads = theano.grad(cost, [x, w])
    run_compiled(monkeypatch, [x, w], [cost] + grads, [R.normal(size=7), np.float64(0.8)])


def test_ifelse_branch_types_must_agree(numba_strict):
    c, v = T.scalar("c"), T.vector("v")
    inner = v.type()
    op = LazyIfElse([inner], [inner * 2], [T.cast(inner, "float32")])
    with pytest.raises(Unsupported, match="one dtype and ndim"):
        theano.function([c, v], op(c, v), mode=backend_mode("numba"))
