"""Every flag of Theano 1.0's ``theano.config`` is either honoured by theanine or
accepted as a documented no-op (docs/theano_compat.md lists each in its table), so
scripts and THEANO_FLAGS strings written for Theano run unchanged."""

import os
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import config
from theanine.config import NOOP
from theanine.graph.rewrite import RewriteWarning, rule
from theanine.rewrites.canonicalize import canonicalize

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The flags of Theano 1.0's configdefaults.py (and configparser's own).
THEANO_1_0_FLAGS = """
floatX warn_float64 cast_policy int_division deterministic device init_gpu_device
force_device print_active_device enable_initial_driver_test contexts mode linker allow_gc
optimizer optimizer_verbose on_opt_error nocleanup on_unused_input on_shape_error
optimizer_excluding optimizer_including optimizer_requiring compute_test_value
compute_test_value_opt print_test_value pickle_test_value exception_verbosity openmp
openmp_elemwise_minsize check_input cache_optimizations cycle_detection check_stack_trace
unpickle_function reoptimize_unpickled_function profile profile_optimizer profile_memory
print_global_stats vm.lazy cxx gcc.cxxflags compiledir compiledir_format base_compiledir
blas.ldflags blas.check_openmp lib.amdlibm lib.cnmem traceback.limit
traceback.compile_limit tensor.cmp_sloppy tensor.local_elemwise_fusion
gpu.local_elemwise_fusion gpuelemwise.sync conv.assert_shape scan.allow_gc
scan.allow_output_prealloc scan.debug experimental.local_alloc_elemwise_assert
experimental.unpickle_gpu_on_cpu unittests.rseed numpy.seterr_all numpy.seterr_divide
numpy.seterr_over numpy.seterr_under numpy.seterr_invalid cmodule.mac_framework_link
cmodule.warn_no_version cmodule.remove_gxx_opt cmodule.compilation_warning
cmodule.preload_cache cmodule.age_thresh_use cmodule.debug compile.wait compile.timeout
ctc.root cuda.root cuda.enabled pycuda.init cublas.lib nvcc.fastmath nvcc.flags
nvcc.compiler_bindir dnn.enabled dnn.conv.algo_fwd dnn.conv.algo_bwd_data
dnn.conv.algo_bwd_filter dnn.conv.precision dnn.base_path dnn.include_path
dnn.library_path dnn.bin_path magma.enabled magma.include_path magma.library_path
gpuarray.preallocate gpuarray.sync gpuarray.sched gpuarray.single_stream gpuarray.cache_path
DebugMode.patience DebugMode.check_c DebugMode.check_py DebugMode.check_finite
DebugMode.check_strides DebugMode.warn_input_not_reused DebugMode.check_preallocated_output
DebugMode.check_preallocated_output_ndim NanGuardMode.nan_is_error
NanGuardMode.inf_is_error NanGuardMode.big_is_error NanGuardMode.action
profiling.time_thunks profiling.n_apply profiling.n_ops profiling.output_line_width
profiling.min_memory_size profiling.min_peak_memory profiling.destination
profiling.debugprint profiling.ignore_first_call optdb.position_cutoff optdb.max_use_ratio
metaopt.verbose metaopt.optimizer_excluding metaopt.optimizer_including
warn.ignore_bug_before warn.argmax_pushdown_bug warn.gpusum_01_011_0111_bug
warn.sum_sum_bug warn.sum_div_dimshuffle_bug warn.subtensor_merge_bug
warn.gpu_set_subtensor1 warn.vm_gc_bug warn.signal_conv2d_interface warn.reduce_join
warn.inc_set_subtensor1 warn.round warn.inc_subtensor1_opt warn.identify_1pexp_bug
""".split()


def _get(name):
    obj = config
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _doc_rows(heading):
    """The flag names in the table under `heading` of docs/theano_compat.md."""
    text = (ROOT / "docs" / "theano_compat.md").read_text()
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`([A-Za-z_][\w.]*)`", section))


def test_every_theano_flag_is_known_and_settable():
    for name in THEANO_1_0_FLAGS:
        value = _get(name)  # attribute access, dotted names included
        with config.change_flags({name: value}):
            assert _get(name) == value or (value != value)  # NaN-free flags only


def test_every_theano_flag_is_documented_as_honoured_or_no_op():
    honoured = _doc_rows("## Flags honoured")
    ignored = _doc_rows("## Flags accepted with no effect")
    for name in THEANO_1_0_FLAGS:
        if name in NOOP:
            assert name in ignored, f"{name} is a no-op missing from the docs' table"
        else:
            assert name in honoured, f"{name} is honoured but missing from the docs' table"
    assert not (honoured & NOOP), "a no-op flag is documented as honoured"


def test_theano_flags_string_with_compat_flags_runs():
    flags = ("floatX=float32,on_opt_error=raise,compute_test_value_opt=off,"
             "scan.allow_output_prealloc=False,dnn.conv.algo_fwd=time_once,"
             "gcc.cxxflags=-O3,lib.cnmem=0.8,warn.round=False")
    env = {k: v for k, v in os.environ.items() if k not in ("THEANO_FLAGS", "THEANINE_FLAGS")}
    env.update(THEANO_FLAGS=flags, PYTHONPATH=str(ROOT))
    code = ("import warnings; warnings.simplefilter('error')\n"
            "import theanine as t\n"
            "print(t.config.floatX, t.config.on_opt_error, t.config.scan.allow_output_prealloc,"
            " t.config.dnn.conv.algo_fwd)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float32", "raise", "False", "time_once"]


@rule(T.Elemwise, name="always_fails")
def _always_fails(graph, node):
    raise RuntimeError("boom")


@pytest.fixture
def failing_rule():
    canonicalize.add(_always_fails)
    try:
        yield
    finally:
        canonicalize.items.remove(_always_fails)


def test_on_opt_error(failing_rule):
    x = T.dvector("x")
    with config.change_flags(on_opt_error="warn"):
        with pytest.warns(RewriteWarning, match="always_fails failed"):
            f = theano.function([x], T.exp(x) + 1, mode="PY")
        np.testing.assert_allclose(f(np.zeros(2)), [2.0, 2.0])
    with config.change_flags(on_opt_error="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        theano.function([x], T.exp(x) + 1, mode="PY")
    with config.change_flags(on_opt_error="raise"):
        with pytest.raises(RuntimeError, match="boom"):
            theano.function([x], T.exp(x) + 1, mode="PY")
    with pytest.raises(ValueError, match="on_opt_error"):
        config.on_opt_error = "sometimes"


def test_tensor_local_elemwise_fusion_and_optimizer_verbose(capsys):
    x = T.dvector("x")

    def kinds(f):
        return {type(n.op).__name__ for n in f.maker.fgraph.toposort()}

    assert "Composite" in kinds(theano.function([x], T.exp(x) * T.tanh(x), mode="PY"))
    with config.change_flags({"tensor.local_elemwise_fusion": False}):
        assert "Composite" not in kinds(theano.function([x], T.exp(x) * T.tanh(x),
                                                        mode="PY"))
    with config.change_flags(optimizer_verbose=True):
        theano.function([x], T.exp(x) * T.tanh(x), mode="PY")
    assert "rewrite " in capsys.readouterr().out


def test_cast_policy_other_than_custom_is_refused():
    with pytest.raises(ValueError, match="cast_policy"):
        config.cast_policy = "numpy+floatX"
