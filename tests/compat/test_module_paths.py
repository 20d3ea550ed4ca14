"""Theano 1.0 module paths that scripts import from, under ``python -m theanine run``
(one fresh interpreter: the alias never leaks into the test session)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json
    import theano
    import theano.tensor as T
    from theano.compile.debugmode import DebugMode
    from theano.compile.builders import OpFromGraph
    from theano.compile import MonitorMode
    from theano.gof.fg import MissingInputError as FgMissing
    from theano.gof import MissingInputError as GofMissing
    from theano.scan_module.scan_op import Scan
    from theano.scan_module.scan_utils import clone as scan_clone
    from theano.gof.op import Op
    from theano.gof.null_type import NullType
    from theano.gof.graph import inputs, Apply, Variable
    from theano.tensor.opt import assert_, Assert
    import theano.gof.graph

    import theanine
    from theanine.graph.fgraph import MissingInputError

    x = T.dvector("x")
    y = theano.scan(lambda v: v * 2, sequences=[x])[0]
    print(json.dumps({
        "debugmode": isinstance(theano.compile.mode.get_mode("DebugMode"), DebugMode),
        "ofg": OpFromGraph is theanine.OpFromGraph,
        "monitor": MonitorMode is theanine.compile.mode.MonitorMode,
        "missing": FgMissing is MissingInputError and GofMissing is MissingInputError,
        "scan_op": isinstance(y.owner.op, Scan),
        "scan_clone": scan_clone is theanine.clone,
        "op": Op is theanine.Op,
        "null_type": NullType is theanine.gradient.NullType,
        "inputs": [v.name for v in inputs([x * 2])],
        "gof_graph_inputs": theano.gof.graph.inputs is inputs,
        "apply": Apply is theanine.Apply and Variable is theanine.Variable,
        "assert": isinstance(assert_, Assert),
        "dot": theano.dot is T.dot, "clone": theano.clone is theanine.clone,
        "subgraph_grad": theano.subgraph_grad is theanine.gradient.subgraph_grad,
        "function_dump": callable(theano.function_dump),
        "dtypes": "int32" in T.discrete_dtypes,
    }))
""")


def test_theano_module_paths_resolve(tmp_path):
    path = tmp_path / "paths.py"
    path.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), THEANINE_BACKEND="py")
    r = subprocess.run([sys.executable, "-m", "theanine", "run", str(path)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got.pop("inputs")[0] == "x"  # then the constant 2, as Theano
    assert all(got.values()), {k: v for k, v in got.items() if not v}
