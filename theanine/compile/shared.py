"""Theano's theano.compile.sharedvalue names: shared variables live in
theanine/graph/sharedvalue.py (any type) and theanine/tensor/sharedvar.py (tensors,
``shared()``)."""

from theanine.graph.sharedvalue import Container, SharedVariable  # noqa: F401
from theanine.tensor.sharedvar import TensorSharedVariable, shared  # noqa: F401
