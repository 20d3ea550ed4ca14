"""The opt-in `import theano` alias: `python -m theanine run` and the theano_shim folder.

Each test runs a fresh interpreter, so the alias never leaks into the test session."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "theano_shim"

# An unmodified Theano 1.0 script: only `theano` names, the submodules scripts import.
THEANO_SCRIPT = textwrap.dedent("""
    import json
    import sys

    import numpy as np
    import theano
    import theano.tensor as T
    import theano.tensor.nnet
    from theano import gof
    from theano.compile.ops import as_op
    from theano.gradient import grad
    from theano.ifelse import ifelse
    from theano.printing import debugprint
    from theano.sandbox.rng_mrg import MRG_RandomStreams
    from theano.scan_module import scan
    from theano.tensor.shared_randomstreams import RandomStreams
    from theano.tensor.signal import pool

    import theanine

    x = T.dvector("x")
    w = theano.shared(np.ones(3), name="w")
    seq, updates = theano.scan(lambda v, acc: acc + v * w, sequences=[x],
                               outputs_info=[T.zeros_like(w)])
    cost = T.sum(seq[-1] ** 2)
    f = theano.function([x], [cost, T.grad(cost, w)], updates=updates)
    value, g = f(np.array([1.0, 2.0, 3.0]))
    pick = theano.function([x], ifelse(T.gt(x.sum(), 0), x.sum(), -x.sum()))
    srng = RandomStreams(seed=1)
    draw = theano.function([], srng.uniform((2,)))
    probs = theano.function([x], T.nnet.softmax(x))(np.zeros(4))
    print(json.dumps({
        "value": float(value), "grad": g.tolist(), "pick": float(pick(np.array([-1.0, -2.0]))),
        "uniform_shape": list(draw().shape), "softmax": probs.tolist(),
        "same_package": theano is theanine, "same_tensor": T is theanine.tensor,
        "nnet": theano.tensor.nnet is theanine.tensor.nnet,
        "pool": pool is theanine.tensor.signal.pool,
        "op_is_theanine_op": gof.Op is theanine.Op,
        "scan_is_theanine_scan": scan is theanine.scan,
        "grad_is_theanine_grad": grad is theanine.grad,
        "mrg": MRG_RandomStreams.__module__, "argv": sys.argv[1:], "name": __name__,
        "tensor_spec": theanine.tensor.__spec__.name,
    }))
""")


def _env(pythonpath):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env["THEANINE_BACKEND"] = "py"  # start fast: nothing to compile with numba
    return env


def _python(args, pythonpath, cwd):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=_env(pythonpath), cwd=cwd, timeout=120)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "old_theano_script.py"
    path.write_text(THEANO_SCRIPT)
    return path


@pytest.fixture
def fake_theano(tmp_path):
    """A folder holding a package named theano, as a real installed Theano would."""
    site = tmp_path / "site"
    (site / "theano").mkdir(parents=True)
    (site / "theano" / "__init__.py").write_text("raise SystemExit('the real Theano ran')\n")
    return site


def _check_result(stdout, argv):
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res["value"] == pytest.approx(36.0 * 3)       # (1+2+3)^2 * 3 components
    assert res["grad"] == pytest.approx([72.0, 72.0, 72.0])
    assert res["pick"] == 3.0
    assert res["uniform_shape"] == [2]
    assert res["softmax"] == [[0.25] * 4]  # Theano 1.0: a vector's softmax is a 1 x n row
    for key in ("same_package", "same_tensor", "nnet", "pool", "op_is_theanine_op",
                "scan_is_theanine_scan", "grad_is_theanine_grad"):
        assert res[key] is True, key
    assert res["mrg"].startswith("theanine.")
    assert res["argv"] == argv
    assert res["name"] == "__main__"
    assert res["tensor_spec"] == "theanine.tensor"  # the alias leaves modules' own specs


def test_python_m_theanine_run_runs_an_unmodified_theano_script(script, tmp_path):
    proc = _python(["-m", "theanine", "run", str(script), "--flag", "value"], [ROOT], tmp_path)
    assert proc.returncode == 0, proc.stderr
    _check_result(proc.stdout, ["--flag", "value"])


def test_run_dash_m_runs_a_module(script, tmp_path):
    proc = _python(["-m", "theanine", "run", "-m", "old_theano_script", "x"],
                   [ROOT, script.parent], tmp_path)
    assert proc.returncode == 0, proc.stderr
    _check_result(proc.stdout, ["x"])


def test_run_puts_the_scripts_folder_first_on_the_path(tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 41\n")
    main = tmp_path / "main.py"
    main.write_text("import theano\nimport helper_mod\nprint(helper_mod.VALUE + 1)\n")
    proc = _python(["-m", "theanine", "run", str(main)], [ROOT], ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "42"


def test_run_refuses_to_shadow_a_real_theano(script, fake_theano, tmp_path):
    proc = _python(["-m", "theanine", "run", str(script)], [ROOT, fake_theano], tmp_path)
    assert proc.returncode == 2
    assert "a real Theano is installed" in proc.stderr
    assert str(fake_theano / "theano") in proc.stderr
    assert "the real Theano ran" not in proc.stderr + proc.stdout
    assert proc.stdout == ""  # the script did not run


def test_unknown_alias_submodule_is_a_plain_import_error(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import theano.no_such_module\n")
    proc = _python(["-m", "theanine", "run", str(bad)], [ROOT], tmp_path)
    assert proc.returncode == 1
    assert "ModuleNotFoundError: No module named 'theano.no_such_module'" in proc.stderr


def test_usage_and_errors(tmp_path):
    proc = _python(["-m", "theanine"], [ROOT], tmp_path)
    assert proc.returncode == 0 and "python -m theanine run" in proc.stdout
    proc = _python(["-m", "theanine", "compile"], [ROOT], tmp_path)
    assert proc.returncode == 2 and "unknown command 'compile'" in proc.stderr
    proc = _python(["-m", "theanine", "run", str(tmp_path / "missing.py")], [ROOT], tmp_path)
    assert proc.returncode == 2 and "no such script" in proc.stderr


def test_shim_folder_on_pythonpath_runs_plain_python(script, tmp_path):
    proc = _python([str(script), "a"], [SHIM, ROOT], tmp_path)
    assert proc.returncode == 0, proc.stderr
    _check_result(proc.stdout, ["a"])


def test_shim_folder_refuses_to_shadow_a_real_theano(script, fake_theano, tmp_path):
    proc = _python([str(script)], [SHIM, ROOT, fake_theano], tmp_path)
    assert proc.returncode == 1
    assert "ImportError: theanine: a real Theano is installed" in proc.stderr
    assert "the real Theano ran" not in proc.stderr + proc.stdout


def test_nothing_is_installed_silently(tmp_path):
    """Without the opt-in, `import theano` is not theanine."""
    proc = _python(["-c", "import theanine, theano; print(theano.__name__)"], [ROOT], tmp_path)
    if proc.returncode == 0:
        assert proc.stdout.strip() != "theanine"
    else:
        assert "No module named 'theano'" in proc.stderr
