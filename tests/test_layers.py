"""The layers stay visible: behaviour that does not depend on import order."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

_RULE_EXAMPLE = r'''
import doctest, pathlib, sys
text = pathlib.Path(sys.argv[1]).read_text()
start = text.index("## Writing a rule")
end = text.find("\n#", start + 1)
section = text[start:end if end > 0 else len(text)]
assert "rewrite_outputs" in section, "the example moved: update tests/test_layers.py"
globs = {}
exec("import theanine.tensor as T\nx = T.dvector('x')", globs)
test = doctest.DocTestParser().get_doctest(section, globs, "writing_a_rule", sys.argv[1], 0)
assert test.examples, "no doctest examples in the section"
runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
runner.run(test)
sys.exit(1 if runner.failures else 0)
'''


def test_rule_example_rewrites_in_a_fresh_interpreter():
    """docs/rewrites.md's "Writing a rule" (a rule for (Elemwise, Tanh)) fires in a new
    process that compiled nothing before: Elemwise's dispatch on its scalar op is
    registered with Elemwise, not when the rewrites happen to be imported."""
    res = subprocess.run([sys.executable, "-c", _RULE_EXAMPLE, str(ROOT / "docs" / "rewrites.md")],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


# -- the layer order, checked on the source ---------------------------------------------
# DESIGN.md: imports point down only, in this order (a layer may import its own
# modules and any layer to its left). Keys are module prefixes under theanine.
LAYERS = [
    ["config", "cache"],
    ["graph"],
    ["tensor"],
    ["backends.py"],                            # the reference evaluator
    ["gradient", "gradient_check", "rop"],
    ["scan", "scan_module", "ifelse", "builders"],   # ops with inner graphs (OpFromGraph)
    ["sandbox"],
    ["rewrites"],
    ["backends.numba", "backends.jax"],
    ["compile", "backends",                     # backends/__init__.py: link(name), by name
     "distributed"],                            # the face of backends/jax/distributed.py
    ["printing"],
    ["__init__", "__main__"],                   # the package's face: imports everything
]

# Imports that run inside a function, with the reason each must. Key: (module, the
# function's qualified name); every theanine import in that function is allowed.
_PICKLING = "graphs pickle flat through graph/serialize.py, which builds on this module"
_FUSED_GRAD = ("the gradient of a fused op is the gradient of the graph it replaced "
               "(theanine.gradient.grad, a layer above)")
DEFERRED = {
    ("theanine.graph.basic", "Variable.eval"):
        "Theano's Variable.eval compiles a function (theanine.compile, the layer above)",
    ("theanine.graph.basic", "Variable.__reduce_ex__"): _PICKLING,
    ("theanine.graph.basic", "Apply.__reduce_ex__"): _PICKLING,
    ("theanine.graph.basic", "Apply.__setstate__"): _PICKLING,
    ("theanine.tensor", "__getattr__"):
        "Theano's T.grad, T.Rop, T.jacobian, ...: stated in theanine.gradient (above)",
    ("theanine.tensor.blas", "Gemm.grad"): _FUSED_GRAD,
    ("theanine.tensor.composite", "Composite.grad"): _FUSED_GRAD,
    ("theanine.gradient", "__getattr__"):
        "Theano's theano.gradient.jacobian / hessian are built on scan (the layer above)",
    ("theanine.gradient_check", "verify_grad"):
        "Theano's verify_grad compiles the function it checks (theanine.compile, above)",
    ("theanine.backends", "load"):
        "a backend's folder is imported when first used: numba and jax are optional and "
        "cost ~0.3 s and ~1 s to import",
    ("theanine.backends", "available"): "as load",
    ("theanine.graph.dispatch", "Registry.load"):
        "a backend's Registry imports the modules holding its registrations (named by "
        "that backend, in its own folder) at its first lookup, so no lookup depends on "
        "what was imported before",
    ("theanine.__main__", "TheanoAliasFinder.find_spec"):
        "the `python -m theanine` shim imports theanine.* when a script imports theano.*",
    ("theanine.__main__", "install_theano_alias"): "as TheanoAliasFinder.find_spec",
    ("theanine.tensor.scipy_deferred", "DeferredModule.__getattr__"):
        "scipy.special and scipy.linalg cost ~0.25 s of every process start (most of "
        "theanine's import): imported when an op first calls them",
}



def _layer(module):
    """The index in LAYERS of a module 'theanine.x.y', or None outside theanine."""
    if module == "theanine":
        return len(LAYERS) - 1
    if not module.startswith("theanine."):
        return None
    name = module[len("theanine."):]
    best = None
    for k, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (k, len(p))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _targets(module, is_package, node):
    """The theanine modules (or module.attribute names) an import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module
    return [f"{mod}.{a.name}" for a in node.names]


def _dynamic_target(node):
    """'theanine.x' for importlib.import_module('theanine.x') / __import__, else None."""
    f = node.func
    if isinstance(f, ast.Attribute):  # importlib.import_module, not self.import_module
        name = f.attr if getattr(f.value, "id", None) == "importlib" else None
    else:
        name = getattr(f, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return "<computed>"


def imports():
    """(module, target, line, function) for every import of a theanine module in
    theanine/, importlib.import_module calls included; `function` is the qualified
    name of the function the import runs in, or None for a module-level import."""
    out = []
    for path in sorted((ROOT / "theanine").rglob("*.py")):
        module = _module_name(path)
        is_package = path.name == "__init__.py"

        def visit(node, qualname, in_function, module=module, is_package=is_package):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    for t in _targets(module, is_package, child):
                        if t == "theanine" or t.startswith("theanine."):
                            out.append((module, t, child.lineno,
                                        qualname if in_function else None))
                elif isinstance(child, ast.Call):
                    t = _dynamic_target(child)
                    if t is not None and (t == "<computed>" or t.startswith("theanine")):
                        out.append((module, t, child.lineno,
                                    qualname if in_function else None))
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{qualname}.{child.name}" if qualname else child.name
                    visit(child, name, in_function or not isinstance(child, ast.ClassDef))
                else:
                    visit(child, qualname, in_function)

        visit(ast.parse(path.read_text(), str(path)), "", False)
    return out


def test_imports_point_down():
    """No module imports a module of a higher layer (DESIGN.md's layer order), except
    the function-level imports listed in DEFERRED."""
    up = [f"{m}:{line} ({fn or 'module level'}) imports {t}"
          for m, t, line, fn in imports()
          if t != "<computed>" and _layer(t) > _layer(m) and (m, fn) not in DEFERRED]
    assert not up, "upward imports:\n" + "\n".join(up)


def test_imports_at_module_top():
    """Imports sit at the top of each module, so its header says what it depends on;
    the few that must run later are in DEFERRED, with the reason."""
    late = [f"{m}:{line} in {fn} imports {t}" for m, t, line, fn in imports()
            if fn is not None and (m, fn) not in DEFERRED]
    assert not late, "function-level imports not in DEFERRED:\n" + "\n".join(late)


def test_deferred_list_is_current():
    """Every DEFERRED entry still names a function with a deferred import."""
    found = {(m, fn) for m, _, _, fn in imports() if fn is not None}
    stale = sorted(set(DEFERRED) - found)
    assert not stale, f"DEFERRED entries with no deferred import: {stale}"
