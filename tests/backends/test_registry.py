"""The one registration mechanism of the backends (theanine.graph.dispatch.Registry),
and the coverage of every built-in Op class by every backend."""

import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import theanine
from tests.backends.conftest import HAVE_JAX, HAVE_NUMBA
from theanine.backends.py.linker import IMPLS
from theanine.graph.basic import Op
from theanine.graph.dispatch import Registry

if HAVE_NUMBA:
    from theanine.backends.numba.registry import emitter_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class A(Op):
    pass


class B(A):
    pass


class C(B):
    pass


def test_register_lookup_follows_the_mro_and_keeps_info():
    reg = Registry("test")

    @reg.register(A, outer=True)
    def impl_a():
        pass

    @reg.register(C)
    def impl_c():
        pass

    assert reg.lookup(A()) is impl_a
    assert reg.lookup(B) is impl_a  # a class or an instance; nearest registered base
    assert reg.lookup(C()) is impl_c
    assert reg.lookup(Op) is None
    assert reg.info(B(), "outer") is True
    assert reg.info(C, "outer", "default") == "default"
    assert reg.info(Op, "outer", 7) == 7
    assert reg.classes() == {A: impl_a, C: impl_c}


def test_one_function_for_several_classes():
    reg = Registry("test")

    @reg.register(A, C, outer=False)
    def impl():
        pass

    assert reg.lookup(A) is impl and reg.lookup(C) is impl
    assert reg.info(C, "outer") is False


def test_registering_a_class_twice_raises_unless_replaced():
    reg = Registry("test")
    reg.register(A)(lambda: 1)
    with pytest.raises(ValueError, match="A already has an implementation"):
        reg.register(A)(lambda: 2)

    def second():
        pass

    reg.register(A, replace=True)(second)
    assert reg.lookup(A) is second
    assert reg.lookup(B) is second  # the memo of subclasses is refreshed too


def test_register_refuses_a_non_class():
    reg = Registry("test")
    with pytest.raises(TypeError, match="expects Op classes"):
        reg.register(A())
    with pytest.raises(TypeError, match="at least one Op class"):
        reg.register()


def test_the_first_lookup_imports_the_registration_modules(tmp_path, monkeypatch):
    (tmp_path / "registry_for_test.py").write_text(textwrap.dedent("""
        from theanine.graph.basic import Op
        from theanine.graph.dispatch import Registry

        class Base(Op):
            pass

        class Derived(Base):
            pass

        REG = Registry("test", modules=["impls_for_registry_test"])
    """))
    (tmp_path / "impls_for_registry_test.py").write_text(textwrap.dedent("""
        from registry_for_test import REG, Base

        @REG.register(Base)
        def impl(op):
            return "from the module"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("registry_for_test", "impls_for_registry_test")
    try:
        holder = importlib.import_module("registry_for_test")
        assert "impls_for_registry_test" not in sys.modules
        assert holder.REG.lookup(holder.Derived())(None) == "from the module"
        assert "impls_for_registry_test" in sys.modules
    finally:
        for n in names:
            sys.modules.pop(n, None)


def _fresh(code):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_py_lookups_in_a_fresh_interpreter():
    out = _fresh("""
        import sys
        from theanine.backends.py.linker import IMPLS
        from theanine.tensor.elemwise import Elemwise
        assert "theanine.backends.py.elemwise" not in sys.modules
        print(IMPLS.lookup(Elemwise).__module__)
    """)
    assert out.strip() == "theanine.backends.py.elemwise"


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_numba_lookups_in_a_fresh_interpreter():
    out = _fresh("""
        from theanine.backends.numba.registry import emitter_for, worth_compiling
        from theanine.scan.op import Scan
        from theanine.tensor.nlinalg import Det
        print(emitter_for(Det).__module__, emitter_for(Scan).__module__, worth_compiling(Scan))
    """)
    assert out.split() == ["theanine.backends.numba.ops_linalg",
                           "theanine.backends.numba.ops_scan", "True"]


@pytest.mark.jax
@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")
def test_jax_lookups_in_a_fresh_interpreter():
    out = _fresh("""
        import sys
        from theanine.backends.jax.registry import lowering_for
        from theanine.scan.op import Scan
        from theanine.tensor.nlinalg import Det
        assert "theanine.backends.jax.scan" not in sys.modules
        print(lowering_for(Det).__module__, lowering_for(Scan).__module__)
    """)
    assert out.split() == ["theanine.backends.jax.linalg", "theanine.backends.jax.scan"]


# -- every built-in op class has an implementation on every backend ----------------

# Op subclasses that are bases, not ops: no node is ever built of these classes
# themselves (their subclasses are checked); a stale entry fails the test.
ABSTRACT = {
    "_AxisOp": "the shared base of Softmax and LogSoftmax",
    "_PoolOp": "the shared base of Pool and its gradients",
}
# Op classes from every layer that the walk must find (a walk that silently missed a
# package would pass): the ops compat, layers and robust brought to main included.
MUST_FIND = {"Elemwise", "CAReduce", "Dot", "Gemm", "Composite", "Scan", "CheckSteps",
             "IfElse", "LazyIfElse", "OpFromGraph", "SpecifyShape", "Assert", "Print",
             "FromFunctionOp", "ViewOp", "DisconnectedGrad", "MRGUniform", "RandomOp"}


def _subclasses(cls):
    out, stack = [], [cls]
    while stack:
        for s in stack.pop().__subclasses__():
            out.append(s)
            stack.append(s)
    return out


def _all_op_classes():
    """Every Op class defined in theanine outside the backends that nodes are built of:
    a make_node or compute of its own or inherited (not Op's), ABSTRACT bases left out.
    Every module is imported first (pkgutil walk), so no class is missed for not being
    imported yet."""
    for m in pkgutil.walk_packages(theanine.__path__, "theanine."):
        if ".backends." in m.name or m.name.endswith("__main__"):
            continue
        importlib.import_module(m.name)  # every module imports: no optional dependency
    return {c for c in _subclasses(Op) if c.__module__.startswith("theanine.")
            and not c.__module__.startswith("theanine.backends")
            and (c.make_node is not Op.make_node or c.compute is not Op.compute)
            and c.__name__ not in ABSTRACT}


def _py_implements(cls):
    return (IMPLS.lookup(cls) is not None or cls.compute is not Op.compute
            or cls.perform is not Op.perform)


def _numba_implements(cls):
    return emitter_for(cls) is not None


def _jax_implements(cls):
    from theanine.backends.jax.registry import lowering_for

    return lowering_for(cls) is not None


# backend -> whether it implements an op class
IMPLEMENTS = {"py": _py_implements}
if HAVE_NUMBA:
    IMPLEMENTS["numba"] = _numba_implements
if HAVE_JAX:
    IMPLEMENTS["jax"] = _jax_implements

# backend -> {op class name: why it has no implementation there}. numba: every other op
# has an emitter, including the ones that call back into Python by design (Print,
# FromFunctionOp: a numba.objmode block, so the loop around them stays compiled).
EXCEPTIONS = {
    "py": {},
    "numba": {
        # RandomStreams' draws use NumPy's Generator / RandomState objects, which
        # compiled code can neither copy nor (RandomState) receive: they run in the
        # Python glue by design, and a Scan carrying a generator runs its NumPy loop.
        "RandomOp": "NumPy generator objects are not numba values",
        # the Python list of per-step generator states that the gradient of a random
        # loop reads, and that list reversed (a gradient of that gradient)
        "ListStepInputs": "a Python list of generators",
        "ReversedRows": "a Python list of per-step generators, reversed",
        # a memory-budgeted gradient's reverse pass: the revolve schedule, decided at run
        # time, runs in the Python glue and calls its advance and leaf loops, which the
        # numba linker compiles (RevolveGrad.runner)
        "RevolveGrad": "runs the revolve schedule from Python, calling compiled loops",
    },
    "jax": {
        # a user's NumPy function (as_op): Python code, which XLA cannot compile; it runs
        # through jax's io_callback, exactly once per node evaluation (docs/jax.md)
        "FromFunctionOp": "runs the user's Python function through io_callback",
    },
}


def test_the_walk_finds_the_ops_of_every_layer():
    classes = _all_op_classes()
    names = {c.__name__ for c in classes}
    assert len(classes) > 70
    assert MUST_FIND <= names, sorted(MUST_FIND - names)
    for name in ABSTRACT:  # still a base with subclasses, never itself a node's op
        assert name not in names
        bases = [c for c in _subclasses(Op) if c.__name__ == name]
        assert bases and all(b.__subclasses__() for b in bases), f"stale ABSTRACT: {name}"


@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.jax) if b == "jax" else b
                                     for b in sorted(IMPLEMENTS)])
def test_every_builtin_op_has_an_implementation(backend):
    implements, exceptions = IMPLEMENTS[backend], EXCEPTIONS.get(backend, {})
    classes = _all_op_classes()
    missing = sorted(c.__name__ for c in classes
                     if not implements(c) and c.__name__ not in exceptions)
    assert not missing, f"built-in ops without a {backend} implementation: {missing}"
    stale = sorted(name for name in exceptions if any(
        c.__name__ == name and implements(c) for c in classes))
    assert not stale, f"implemented on {backend} now, remove from EXCEPTIONS: {stale}"
    unknown = sorted(set(exceptions) - {c.__name__ for c in classes})
    assert not unknown, f"EXCEPTIONS[{backend!r}] names no op class: {unknown}"
