"""Documentation: every docs/*.md runs as a doctest (each in its own namespace), and
the README's documentation section is the current assembly of those files."""

import doctest
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = [ROOT / "theanine" / "scan" / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_markdown_doctests(path):
    from theanine import config

    with config.change_flags(floatX="float64"):
        result = doctest.testfile(str(path), module_relative=False,
                                  optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {path.name}"


def test_readme_is_assembled_from_docs():
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "build_readme.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_readme_quick_start_runs():
    import numpy as np

    import theanine as theano
    import theanine.tensor as T

    x = T.matrix("x")
    w = theano.shared(np.zeros((3, 2), dtype=theano.config.floatX), name="w")
    cost = T.sum(T.tanh(T.dot(x, w)) ** 2)
    train = theano.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])
    assert float(train(np.ones((4, 3)))) == 0.0
    w.set_value(np.full((3, 2), 0.1))
    xv = np.arange(12.0).reshape(4, 3) / 10
    expected = np.sum(np.tanh(xv @ np.full((3, 2), 0.1)) ** 2)
    np.testing.assert_allclose(train(xv), expected)
    assert not np.allclose(w.get_value(), 0.1)  # the update was applied
    readme = (ROOT / "README.md").read_text()
    assert "train = theano.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])" \
        in readme
