"""The jax suite's SLOW list (known_failures.py) names tests that exist, and marks the
jax runs of its tests slow while their other runs stay in the default run."""

import pathlib
import re
import subprocess
import sys

import pytest

from tests.backends.jax import known_failures

pytestmark = pytest.mark.jax

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("key", sorted(known_failures.SLOW))
def test_slow_entries_name_test_functions(key):
    path, name = key.split("::")
    source = (ROOT / path).read_text()
    assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"{key}: no such test"


def _collected(marks, path):
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                        "no:cacheprovider", "-m", marks, path], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    ids = [line for line in r.stdout.splitlines() if "::" in line]
    assert ids, r.stdout + r.stderr
    return ids


def test_not_slow_leaves_out_only_the_listed_jax_runs():
    path = "tests/tensor/test_math.py"
    jax_runs = _collected("jax and not slow", path)
    assert not any("test_binary_dtype_table" in i for i in jax_runs)
    assert all("jax" in i.split("[", 1)[1] for i in jax_runs)
    py_runs = _collected("not jax and not slow", path)
    assert any("test_binary_dtype_table[py-" in i for i in py_runs)
