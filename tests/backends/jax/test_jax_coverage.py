"""Every scalar op has a jax.numpy function (the op classes' coverage, with the list of
those that run through a callback by design, is tests/backends/test_registry.py's
test_every_builtin_op_has_an_implementation, one column per backend)."""

import importlib
import pkgutil

import pytest

pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine  # noqa: E402
from theanine.backends.jax.elemwise import SCALAR  # noqa: E402
from theanine.tensor.elemwise import ScalarOp  # noqa: E402
from theanine.tensor.scalar_ops import Cast  # noqa: E402

SCALAR_BASES = {"_Float", "_RealFloat", "_Bool", "_Bitwise", "_Round"}


def _all_subclasses(base):
    for m in pkgutil.walk_packages(theanine.__path__, "theanine."):
        if ".backends." not in m.name and not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    seen, stack = set(), [base]
    while stack:
        for s in stack.pop().__subclasses__():
            if s not in seen and s.__module__.startswith("theanine"):
                seen.add(s)
                stack.append(s)
    return seen


def test_every_scalar_op_has_a_jax_function():
    classes = _all_subclasses(ScalarOp)
    assert len(classes) > 50  # the walk found the scalar ops
    missing = sorted(c.__name__ for c in classes
                     if c.__name__ not in SCALAR_BASES and c is not Cast and c not in SCALAR)
    print("scalar ops without a jnp function:", missing)
    assert missing == []
