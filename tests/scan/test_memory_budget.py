"""Gradients within a memory budget (scan/checkpointed_grad.py): budgeted gradients equal
the unbudgeted ones for every scan feature (carries, per-step outputs, multi-tap
outputs, until, nested loops, random draws, shared-variable updates), lengths 0, 1,
odd and prime, budgets from 'everything fits' to 'three states' (binomial schedules of
several repetitions), on every backend (tests/backend_suite.py); the body runs exactly
as often as the schedule says (tests/scan/test_revolve.py tests the schedule)."""

import tracemalloc

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.graph.rewrite import rewrite_outputs
from theanine.rewrites.scan import scan_hoist_sequences
from theanine.scan import checkpointed_grad as cg
from theanine.scan import revolve
from theanine.scan.checkpointed_grad import RevolveGrad
from theanine.tensor.python_ops import as_op
from theanine.tensor.shared_randomstreams import RandomStreams

# bytes: three states (many repetitions), a few states, about sqrt(n) states, all of them
BUDGETS = [1, 300, 1000, 10 ** 9]


def budgeted(f):
    return any(isinstance(n.op, RevolveGrad) for n in f.maker.fgraph.toposort())


def compare(build, inputs, values_list, budgets=BUDGETS, rtol=1e-11):
    """build(budget) -> outputs (cost first, then gradients); the outputs with each
    budget equal those without one, for every list of values."""
    f0 = theano.function(inputs, build(None), on_unused_input="ignore")
    for budget in budgets:
        f1 = theano.function(inputs, build(budget), on_unused_input="ignore")
        assert budgeted(f1)
        for values in values_list:
            for a, b in zip(f1(*values), f0(*values)):
                assert np.shape(a) == np.shape(b)
                np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def rnn_values(n, rng):
    return [rng.normal(size=(n, 2, 3)), rng.normal(size=(2, 4)),
            rng.normal(size=(3, 4)) * 0.5, rng.normal(size=(4, 4)) * 0.4]


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_vanilla_rnn():
    X, h0, W, U = T.dtensor3("X"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U")

    def build(budget):
        h, _ = theano.scan(lambda x, h, W, U: T.tanh(T.dot(x, W) + T.dot(h, U)),
                           sequences=X, outputs_info=h0, non_sequences=[W, U],
                           memory_budget=budget)
        cost = (h ** 2).sum() * 0.1 + T.tanh(h[-1]).sum()
        return [cost] + theano.grad(cost, [X, h0, W, U])

    rng = np.random.default_rng(0)
    compare(build, [X, h0, W, U], [rnn_values(n, rng) for n in (1, 2, 7, 37)])


def test_final_state_only_and_zero_steps():
    X, h0, W = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W")

    def build(budget):
        h, _ = theano.scan(lambda x, h, W: T.tanh(x + T.dot(h, W)), sequences=X,
                           outputs_info=h0, non_sequences=W, memory_budget=budget)
        cost = (h ** 2).sum()
        return [cost] + theano.grad(cost, [X, h0, W])

    rng = np.random.default_rng(1)
    compare(build, [X, h0, W], [[rng.normal(size=(n, 3)), rng.normal(size=3),
                                  rng.normal(size=(3, 3)) * 0.5] for n in (0, 1, 13)])


def test_per_step_outputs_and_two_carries():
    X, a0, b0 = T.dmatrix("X"), T.dvector("a0"), T.dvector("b0")

    def step(x, a, b):
        na = T.tanh(a * b + x)
        nb = T.sin(b) + na * 0.5
        return na, nb, na * nb

    def build(budget):
        (a, b, y), _ = theano.scan(step, sequences=X, outputs_info=[a0, b0, None],
                                   memory_budget=budget)
        cost = (y ** 2).sum() + b[-1].sum()
        return [cost] + theano.grad(cost, [X, a0, b0])

    rng = np.random.default_rng(2)
    compare(build, [X, a0, b0], [[rng.normal(size=(n, 3)), rng.normal(size=3),
                                   rng.normal(size=3)] for n in (1, 11, 29)])


def test_multi_tap_outputs_and_sequence_taps():
    x, h0 = T.dvector("x"), T.dvector("h0")

    def build(budget):
        h, _ = theano.scan(lambda xm1, x0, a, b: T.tanh(0.5 * a - 0.3 * b + xm1 * x0),
                           sequences=dict(input=x, taps=[-1, 0]),
                           outputs_info=dict(initial=h0, taps=[-3, -1]),
                           memory_budget=budget)
        cost = (h ** 2).sum()
        return [cost] + theano.grad(cost, [x, h0])

    rng = np.random.default_rng(3)
    compare(build, [x, h0], [[rng.normal(size=n), rng.normal(size=3)] for n in (2, 9, 24)])


def test_until():
    x, h0 = T.dvector("x"), T.dscalar("h0")

    def build(budget):
        def step(e, h):
            new = T.tanh(h + e) + e * 0.5
            return new, theano.scan_module.until(new > 1.2)

        h, _ = theano.scan(step, sequences=x, outputs_info=h0, memory_budget=budget)
        cost = (h ** 2).sum()
        return [cost, h.shape[0]] + theano.grad(cost, [x, h0])

    vals = [[np.linspace(-0.5, 0.8, n), np.float64(0.1)] for n in (1, 5, 23, 40)]
    compare(build, [x, h0], vals)


def test_until_with_only_the_final_state():
    x, h0 = T.dvector("x"), T.dscalar("h0")

    def build(budget):
        def step(e, h):
            new = T.tanh(h + e) + e * 0.5
            return new, theano.scan_module.until(new > 1.2)

        h, _ = theano.scan(step, sequences=x, outputs_info=h0, memory_budget=budget)
        cost = h[-1] ** 2
        return [cost] + theano.grad(cost, [x, h0])

    compare(build, [x, h0], [[np.linspace(-0.5, 0.8, n), np.float64(0.1)] for n in (1, 23)])


def test_nested_scan():
    X, h0, w = T.dtensor3("X"), T.dvector("h0"), T.dvector("w")

    def inner_sum(row, h, w):
        r, _ = theano.scan(lambda e, acc, h, w: T.tanh(acc * w + e * h), sequences=row,
                           outputs_info=T.zeros_like(h), non_sequences=[h, w])
        return r[-1]

    def build(budget):
        h, _ = theano.scan(inner_sum, sequences=X, outputs_info=h0, non_sequences=w,
                           memory_budget=budget)
        cost = (h ** 2).sum()
        return [cost] + theano.grad(cost, [X, h0, w])

    rng = np.random.default_rng(4)
    vals = [[rng.normal(size=(n, 2, 3)), rng.normal(size=3), rng.normal(size=3)]
            for n in (1, 10)]
    compare(build, [X, h0, w], vals, budgets=[50, 10 ** 9])


def test_random_draws_repeat_in_the_recomputation():
    """One loop (one random variable), its gradient built with and without the budget
    flag: the recomputed segments draw the numbers the forward loop drew."""
    h0, w = T.dvector("h0"), T.dscalar("w")
    srng = RandomStreams(seed=5)
    h, upd = theano.scan(lambda h, w: T.tanh(h * w + srng.normal(size=(3,))),
                         outputs_info=h0, non_sequences=w, n_steps=17)
    cost = (h ** 2).sum()
    f0 = theano.function([h0, w], [cost] + theano.grad(cost, [h0, w]), updates=upd)
    for budget in BUDGETS:
        with theano.config.change_flags(scan_memory_budget=budget):
            f1 = theano.function([h0, w], [cost] + theano.grad(cost, [h0, w]), updates=upd)
        assert budgeted(f1)
        srng.seed(5)
        got = f1(np.ones(3), 0.7)
        srng.seed(5)
        for a, b in zip(got, f0(np.ones(3), 0.7)):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_config_flag_and_argument():
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    h, _ = theano.scan(lambda x, h: T.tanh(x + h), sequences=X, outputs_info=h0)
    assert not cg.applies(h.owner.op)
    with theano.config.change_flags(scan_memory_budget="1KB"):
        assert cg.applies(h.owner.op) and cg.budget_of(h.owner.op) == 1000
    h2, _ = theano.scan(lambda x, h: T.tanh(x + h), sequences=X, outputs_info=h0,
                        memory_budget="2 KiB")
    assert h2.owner.op.memory_budget == 2048
    with theano.config.change_flags(scan_memory_budget="1KB"):
        h3, _ = theano.scan(lambda x, h: T.tanh(x + h), sequences=X, outputs_info=h0,
                            memory_budget=0)
        assert not cg.applies(h3.owner.op)  # the argument wins over the flag
    with pytest.raises(ValueError, match="memory_budget"):
        theano.scan(lambda x, h: x + h, sequences=X, outputs_info=h0, memory_budget="lots")
    with pytest.raises(ValueError, match="scan_memory_budget"):
        theano.config.scan_memory_budget = "-3MB"


def test_the_body_runs_as_often_as_the_schedule_says(monkeypatch):
    """Each step of the body (counted by a Python op in it) runs once in the forward
    loop and then exactly as the revolve schedule for n steps and the states the
    budget allows says: its advances and one leaf pass per step."""
    runs = [0]

    @as_op(itypes=[T.lscalar], otypes=[T.dscalar])
    def count(i):
        runs[0] += 1
        return np.float64(0.0)

    seen, costs = [], []
    schedule = revolve.reverse

    def recorded(n, free, state, advance, leaf, cost=revolve.EQUAL):
        seen.append((n, free))
        costs.append(cost)
        return schedule(n, free, state, advance, leaf, cost)

    monkeypatch.setattr(revolve, "reverse", recorded)
    X, h0, W, idx = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W"), T.lvector("idx")
    rng = np.random.default_rng(5)
    for budget, n, free in ((24 * 6, 50, 5), (24 * 3, 40, 2), (24 * 30, 61, 29),
                            (10 ** 6, 30, 10 ** 6 // 24 - 1)):
        h, _ = theano.scan(lambda i, x, h, W: T.tanh(x + T.dot(h, W)) + count(i),
                           sequences=[idx, X], outputs_info=h0, non_sequences=W,
                           memory_budget=budget)
        f = theano.function([idx, X, h0, W], theano.grad((h ** 2).sum(), [X, h0, W]))
        runs[0], seen[:], costs[:] = 0, [], []
        f(np.arange(n), rng.normal(size=(n, 3)), rng.normal(size=3),
          rng.normal(size=(3, 3)) / 3)
        advanced, leaves, _ = revolve.counts(n, free, costs[0])
        assert seen == [(n, free)] and costs[0][0] == 24  # a checkpoint: one state
        assert leaves == n and runs[0] == n + advanced + leaves
        assert advanced <= revolve.repetitions(n, free, costs[0]) * n


def test_a_budgeted_loop_keeps_its_per_step_work_in_the_loop():
    """x_t . W for all steps at once would be a T-row array: not with a budget."""

    X, h0, W = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W")
    for budget, hoisted in ((None, True), ("1MB", False)):
        h, _ = theano.scan(lambda x, h, W: T.tanh(T.dot(x, W) + h), sequences=X,
                           outputs_info=h0, non_sequences=W, memory_budget=budget)
        new = rewrite_outputs(h, scan_hoist_sequences, inputs=[X, h0, W])
        assert (new.owner.op.key != h.owner.op.key) == hoisted


def test_gradients_nobody_reads_are_not_computed():
    """The gradient of W alone: the reverse pass computes no gradient of the sequence
    (a full-length array) nor of h0, and gives W's gradient of the unbudgeted run."""
    X, h0, W = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W")
    rng = np.random.default_rng(6)
    vals = [rng.normal(size=(23, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) / 3]
    got = []
    for budget in (None, 100):
        h, _ = theano.scan(lambda x, h, W: T.tanh(x + T.dot(h, W)), sequences=X,
                           outputs_info=h0, non_sequences=W, memory_budget=budget)
        f = theano.function([X, h0, W], theano.grad((h ** 2).sum(), W))
        got.append(f(*vals))
    nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, RevolveGrad)]
    assert len(nodes) == 1
    S, C, K, dc, ds, dk = nodes[0].op.layout
    assert ds == () and dk == (0,) and len(nodes[0].outputs) == 2
    np.testing.assert_allclose(got[1], got[0], rtol=1e-11, atol=1e-11)


def test_second_derivatives_through_a_budget_are_a_clear_error():
    X, h0, W = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W")
    h, _ = theano.scan(lambda x, h, W: T.tanh(x + T.dot(h, W)), sequences=X,
                       outputs_info=h0, non_sequences=W, memory_budget=100)
    gW = theano.grad((h ** 2).sum(), W)
    with pytest.raises(Exception, match="not implemented.*memory_budget=0"):
        theano.grad(gW.sum(), W)


def test_a_budgeted_gradient_keeps_about_its_budget(suite_backend):
    """The schedule counts what a leaf really keeps a step (its states, the batched
    input projections x_t W, the per-step terms of its gradient: scan/leaf_bytes.py),
    not only the states: the peak NumPy memory of a call stays near the budget
    (counting states only, the leaves took about 3 times as much), and the gradients
    equal the unbudgeted ones."""
    if suite_backend != "py":
        pytest.skip("tracemalloc sees NumPy's allocations: the py backend's")
    B, D, H, n = 8, 4, 32, 1000
    X, h0, W, U = T.dtensor3("X"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U")
    rng = np.random.default_rng(7)
    vals = [rng.normal(size=(n, B, D)), rng.normal(size=(B, H)),
            rng.normal(size=(D, H)) / 2, rng.normal(size=(H, H)) / 6]
    got, plans = {}, []
    schedule = revolve.reverse

    def recorded(n, free, state, advance, leaf, cost=revolve.EQUAL):
        plans.append(cost)
        return schedule(n, free, state, advance, leaf, cost)

    for budget in (None, 200_000):
        h, _ = theano.scan(lambda x, h, W, U: T.tanh(T.dot(x, W) + T.dot(h, U)),
                           sequences=X, outputs_info=h0, non_sequences=[W, U],
                           memory_budget=budget)
        cost = (h[-1] ** 2).sum()
        f = theano.function([X, h0, W, U], [cost] + theano.grad(cost, [W, U]), mode="PY")
        f(*vals)  # the first call: buffers new to the process
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(revolve, "reverse", recorded)
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                got[budget] = f(*vals)
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
        if budget:
            state = B * H * 8
            assert peak <= 1.3 * budget, (peak, budget)
            assert plans[-1][0] == state and plans[-1][1] >= 3 * state  # trace + 2 more
        else:
            assert peak > n * B * H * 8  # without a budget: every state
    for a, b in zip(got[200_000], got[None]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)
