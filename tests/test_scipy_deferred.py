"""SciPy's modules load when an op first uses them, not at theanine's import."""

import subprocess
import sys

import numpy as np
import scipy.special

from theanine.tensor import scipy_deferred

_FRESH = """
import sys
import numpy as np
import theanine as theano, theanine.tensor as T
assert "scipy.special" not in sys.modules and "scipy.linalg" not in sys.modules, "imported"
x = T.dvector()
f = theano.function([x], [T.erf(x), T.nnet.sigmoid(x)], mode="FAST_COMPILE")
assert "scipy.linalg" not in sys.modules
e, s = f(np.array([0.5, -1.0]))
assert "scipy.special" in sys.modules
import scipy.special as sps
assert np.array_equal(e, sps.erf([0.5, -1.0])) and np.allclose(s, sps.expit([0.5, -1.0]))
a = T.dmatrix()
c = theano.function([a], T.slinalg.cholesky(a), mode="FAST_COMPILE")(np.eye(2) * 4.0)
assert np.array_equal(c, 2.0 * np.eye(2)) and "scipy.linalg" in sys.modules
print("ok")
"""


def test_import_loads_no_scipy_module_until_an_op_runs():
    res = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stdout + res.stderr


def test_special_function_forwards_arguments_and_keywords():
    erf = scipy_deferred.special_function("erf")
    x = np.array([0.25, 1.5, -2.0])
    out = np.empty(3)
    got = erf(x, out=out)
    assert got is out and np.array_equal(out, scipy.special.erf(x))
    assert erf.__name__ == "erf"
    assert scipy_deferred.linalg.cholesky is __import__("scipy.linalg").linalg.cholesky
