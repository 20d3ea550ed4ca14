"""benchmarks/gpu_check.sh: refuses to run without a GPU unless told --cpu, and with
--cpu runs the given jax tests and reports the device, the summary and the status."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("jax")
pytestmark = pytest.mark.jax

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"

TINY = """
import numpy as np
import pytest
import theanine as theano
import theanine.tensor as T

pytestmark = pytest.mark.jax


def test_jax_adds():
    x = T.dvector("x")
    f = theano.function([x], x + 1, mode="JAX")
    assert f(np.zeros(2)).tolist() == [{want}, {want}]
"""


def run(*args, env=None):
    e = dict(os.environ, PYTHON=sys.executable, **(env or {}))
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, env=e, timeout=300)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_and_runs_nothing(tmp_path):
    res = run("--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert "no GPU here" in res.stderr and "--cpu" in res.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_option_is_an_error():
    res = run("--gpus", "2")
    assert res.returncode == 2 and "unknown option --gpus" in res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("want, status, summary", [(1.0, 0, "1 passed"), (2.0, 1, "1 failed")])
def test_on_cpu_it_runs_the_tests_and_reports(tmp_path, want, status, summary):
    test_file = tmp_path / "test_tiny.py"
    test_file.write_text(TINY.format(want=want))
    res = run("--cpu", "--no-bench", "--tests", str(test_file), "--out", str(tmp_path / "out"),
              env={"THEANINE_CACHE_DIR": str(tmp_path / "cache")})
    assert res.returncode == status, res.stdout + res.stderr
    report = res.stdout.split("== gpu_check")[1]
    assert "device: no GPU: CPU" in report and "jax" in report
    assert summary in report and f"exit {status}" in report
    assert (tmp_path / "out" / "tests.log").exists()
