"""profile=True / config.profile: per-function and per-op timing."""

import io

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine import ProfileStats, function, shared
from theanine.compile import profiling


def summary_of(stats):
    buf = io.StringIO()
    stats.summary(file=buf)
    return buf.getvalue()


def test_profile_true_records_calls_and_ops():
    x = T.dvector("x")
    f = function([x], T.exp(x) * 2, profile=True, name="prof_fn", mode="FAST_COMPILE")
    assert isinstance(f.profile, ProfileStats)
    for _ in range(3):
        f(np.ones(4))
    assert f.profile.calls == 3 and f.profile.call_time > 0
    text = summary_of(f.profile)
    assert "prof_fn" in text and "3 calls" in text
    assert "Elemwise{exp}" in text and "Elemwise{mul}" in text
    assert f.profile.op_calls["Elemwise{exp}"] == 3
    assert all(t >= 0 for t in f.profile.op_time.values())


def test_profile_lists_classes_ops_and_nodes():
    x = T.dmatrix("x")
    f = function([x], (x * 2).sum(), profile=True)
    f(np.ones((2, 2)))
    text = summary_of(f.profile)
    for section in ("Class", "Ops", "Apply"):
        assert f"\n{section}\n" in text
    assert "Elemwise" in text


def test_profile_false_and_default_have_no_profile():
    x = T.dvector("x")
    assert function([x], x * 2).profile is None
    assert function([x], x * 2, profile=False).profile is None


def test_profile_object_shared_by_functions_accumulates():
    stats = ProfileStats("both")
    x = T.dvector("x")
    f = function([x], x * 2, profile=stats)
    g = function([x], x + 1, profile=stats)
    f(np.ones(2))
    g(np.ones(2))
    assert stats.calls == 2
    assert {"Elemwise{mul}", "Elemwise{add}"} <= set(stats.op_calls)


def test_config_profile_flag_profiles_functions():
    x = T.dvector("x")
    with theano.config.change_flags(profile=True):
        f = function([x], x * 3)
    assert f.profile is not None
    f(np.ones(2))
    assert f.profile.calls == 1

    assert f.profile in profiling._AT_EXIT  # printed at exit, as Theano
    profiling._AT_EXIT.remove(f.profile)  # keep the test run's output clean


def test_profiled_function_with_updates_and_copy():
    w = shared(0.0, name="w")
    f = function([], w * 1, updates=[(w, w + 1)], profile=True)
    f()
    g = f.copy(profile=ProfileStats("copy"))
    g()
    assert f.profile.calls == 1 and g.profile.calls == 1
    assert g.profile.op_calls  # the copy is relinked to record its own nodes


def test_failing_call_is_not_counted():
    x, y = T.dvectors("x", "y")
    f = function([x, y], x + y, profile=True)
    try:
        f(np.ones(2), np.ones(3))
    except ValueError:
        pass
    assert f.profile.calls == 0
