"""Users' Ops as the book's chapter 13 writes them: an op with only c_code is refused
when it is applied, and the object-mode warning of the numba backend points at the
user's line."""

import warnings

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.backends.numba import linker


class Double(theano.Op):
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def c_code(self, node, name, inputs, outputs, sub):
        return f"{outputs[0]} = 2 * {inputs[0]};"


class Triple(theano.Op):
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 3


def test_op_with_only_c_code_is_refused_when_applied():
    msg = "Double defines c_code but no perform\\(\\); theanine has no C backend: write perform"
    with pytest.raises(NotImplementedError, match=msg):
        Double()(T.dvector())
    node = Double().make_node(T.dvector())  # built by hand: refused when compiled
    with pytest.raises(NotImplementedError, match=msg):
        theano.function(node.inputs, node.outputs[0], mode=theano.Mode(linker="py"))


def test_object_mode_warning_points_at_the_users_call(numba_strict):
    linker._warned.discard("Triple")
    x = T.dvector("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = theano.function([x], Triple()(x), mode=theano.Mode(linker="numba"))
    ours = [w for w in caught if "Triple runs in object mode" in str(w.message)]
    assert ours and ours[0].filename == __file__
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [3.0, 6.0])
