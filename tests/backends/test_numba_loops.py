"""Loop fusion in generated code (backends/numba/loops.py): elementwise nodes of one
shape class and level share one loop nest; results equal py's, shape errors raise."""

import re

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA, assert_same, backend_mode
from theanine.graph.traversal import toposort

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")

if HAVE_NUMBA:
    from theanine.backends.numba import codegen, linker, loops
R = np.random.default_rng(3)


def body_of(f):
    """The generated text of the function's Scan kernel, and its body function."""
    (node,) = [n for n in f.maker.fgraph.toposort() if type(n.op).__name__ == "Scan"]
    text = linker.kernel_text(node)
    body = text[text.index("def body"):text.index("@numba", text.index("def body"))]
    return text, body


def loop_nests(src):
    """Number of outermost `for` loops over array dims (j names) in a function."""
    return len(re.findall(r"^    for j\d+ in range", src, flags=re.M))


def compare(inputs, outputs, args):
    ref = theano.function(inputs, outputs, mode=backend_mode("py"))(*args)
    with linker.policy("strict"):
        f = theano.function(inputs, outputs, mode=backend_mode("numba"))
    assert_same(ref, f(*args))
    return f


def test_values_used_twice_share_one_loop():
    x, y = T.tensor3("x"), T.tensor3("y")

    def step(a, b, h):
        t = T.tanh(a * h)            # used by three results
        s = T.nnet.sigmoid(b)        # used twice
        return t * s + h, t - s, t * 2 + s

    (h, u, w), _ = theano.scan(step, sequences=[x, y], outputs_info=[T.zeros((2, 3)),
                                                                     None, None])
    args = [R.normal(size=(4, 2, 3)), R.normal(size=(4, 2, 3))]
    f = compare([x, y], [h, u, w], args)
    _, body = body_of(f)
    assert loop_nests(body) == 1, body


def test_loops_split_at_a_non_elementwise_node_and_at_another_shape():
    x, W, c = T.tensor3("x"), T.matrix("W"), T.matrix("c")

    def step(a, h, W, c):
        u = T.tanh(a + h)                      # level 0, shape of h
        v = T.dot(u, W)                        # not elementwise
        col = T.exp(v.sum(axis=1, keepdims=True))  # another broadcast pattern (B, 1)
        return T.nnet.sigmoid(v) * u + col * c + u  # level 1

    h, _ = theano.scan(step, sequences=x, outputs_info=T.zeros((2, 3)), non_sequences=[W, c])
    args = [R.normal(size=(5, 2, 3)), R.normal(size=(3, 3)) / 2, R.normal(size=(2, 3))]
    f = compare([x, W, c], h, args)
    _, body = body_of(f)
    assert 2 <= loop_nests(body) <= 3, body  # u; col (or fused with the sum); the result


def test_a_shape_mismatch_in_a_fused_loop_raises():
    x, y = T.tensor3("x"), T.tensor3("y")
    (h, u), _ = theano.scan(lambda a, b, h: (T.tanh(a) * h, T.tanh(a) + b), sequences=[x, y],
                            outputs_info=[T.ones((2, 3)), None])
    with linker.policy("strict"):
        f = theano.function([x, y], [h, u], mode=backend_mode("numba"))
    with pytest.raises(ValueError):
        f(R.normal(size=(3, 2, 3)), R.normal(size=(3, 2, 4)))
    with pytest.raises(ValueError):
        theano.function([x, y], [h, u], mode=backend_mode("py"))(
            R.normal(size=(3, 2, 3)), R.normal(size=(3, 2, 4)))


def test_plan_orders_groups_topologically():
    a, b, W = T.matrix("a"), T.matrix("b"), T.matrix("W")
    u = T.tanh(a) * b
    v = T.dot(u, W)
    w = T.exp(v) + u
    z = u * 3
    nodes = toposort([w, z])
    items = loops.plan(nodes)
    pos = {}
    for k, it in enumerate(items):
        for n in getattr(it, "members", [it]):
            pos[n] = k
    assert set(pos) == set(nodes)
    for n in nodes:  # every input is computed by an earlier item (or the same group)
        for v_ in n.inputs:
            if v_.owner in pos:
                assert pos[v_.owner] <= pos[n]
                if pos[v_.owner] == pos[n]:
                    assert not isinstance(items[pos[n]], type(n))
    groups = [it for it in items if hasattr(it, "members")]
    assert any(len(g.members) >= 3 for g in groups)  # tanh, mul, z's mul: one loop


def _functions(text):
    """{name: number of lines} of every generated function of a kernel module."""
    out = {}
    for m in re.finditer(r"^def (\w+)\(.*?(?=^@|\Z)", text, flags=re.M | re.S):
        out[m.group(1)] = m.group(0).count("\n")
    return out


def test_a_large_loop_body_is_emitted_as_bounded_parts(monkeypatch):
    """Issue 13 item 8: numba's compile time grows with the square of a function's
    size, so a loop body longer than PART_LINES is split into part functions called
    in sequence (a 2,000-node body was OOM-killed at 15.5 GB as one function).
    PART_LINES is lowered here to keep the compile short; values equal py's."""
    monkeypatch.setattr(codegen, "PART_LINES", 30)
    monkeypatch.setattr(linker, "_TEXTS", {})  # texts made with the usual setting
    X, W, a = T.tensor3("X"), T.matrix("W"), T.vector("a")

    def step(x, h):
        for k in range(8):  # each block: a product, then an elementwise chain
            h = T.nnet.sigmoid(T.tanh(T.dot(h, W) + a * (k + 1)) * 1.01 - a) + x
        return h

    hs, _ = theano.scan(step, sequences=X, outputs_info=T.zeros((2, 3)))
    args = [R.normal(size=(5, 2, 3)) * 0.3, R.normal(size=(3, 3)) * 0.5, R.normal(size=3)]
    f = compare([X, W, a], hs, args)
    text, _ = body_of(f)
    sizes = _functions(text)
    parts = [n for n in sizes if n.startswith("part")]
    body = [n for n in sizes if n.startswith("body")][0]
    calls = _part_calls(text, body)
    assert len(calls) >= 3 and set(calls) == set(parts), (calls, sorted(sizes))
    longest_block = 2 * 30  # one item alone may exceed the bound; a part holds no two
    assert all(sizes[n] <= longest_block for n in parts), sizes
    assert sizes[body] < 2 * 30, sizes  # the body only calls its parts


def _source(text, fn):
    """The source of generated function `fn` (to the next decorator or global)."""
    return re.search(rf"^def {fn}\(.*?(?=^\S|\Z)", text[text.index(f"def {fn}("):],
                     flags=re.M | re.S).group(0)


def _part_calls(text, fn):
    """The part functions called by generated function `fn`, in call order."""
    return re.findall(r"= (part\d+)\(", _source(text, fn))


def test_repeated_blocks_of_a_large_body_compile_once(monkeypatch):
    """A body that repeats one block (layers written in a Python loop) is split into
    parts that differ only in their variables' names: the module holds each such
    part once and calls it once per occurrence, so numba compiles it once (a
    2,100-node body: 117 s of CPU -> 20 s). Values equal py's."""
    monkeypatch.setattr(codegen, "PART_LINES", 30)
    monkeypatch.setattr(linker, "_TEXTS", {})  # texts made with the usual setting
    X, W, a = T.matrix("X"), T.matrix("W"), T.vector("a")

    def step(x, h):
        for _ in range(12):
            h = T.tanh(T.dot(h, W) * 0.9 - a) + x
        return h

    hs, _ = theano.scan(step, sequences=X, outputs_info=T.zeros(3))
    args = [R.normal(size=(6, 3)) * 0.3, R.normal(size=(3, 3)) * 0.5, R.normal(size=3)]
    f = compare([X, W, a], hs, args)
    text, _ = body_of(f)
    body = [n for n in _functions(text) if n.startswith("body")][0]
    calls = _part_calls(text, body)
    assert len(calls) >= 6, calls
    assert len(set(calls)) <= 3, calls  # the first, the repeated one, a shorter last
    assert len(re.findall(r"^def part", text, flags=re.M)) == len(set(calls))


def test_parts_that_differ_in_a_constant_stay_apart(monkeypatch):
    """Parts whose text differs in anything but local names (here each block's scalar
    constant) are separate functions: merging them would compute a wrong value."""
    monkeypatch.setattr(codegen, "PART_LINES", 8)
    monkeypatch.setattr(linker, "_TEXTS", {})  # texts made with the usual setting
    X, W = T.matrix("X"), T.matrix("W")

    def step(x, h):
        for k in range(6):
            h = T.tanh(T.dot(h, W) + (k + 1.5)) * (0.5 + k) + x
        return h

    hs, _ = theano.scan(step, sequences=X, outputs_info=T.zeros(3))
    args = [R.normal(size=(4, 3)) * 0.3, R.normal(size=(3, 3)) * 0.5]
    f = compare([X, W], hs, args)
    text, _ = body_of(f)
    body = [n for n in _functions(text) if n.startswith("body")][0]
    calls = _part_calls(text, body)
    # each block's constants are module arrays (K<n>): the parts reading them differ
    with_constants = [c for c in calls if re.search(r"K\d+\[", _source(text, c))]
    assert len(with_constants) == 6 and len(set(with_constants)) == 6, calls
    assert len(set(calls)) < len(calls)  # the products alone are one part, shared


def test_canonical_renames_local_names_only():
    """codegen.canonical: equal for functions that differ in local names alone;
    different when a global, a called helper, a constant or a string differs."""
    f = "def p1(a1, a2):\n    v3 = a1 * K4 + np.float64(2.0)\n    return (v3, a2,)\n"
    same = f.replace("a1", "a7").replace("v3", "v9").replace("p1", "p5")
    assert codegen.canonical(f, "p1") == codegen.canonical(same, "p5")
    for other in (f.replace("K4", "K5"), f.replace("2.0", "3.0"),
                  f.replace("np.float64", "np.float32"),
                  f.replace("(v3, a2,)", "(a2, v3,)")):
        assert codegen.canonical(other, "p1") != codegen.canonical(f, "p1"), other
    s = "def p1(a1):\n    raise ValueError('a1 is bad')\n"
    assert codegen.canonical(s, "p1") != codegen.canonical(s.replace("'a1", "'a2"), "p1")


@pytest.mark.slow
def test_a_2100_node_body_compiles_under_sync():
    """Issue 13 item 8 at its size: a loop whose step applies 300 blocks (2,100 graph
    nodes as written, benchmarks/speed_compare.py's large body) compiles under the
    'sync' policy (it was killed at 15.5 GB, then took 83-117 s of CPU), and the
    compiled loop gives py's values."""
    H = 16
    W = theano.shared(R.normal(size=(H, H)) * 0.3, name="W")
    X, h0, a, c = T.dmatrix("X"), T.dvector("h0"), T.dvector("a"), T.dvector("c")

    def step(x, h, a, c):
        for k in range(300):
            h = T.nnet.sigmoid(T.tanh(T.dot(h, W) + a * c * (k + 1)) * 1.01 - a) + x
        return h

    hs, _ = theano.scan(step, sequences=X, outputs_info=h0, non_sequences=[a, c])
    args = (R.normal(size=(20, H)) * 0.1, np.zeros(H), R.normal(size=H) * 0.1,
            R.normal(size=H) * 0.1)
    ref = theano.function([X, h0, a, c], hs, mode=backend_mode("py"))(*args)
    with linker.policy("sync"):
        f = theano.function([X, h0, a, c], hs, mode=backend_mode("numba"))
    assert f.fn.ready()  # compiled at build time, not left to NumPy
    assert_same(ref, f(*args))
