"""kernels/vector_width.py: the recurrence kernels ask LLVM for 512-bit vectors (the
forward window for 256)."""

import os
import subprocess
import sys

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest

from theanine.backends.numba import recurrence_kernels
from theanine.backends.numba.kernels.vector_width import (
    SETTING,
    WIDTH,
    WIDTH_256,
    vectors_256,
    wide_vectors,
)

ATTR = f'"prefer-vector-width"="{WIDTH}"'
ATTR_256 = f'"prefer-vector-width"="{WIDTH_256}"'
AVX512 = "+avx512f" in llvm.get_host_cpu_features().flatten()


def _scaled(wide):
    @numba.njit(error_model="numpy", fastmath={"contract"})
    def f(x, out):
        if wide:
            wide_vectors()
        for i in range(x.shape[0]):
            out[i] = 1.0 / (1.0 + np.exp(-x[i]))
    return f


@pytest.mark.skipif(WIDTH == 0, reason="THEANINE_NUMBA_VECTOR_WIDTH=0: no attribute")
def test_the_call_sets_the_attribute_on_the_calling_function_only():
    x = np.linspace(-30, 30, 1001)
    outs = []
    for wide in (True, False):
        f, out = _scaled(wide), np.empty_like(x)
        f(x, out)
        outs.append(out)
        ir = f.inspect_llvm(f.signatures[0])
        assert (ATTR in ir) == wide
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], 1 / (1 + np.exp(-x)), rtol=1e-15)


@pytest.mark.skipif(not AVX512 or WIDTH != 512, reason="no AVX-512 on this CPU")
def test_on_avx512_the_loop_runs_on_512_bit_registers():
    f = _scaled(True)
    f(np.ones(64), np.empty(64))
    assert "zmm" in f.inspect_asm(f.signatures[0])


@pytest.mark.skipif(SETTING is not None, reason="THEANINE_NUMBA_VECTOR_WIDTH is set")
def test_the_default_widths():
    assert (WIDTH, WIDTH_256) == (512, 256)


@pytest.mark.skipif(WIDTH == 0, reason="THEANINE_NUMBA_VECTOR_WIDTH=0: no attribute")
def test_vectors_256_sets_its_width():
    @numba.njit
    def f(x):
        vectors_256()
        return x.sum()

    assert f(np.ones(9)) == 9
    assert ATTR_256 in f.inspect_llvm(f.signatures[0])


def test_every_recurrence_kernel_asks_for_it():
    """Every kernel asks for WIDTH, but the forward window for WIDTH_256 (its vector
    loop reads back the vector it stored one iteration before; kernels/vector_width)."""
    a, b = np.full(1, 0.5), np.linspace(0, 1, 5)
    k = recurrence_kernels
    calls = [(k.window, (5, 0.0, 0.5, b, np.empty(5)), ATTR_256),
             (k.window_rev, (5, 0.0, 0.5, b, np.empty(5)), ATTR),
             (k.run1_affine, (5, 0.0, a, b, True), ATTR),
             (k.run1r_add, (5, 0.0, a, b, True), ATTR)]
    for kernel, args, attr in calls:
        kernel(*args)
        ir = kernel.inspect_llvm(kernel.signatures[0])
        assert (attr in ir) == (WIDTH_256 != 0), kernel
        if attr != ATTR and WIDTH_256 != WIDTH:
            assert ATTR not in ir, kernel
    for mode in ("affine", "add", "mul", "max", "min"):
        for make in (k._scalar_source, k._lanes_source, k._run_source, k._run1_source):
            src = k._wide(make(mode))
            assert src.splitlines()[1] == "    wide_vectors()", (mode, make)


def test_fused_recurrence_loops_ask_for_it():
    import theanine as theano
    import theanine.tensor as T
    from theanine.backends.numba.ops_fused_recurrence import _loop_source
    from theanine.scan.fused_recurrence import FusedRecurrence

    K, V = T.dmatrix("k"), T.dmatrix("v")
    h, _ = theano.scan(lambda kt, vt, h: (1 - T.nnet.sigmoid(kt)) * h + T.nnet.sigmoid(kt) * vt,
                       sequences=[K, V], outputs_info=T.zeros((8,), "float64"))
    f = theano.function([K, V], h, mode="NUMBA")
    nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, FusedRecurrence)]
    assert nodes
    src = _loop_source("frec", nodes[0], "np.float64")
    heads = [i for i, line in enumerate(src.splitlines()) if line.startswith("def ")]
    assert len(heads) == 2  # the loop and its narrow version
    assert all(src.splitlines()[i + 1] == "    wide_vectors()" for i in heads)


@pytest.mark.parametrize("value,ok", [("0", True), ("256", True), ("512", True),
                                      ("300", False), ("wide", False)])
def test_the_environment_setting_is_checked(value, ok):
    env = dict(os.environ, THEANINE_NUMBA_VECTOR_WIDTH=value)
    res = subprocess.run([sys.executable, "-c",
                          "from theanine.backends.numba.kernels import vector_width as v; "
                          "print(v.WIDTH)"], env=env, capture_output=True, text=True)
    if ok:
        assert res.returncode == 0 and res.stdout.strip() == value, res.stderr
    else:
        assert res.returncode != 0
        assert "THEANINE_NUMBA_VECTOR_WIDTH" in res.stderr and repr(value) in res.stderr


def test_zero_leaves_llvms_choice():
    code = ("import numba, numpy as np\n"
            "from theanine.backends.numba.kernels.vector_width import wide_vectors\n"
            "@numba.njit\n"
            "def f(x):\n"
            "    wide_vectors()\n"
            "    return x.sum()\n"
            "f(np.ones(4))\n"
            "print('prefer-vector-width' in f.inspect_llvm(f.signatures[0]))\n")
    env = dict(os.environ, THEANINE_NUMBA_VECTOR_WIDTH="0")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
