"""theano.compile.ops: as_op, turning a NumPy function into an Op (it lives in
theanine/tensor/python_ops.py)."""

from theanine.tensor.python_ops import FromFunctionOp, as_op  # noqa: F401
