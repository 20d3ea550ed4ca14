"""Every op class of theanine lowers to JAX, except the ones listed here with the
reason (they run their Python implementation through a callback by design)."""

import importlib
import inspect
import pkgutil

import pytest

pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine  # noqa: E402
from theanine.graph.basic import Op, PureOp  # noqa: E402
from theanine.tensor.elemwise import ScalarOp  # noqa: E402

# Bases that are never applied themselves (their subclasses are).
BASES = {"Op", "PureOp", "_DiagBase", "_ConvOp", "_ConvGradOp", "_PoolOp", "_AxisOp",
         "_FromUniform", "InnerGraphOp"}
SCALAR_BASES = {"_Float", "_RealFloat", "_Bool", "_Bitwise", "_Round"}

# Ops that run through jax io_callback on purpose.
CALLBACK = {
    # a user's NumPy function (as_op): Python code, which XLA cannot compile
    "FromFunctionOp": "runs the user's Python function through io_callback",
}


def _all_subclasses(base):
    for m in pkgutil.walk_packages(theanine.__path__, "theanine."):
        if ".backends." not in m.name:
            importlib.import_module(m.name)
    seen, stack = set(), [base]
    while stack:
        for s in stack.pop().__subclasses__():
            if s not in seen and s.__module__.startswith("theanine"):
                seen.add(s)
                stack.append(s)
    return seen


def test_every_op_class_lowers():
    from theanine.backends.jax import linker  # noqa: F401 (registers every lowering)
    from theanine.backends.jax.registry import lowerings

    table = lowerings.registered_classes()
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in _all_subclasses(Op)
                     if c.__name__ not in BASES | set(CALLBACK) and c is not PureOp
                     and not inspect.isabstract(c)
                     and not any(k in table for k in c.__mro__))
    print("op classes without a JAX lowering:", missing)
    assert missing == []


def test_every_scalar_op_has_a_jax_function():
    from theanine.backends.jax.elemwise import SCALAR
    from theanine.tensor.scalar_ops import Cast

    missing = sorted(c.__name__ for c in _all_subclasses(ScalarOp)
                     if c.__name__ not in SCALAR_BASES and c is not Cast
                     and c not in SCALAR)
    print("scalar ops without a jnp function:", missing)
    assert missing == []


def test_callback_list_is_current():
    names = {c.__name__ for c in _all_subclasses(Op)}
    assert set(CALLBACK) <= names, "an op on the callback list no longer exists"
