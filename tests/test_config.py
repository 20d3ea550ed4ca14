"""Configuration flags: environment parsing, floatX effects, validation, change_flags."""

import os
import subprocess
import sys

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import config
from theanine.config import parse_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_with_env(code, **env):
    """Run `code` in a fresh interpreter with extra environment variables."""
    full = {k: v for k, v in os.environ.items() if k not in ("THEANO_FLAGS", "THEANINE_FLAGS")}
    full.update(env)
    full["PYTHONPATH"] = ROOT + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120)


def test_env_flags_set_floatx_and_others():
    code = ("import theanine as theano, theanine.tensor as T\n"
            "print(theano.config.floatX, T.matrix().dtype, theano.config.allow_gc,"
            " theano.config.on_unused_input)")
    r = run_with_env(code, THEANO_FLAGS="floatX=float32, allow_gc=False,"
                                        "on_unused_input=warn")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float32", "float32", "False", "warn"]


def test_theanine_flags_win_over_theano_flags():
    r = run_with_env("import theanine; print(theanine.config.floatX)",
                     THEANO_FLAGS="floatX=float32", THEANINE_FLAGS="floatX=float16")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "float16"


def test_env_unknown_flag_warns_and_invalid_value_fails():
    r = run_with_env("import warnings; warnings.simplefilter('always')\n"
                     "import theanine; print(theanine.config.floatX)",
                     THEANO_FLAGS="floatX=float32,device=cuda0,no_such_flag=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "float32"
    assert "unknown flag 'no_such_flag' ignored" in r.stderr
    r = run_with_env("import theanine", THEANINE_FLAGS="floatX=float8")
    assert r.returncode != 0
    assert "THEANINE_FLAGS: config.floatX: expected one of" in r.stderr
    assert "'float8'" in r.stderr
    r = run_with_env("import theanine", THEANO_FLAGS="floatX")
    assert "THEANO_FLAGS: expected name=value, got 'floatX'" in r.stderr


def test_parse_flags():
    assert parse_flags("a=1, b = x=y ,,", "SRC") == {"a": "1", "b": "x=y"}
    assert parse_flags("", "SRC") == {}
    with pytest.raises(ValueError, match="SRC: expected name=value, got 'oops'"):
        parse_flags("a=1,oops", "SRC")


def test_floatx_float32_effects():
    with config.change_flags(floatX="float32"):
        assert T.matrix().dtype == "float32"
        assert T.scalar().dtype == "float32" and T.tensor3().dtype == "float32"
        assert T.constant(0.0).dtype == "float32"
        assert T.as_tensor_variable(1.5).dtype == "float32"
        assert T.constant(1).dtype == "int8"  # ints keep the smallest int dtype
        x = T.fvector("x")
        assert (x * 0.5).dtype == "float32"
        assert (x + 1.5).dtype == "float32"
        i = T.ivector("i")
        # As Theano: 1.5 becomes a float32 constant, and int32 * float32 upcasts
        # to float64 (NumPy's rule); small ints stay within float32.
        assert (i * 1.5).dtype == "float64"
        assert (T.bvector() * 1.5).dtype == "float32"
        assert T.tensor(broadcastable=(False,)).dtype == "float32"
        f = theano.function([x], x * 2.5)
        assert f(np.ones(2, dtype="float32")).dtype == np.float32
    assert T.matrix().dtype == "float64"
    assert T.constant(0.0).dtype == "float64"
    assert (T.ivector() * 1.5).dtype == "float64"


def test_invalid_values_and_unknown_flags_raise():
    with pytest.raises(ValueError, match=r"config.floatX: expected one of \('float64', "):
        config.floatX = "float128"
    with pytest.raises(ValueError, match="config.allow_gc: expected a boolean, got 'maybe'"):
        config.allow_gc = "maybe"
    with pytest.raises(AttributeError, match="has no flag 'floatx'; known flags"):
        config.floatx = "float32"
    with pytest.raises(AttributeError, match="has no flag 'nothing'"):
        config.nothing
    with pytest.raises(ValueError, match="config.traceback.limit"):
        config.traceback.limit = "many"
    assert config.floatX == "float64" and config.allow_gc is True


def test_bool_flags_parse_strings():
    with config.change_flags(allow_gc="off", profile="1"):
        assert config.allow_gc is False and config.profile is True
    assert config.allow_gc is True and config.profile is False


def test_change_flags_restores_on_error_and_as_decorator():
    with pytest.raises(RuntimeError):
        with config.change_flags(floatX="float32", on_unused_input="ignore"):
            assert config.floatX == "float32"
            raise RuntimeError("boom")
    assert config.floatX == "float64" and config.on_unused_input == "raise"
    with pytest.raises(ValueError, match="config.floatX"):
        with config.change_flags(on_unused_input="ignore", floatX="bad"):
            pass
    assert config.on_unused_input == "raise"

    @config.change_flags(floatX="float16")
    def make():
        return T.vector().dtype

    assert make() == "float16" and config.floatX == "float64"
    assert theano.config is config


def test_dotted_compat_flags():
    assert config.scan.allow_gc is False
    with config.change_flags({"scan.allow_gc": True, "lib.cnmem": "0.5"}):
        assert config.scan.allow_gc is True and config.lib.cnmem == 0.5
    assert config.scan.allow_gc is False
    assert config.device == "cpu" and config.cxx == ""
    assert "floatX = 'float64'" in str(config)
    assert "floatX" in dir(config)
