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
R = np.random.default_rng(3)


def body_of(f):
    """The generated text of the function's Scan kernel, and its body function."""
    from theanine.backends.numba import linker

    (node,) = [n for n in f.maker.fgraph.toposort() if type(n.op).__name__ == "Scan"]
    text = linker.kernel_text(node)
    body = text[text.index("def body"):text.index("@numba", text.index("def body"))]
    return text, body


def loop_nests(src):
    """Number of outermost `for` loops over array dims (j names) in a function."""
    return len(re.findall(r"^    for j\d+ in range", src, flags=re.M))


def compare(inputs, outputs, args):
    from theanine.backends.numba import linker

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
    from theanine.backends.numba import linker

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
    from theanine.backends.numba import loops

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
