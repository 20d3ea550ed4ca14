"""``python -m theanine run script.py [args]``: run an unmodified Theano script on theanine.

The script's ``import theano`` (and ``import theano.tensor as T``,
``from theano.tensor.shared_randomstreams import RandomStreams``, ...) then gives
theanine's modules: ``theano`` *is* ``theanine``, ``theano.tensor`` *is*
``theanine.tensor``, and so on for every submodule, imported on first use.
``python -m theanine run -m package.module [args]`` runs a module instead.

The alias lives only in the process that runs the script; nothing is installed.
It refuses to start when a real Theano is importable (found with
``importlib.util.find_spec``), so that it never shadows one silently.
The folder ``theano_shim/`` of the source tree offers the same alias for plain
``python script.py``, when put on PYTHONPATH explicitly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys

ALIAS, TARGET = "theano", "theanine"
# Theano 1.0 module paths whose theanine counterpart has another name.
RENAMED = {
    "theano.gof": "theanine.graph",
    "theano.gof.fg": "theanine.graph.fgraph",
    "theano.gof.graph": "theanine.graph.traversal",
    "theano.gof.op": "theanine.graph.basic",
    "theano.gof.null_type": "theanine.gradient",
    "theano.tensor.var": "theanine.tensor.variable",
    "theano.compile.sharedvalue": "theanine.compile.shared",
    "theano.scan_module.scan_op": "theanine.scan.op",
    "theano.scan_module.scan_utils": "theanine.scan.utils",
}
# A file containing this marker is theanine's own shim, not a real Theano.
SHIM_MARKER = "__theanine_alias__"

USAGE = """usage: python -m theanine run SCRIPT.py [ARGS...]
       python -m theanine run -m MODULE [ARGS...]

Runs a Theano script unmodified on theanine: inside it, `import theano` gives
theanine (and `theano.tensor` gives `theanine.tensor`, ...). Refuses to run when a
real Theano is installed, rather than shadow it."""


class RealTheanoInstalled(ImportError):
    pass


def _target_name(fullname):
    """The theanine module behind a theano.* name (None for other names)."""
    if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
        return None
    for old in sorted(RENAMED, key=len, reverse=True):  # the longest match wins
        if fullname == old or fullname.startswith(old + "."):
            return RENAMED[old] + fullname[len(old):]
    return TARGET + fullname[len(ALIAS):]


class _AliasLoader(importlib.abc.Loader):
    """Hands out the already imported theanine module itself, not a copy."""

    def __init__(self, module):
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        # the import system stamped the alias's spec on the module; give it its own back
        module.__spec__ = self.spec


class TheanoAliasFinder(importlib.abc.MetaPathFinder):
    """Resolves `theano` and `theano.X.Y` to `theanine` and `theanine.X.Y`."""

    _theanine_alias = True

    def find_spec(self, fullname, path=None, target=None):
        real = _target_name(fullname)
        if real is None:
            return None
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name is not None and real.startswith(e.name):
                return None  # no such module: the usual "No module named 'theano.x'"
            raise
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(module, "__path__"))


def is_shim(spec):
    """Whether a found `theano` is theanine's own shim folder."""
    origin = getattr(spec, "origin", None)
    if not origin or not os.path.isfile(origin):
        return False
    with open(origin, encoding="utf-8", errors="replace") as f:
        return SHIM_MARKER in f.read()


def _is_shim_module(module):
    return getattr(module, SHIM_MARKER, False) is True


def real_theano_location():
    """Where a real (non-alias) Theano would be imported from, or None.

    Looks with importlib.util.find_spec (every finder, editable installs included)
    and, past theanine's own shim folder, along sys.path."""
    if any(getattr(f, "_theanine_alias", False) for f in sys.meta_path):
        return None
    existing = sys.modules.get(ALIAS)
    if existing is not None and not _is_shim_module(existing):
        if getattr(existing, "__name__", None) == TARGET:
            return None
        return getattr(existing, "__file__", None) or repr(existing)
    specs = []
    if existing is None:
        try:
            specs.append(importlib.util.find_spec(ALIAS))
        except (ImportError, ValueError):
            pass
    if existing is not None or (specs and specs[0] is not None and is_shim(specs[0])):
        from importlib.machinery import PathFinder

        for entry in sys.path:
            specs.append(PathFinder.find_spec(ALIAS, [entry or os.getcwd()]))
    for spec in specs:
        if spec is not None and not is_shim(spec):
            return spec.origin or ", ".join(spec.submodule_search_locations or []) or ALIAS
    return None


def refusal_message(location):
    return (f"theanine: a real Theano is installed ({location}), so `import theano` will not "
            "be redirected to theanine: theanine never shadows an installed Theano.\n"
            "Either run in an environment without Theano (pip uninstall theano), or change "
            "the script's imports to `import theanine as theano` and "
            "`import theanine.tensor as T`.")


def install_theano_alias():
    """Make `import theano...` give theanine's modules in this process; returns theanine.

    Raises RealTheanoInstalled when a real Theano is importable."""
    location = real_theano_location()
    if location is not None:
        raise RealTheanoInstalled(refusal_message(location))
    theanine = importlib.import_module(TARGET)
    if not any(getattr(f, "_theanine_alias", False) for f in sys.meta_path):
        sys.meta_path.insert(0, TheanoAliasFinder())
    # modules imported already are aliased now, so `theano.tensor is theanine.tensor`;
    # the shim folder's `theano` module, while it imports, is replaced by theanine itself
    if sys.modules.get(ALIAS) is None or _is_shim_module(sys.modules[ALIAS]):
        sys.modules[ALIAS] = theanine
    for name, module in list(sys.modules.items()):
        if name.startswith(TARGET + "."):
            sys.modules.setdefault(ALIAS + name[len(TARGET):], module)
    # Theano's other module names, as attributes too (`from theano import gof`)
    for old, new in RENAMED.items():
        module = importlib.import_module(new)
        sys.modules.setdefault(old, module)
        parent, _, child = old.rpartition(".")
        parent_module = importlib.import_module(_target_name(parent))
        if not hasattr(parent_module, child):
            setattr(parent_module, child, module)
    return theanine


def run(argv):
    """`run SCRIPT [ARGS]` or `run -m MODULE [ARGS]`; returns the exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    try:
        install_theano_alias()
    except RealTheanoInstalled as e:
        print(e, file=sys.stderr)
        return 2
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = [argv[1]] + argv[2:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"theanine: no such script: {script}", file=sys.stderr)
        return 2
    sys.argv = list(argv)
    # as `python script.py` does: the script's folder comes first on the path, in place
    # of the working directory that `python -m` put there (theanine is imported already)
    folder = os.path.dirname(os.path.abspath(script))
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path[0] = folder
    else:
        sys.path.insert(0, folder)
    runpy.run_path(script, run_name="__main__")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] != "run":
        print(f"theanine: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return run(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
