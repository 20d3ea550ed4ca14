"""scan_parallel_linear: loops whose carries are linear recurrences, compiled with the
rewrite (a LinearRecurrence) and without it (the sequential loop), on every backend
(tests/backend_suite.py): values and gradients agree for float32 and float64 and for
lengths 0, 1, odd, prime and long; forms that are not linear recurrences stay loops."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.graph.traversal import ancestors
from theanine.scan.fused_recurrence import FusedRecurrence
from theanine.scan.op import Scan
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.shared_randomstreams import RandomStreams

# the rewrite's result: a LinearRecurrence, or a FusedRecurrence when it took in the
# elementwise work around it (fuse_recurrences)
RECURRENCES = (LinearRecurrence, FusedRecurrence)

LENGTHS = [0, 1, 7, 13, 3001]
CHUNKED = 20011  # prime, above the numba kernels' CHUNK_MIN: their chunked/window paths
OFF = {"scan.parallel_linear": False}


def ops_of(f):
    return [nd.op for nd in f.maker.fgraph.toposort()]


def tol(dtype):
    return dict(rtol=1e-9, atol=1e-9) if dtype == "float64" else dict(rtol=3e-4, atol=3e-4)


def compile_both(inputs, outputs):
    f_on = theano.function(inputs, outputs, on_unused_input="ignore")
    with theano.config.change_flags(OFF):
        f_off = theano.function(inputs, outputs, on_unused_input="ignore")
    return f_on, f_off


def check(inputs, outputs, make_values, dtype, wrt=None, loops_left=0, lengths=LENGTHS):
    """The outputs (and the gradient of a random projection of them with respect to
    `wrt`) agree with and without the rewrite; the rewritten graph has a
    LinearRecurrence and `loops_left` Scans."""
    outs = list(outputs)
    if wrt is not None:
        rng = np.random.default_rng(0)
        cost = sum(T.sum(o * T.cast(rng.uniform(0.5, 1.5), dtype)) for o in outputs)
        cost = cost + sum(T.sum(T.sqr(o)) for o in outputs) * T.cast(0.01, dtype)
        outs += theano.grad(cost, wrt)
    f_on, f_off = compile_both(inputs, outs)
    ops = ops_of(f_on)
    assert any(isinstance(op, RECURRENCES) for op in ops)
    assert sum(isinstance(op, Scan) for op in ops) == loops_left
    assert not any(isinstance(op, RECURRENCES) for op in ops_of(f_off))
    for n in lengths:
        vals = make_values(n, np.random.default_rng(n))
        for a, b in zip(f_on(*vals), f_off(*vals)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, **tol(dtype))


def check_not_detected(inputs, outputs, values):
    f_on, f_off = compile_both(inputs, outputs)
    assert not any(isinstance(op, RECURRENCES) for op in ops_of(f_on))
    assert any(isinstance(op, Scan) for op in ops_of(f_on))
    for a, b in zip(f_on(*values), f_off(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def seqs(dtype, *shapes, lo=-1.0, hi=1.0):
    def make(n, rng):
        return [rng.uniform(lo, hi, size=(n,) + s).astype(dtype) for s in shapes]
    return make


DTYPES = ["float64", "float32"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_exponential_moving_average(dtype):
    x, h0 = T.tensor(dtype, (False,)), T.tensor(dtype, ())
    h, _ = theano.scan(lambda a, h: T.cast(0.999, dtype) * h + a, sequences=x,
                       outputs_info=h0)
    make = seqs(dtype, ())
    check([x, h0], [h], lambda n, r: make(n, r) + [np.asarray(0.5, dtype)], dtype,
          wrt=[x, h0], lengths=LENGTHS + [CHUNKED])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (3,)])
@pytest.mark.parametrize("backwards", [False, True])
def test_adjoint_of_a_constant_decay_runs_on_the_cotangents(dtype, shape, backwards):
    """The gradient's recurrence of h_t = c*h + x_t is lam_t = c*lam + w_t on the
    cotangent w itself (linear_recurrence_of_sums): no elementwise work over the steps
    is left in the gradient, and values match the loop's."""
    x, w = (T.tensor(dtype, (False,) * (1 + len(shape))) for _ in range(2))
    h, _ = theano.scan(lambda a, h: T.cast(0.97, dtype) * h + a, sequences=x,
                       outputs_info=T.zeros(shape, dtype), go_backwards=backwards)
    g = theano.grad(T.sum(w * h), x)
    f_on, f_off = compile_both([x, w], [g])
    nodes = f_on.maker.fgraph.toposort()
    lrs = [nd for nd in nodes if isinstance(nd.op, LinearRecurrence)]
    assert len(lrs) == 1 and lrs[0].op.mode == "affine"
    assert not any(isinstance(nd.op, (Scan, FusedRecurrence)) for nd in nodes)
    per_step = [nd for nd in nodes if isinstance(nd.op, (Elemwise, Composite))
                and nd.outputs[0].ndim > 0]  # (backwards: zeros that x[::-1]'s gradient fills)
    assert not [nd for nd in per_step if nd.outputs[0] in ancestors([lrs[0].inputs[3]])]
    assert not [nd for nd in per_step if lrs[0].outputs[0] in ancestors(nd.outputs)]
    for n in [0, 1, 7, CHUNKED]:
        r = np.random.default_rng(n)
        vals = [r.normal(size=(n,) + shape).astype(dtype) for _ in range(2)]
        np.testing.assert_allclose(f_on(*vals)[0], f_off(*vals)[0], **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_integrator_with_a_decay_per_unit(dtype):
    x, h0, d = (T.tensor(dtype, (False, False)), T.tensor(dtype, (False,)),
                T.tensor(dtype, (False,)))
    h, _ = theano.scan(lambda a, h, d: d * h + (1 - d) * a, sequences=x, outputs_info=h0,
                       non_sequences=d)

    def make(n, r):
        return [r.normal(size=(n, 4)).astype(dtype), r.normal(size=4).astype(dtype),
                r.uniform(0.8, 0.99, size=4).astype(dtype)]

    check([x, h0, d], [h], make, dtype, wrt=[x, h0, d])


@pytest.mark.parametrize("dtype", DTYPES)
def test_min_gru(dtype):
    k, v, h0 = (T.tensor(dtype, (False, False)), T.tensor(dtype, (False, False)),
                T.tensor(dtype, (False,)))

    def step(k_t, v_t, h):
        z = T.nnet.sigmoid(k_t)
        return (1 - z) * h + z * v_t

    h, _ = theano.scan(step, sequences=[k, v], outputs_info=h0)
    make = seqs(dtype, (8,), (8,))
    check([k, v, h0], [h], lambda n, r: make(n, r) + [r.normal(size=8).astype(dtype)],
          dtype, wrt=[k, v, h0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_min_lstm(dtype):
    kf, ki, v = (T.tensor(dtype, (False, False)) for _ in range(3))
    h0 = T.tensor(dtype, (False,))

    def step(f_t, i_t, v_t, h):
        f, i = T.nnet.sigmoid(f_t), T.nnet.sigmoid(i_t)
        return f / (f + i) * h + i / (f + i) * v_t

    h, _ = theano.scan(step, sequences=[kf, ki, v], outputs_info=h0)
    make = seqs(dtype, (5,), (5,), (5,))
    check([kf, ki, v, h0], [h], lambda n, r: make(n, r) + [r.normal(size=5).astype(dtype)],
          dtype, wrt=[kf, v, h0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["cumsum", "cumprod", "sub", "neg", "div"])
def test_elementwise_forms(dtype, form):
    x, h0 = T.tensor(dtype, (False, False)), T.tensor(dtype, (False,))
    c = T.cast(1.01, dtype)
    fn = {"cumsum": lambda a, h: h + a,
          "cumprod": lambda a, h: h * (a * T.cast(0.01, dtype) + 1),
          "sub": lambda a, h: a - h * T.cast(0.5, dtype),
          "neg": lambda a, h: -(h * T.cast(0.3, dtype)) + a,
          "div": lambda a, h: (h + a) / c}[form]
    h, _ = theano.scan(fn, sequences=x, outputs_info=h0)
    make = seqs(dtype, (3,))
    check([x, h0], [h], lambda n, r: make(n, r) + [r.normal(size=3).astype(dtype)], dtype,
          wrt=[x, h0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["max", "max_input_first", "min"])
def test_running_max_and_min(dtype, form):
    x, h0 = T.tensor(dtype, (False, False)), T.tensor(dtype, (False,))
    fn = {"max": lambda a, h: T.maximum(h, a), "max_input_first": lambda a, h: T.maximum(a, h),
          "min": lambda a, h: T.minimum(h, a)}[form]
    h, _ = theano.scan(fn, sequences=x, outputs_info=h0)
    make = seqs(dtype, (3,))
    check([x, h0], [h], lambda n, r: make(n, r) + [r.normal(size=3).astype(dtype)], dtype,
          wrt=[x, h0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["h_M", "M_h", "batch"])
def test_matrix_affine(dtype, form):
    m = T.tensor(dtype, (False, False))
    batch = form == "batch"
    x = T.tensor(dtype, (False,) * (3 if batch else 2))
    h0 = T.tensor(dtype, (False,) * (2 if batch else 1))
    fn = (lambda a, h, m: T.dot(m, h) + a) if form == "M_h" else \
        (lambda a, h, m: T.dot(h, m) + a)
    h, _ = theano.scan(fn, sequences=x, outputs_info=h0, non_sequences=m)
    lead = (2,) if batch else ()

    def make(n, r):
        m = r.normal(size=(4, 4))
        m *= 0.9 / np.linalg.norm(m, 2)  # a contraction: values stay in range
        return [r.normal(size=(n,) + lead + (4,)).astype(dtype),
                r.normal(size=lead + (4,)).astype(dtype), m.astype(dtype)]

    check([x, h0, m], [h], make, dtype, wrt=[x, h0, m], lengths=[0, 1, 7, 13, 601])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cascade_of_carries_and_outputs_read_from_them(dtype):
    """h1 = a*h1 + x; h2 = 0.5*h2 + h1 (the new h1); y = tanh(h1_prev) * h2."""
    x, h10, h20 = (T.tensor(dtype, (False, False)), T.tensor(dtype, (False,)),
                   T.tensor(dtype, (False,)))
    a = T.cast(0.9, dtype)

    def step(x_t, h1, h2):
        n1 = a * h1 + x_t
        n2 = T.cast(0.5, dtype) * h2 + n1
        return n1, n2, T.tanh(h1) * n2

    (h1, h2, y), _ = theano.scan(step, sequences=x, outputs_info=[h10, h20, None])
    make = seqs(dtype, (3,))

    def values(n, r):
        return make(n, r) + [r.normal(size=3).astype(dtype), r.normal(size=3).astype(dtype)]

    check([x, h10, h20], [h1, h2, y], values, dtype, wrt=[x, h10, h20])


def test_a_nonlinear_carry_beside_a_linear_one_stays_a_loop():
    x, h0, g0 = T.dmatrix(), T.dvector(), T.dvector()

    def step(x_t, h, g):
        return 0.9 * h + x_t, T.tanh(g + h)

    (h, g), _ = theano.scan(step, sequences=x, outputs_info=[h0, g0])
    make = seqs("float64", (3,))
    check([x, h0, g0], [h, g], lambda n, r: make(n, r) + [r.normal(size=3)] * 2, "float64",
          wrt=[x, h0, g0], loops_left=1, lengths=[0, 1, 13, 501])


def test_go_backwards_reduce_and_foldr():
    x, h0 = T.dmatrix(), T.dvector()
    h, _ = theano.scan(lambda a, h: 0.8 * h + a, sequences=x, outputs_info=h0,
                       go_backwards=True)
    last = theano.reduce(lambda a, h: 0.7 * h + a, sequences=x, outputs_info=h0)[0]
    first = theano.foldr(lambda a, h: T.maximum(h, a), sequences=x, outputs_info=h0)[0]
    make = seqs("float64", (3,))
    check([x, h0], [h, last, first], lambda n, r: make(n, r) + [r.normal(size=3)],
          "float64", wrt=[x, h0])


def test_symbolic_n_steps_without_sequences():
    n = T.lscalar()
    h0 = T.dvector()
    h, _ = theano.scan(lambda h: 0.5 * h + 1.0, outputs_info=h0, n_steps=n)
    f_on, f_off = compile_both([n, h0], [h, theano.grad(h.sum(), h0)])
    assert any(isinstance(op, RECURRENCES) for op in ops_of(f_on))
    for k in [0, 1, 5, 200]:
        for a, b in zip(f_on(k, np.ones(2)), f_off(k, np.ones(2))):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="n_steps"):
        f_on(-1, np.ones(2))


def test_rnn_backprop_loop_becomes_a_recurrence():
    """The reverse loop of an elementwise RNN is affine in the adjoint once the forward
    states are stored: the forward loop stays, the reverse one is parallel."""
    x, h0, u = T.dmatrix(), T.dvector(), T.dvector()
    h, _ = theano.scan(lambda a, h, u: T.tanh(a + h * u), sequences=x, outputs_info=h0,
                       non_sequences=u)
    make = seqs("float64", (4,))
    check([x, h0, u], [h], lambda n, r: make(n, r) + [r.normal(size=4), r.normal(size=4)],
          "float64", wrt=[x, h0, u], loops_left=1)


def test_random_draws_hoisted_before_the_loop_give_the_same_numbers():
    srng = RandomStreams(seed=3)
    h0 = T.dvector()
    h, upd = theano.scan(lambda h: 0.9 * h + srng.normal(size=(3,)), outputs_info=h0,
                         n_steps=40)
    f_on = theano.function([h0], h, updates=upd)
    srng.seed(3)
    with theano.config.change_flags(OFF):
        f_off = theano.function([h0], h, updates=upd)
    srng.seed(3)
    a = f_on(np.zeros(3))
    srng.seed(3)
    np.testing.assert_allclose(a, f_off(np.zeros(3)), rtol=1e-12)


# -- forms that must not be detected --------------------------------------------------
@pytest.mark.parametrize("form", ["tanh", "square", "state_in_gate", "cast"])
def test_nonlinear_updates_stay_loops(form):
    x, h0 = T.dmatrix(), T.dvector()
    fn = {"tanh": lambda a, h: T.tanh(h) * 0.5 + a,
          "square": lambda a, h: h * h * 0.1 + a,
          "state_in_gate": lambda a, h: T.nnet.sigmoid(h) * h + a,
          "cast": lambda a, h: T.cast(T.cast(h, "float32") * 0.5, "float64") + a}[form]
    h, _ = theano.scan(fn, sequences=x, outputs_info=h0)
    check_not_detected([x, h0], [h], [np.random.default_rng(0).normal(size=(9, 3)),
                                      np.ones(3)])


def test_until_stays_a_loop():
    x, h0 = T.dvector(), T.dscalar()

    def step(a, h):
        new = 0.5 * h + a
        return new, theano.scan_module.until(new > 3)

    h, _ = theano.scan(step, sequences=x, outputs_info=h0)
    check_not_detected([x, h0], [h], [np.arange(10.0), np.float64(0)])


def test_recurrence_through_a_random_draw_stays_a_loop():
    srng = RandomStreams(seed=4)
    h0 = T.dvector()
    h, upd = theano.scan(lambda h: srng.normal(size=(3,), avg=h * 0.5), outputs_info=h0,
                         n_steps=6)
    f = theano.function([h0], h, updates=upd)
    assert not any(isinstance(op, RECURRENCES) for op in ops_of(f))
    assert any(isinstance(op, Scan) for op in ops_of(f))


def test_multi_tap_recurrence_stays_a_loop():
    h0 = T.dvector()
    fib, _ = theano.scan(lambda a, b: a + b, outputs_info=dict(initial=h0, taps=[-2, -1]),
                         n_steps=10)
    check_not_detected([h0], [fib], [np.array([1.0, 1.0])])


def test_a_matrix_that_changes_every_step_stays_a_loop():
    ms, h0 = T.dtensor3(), T.dvector()
    h, _ = theano.scan(lambda m, h: T.dot(h, m), sequences=ms, outputs_info=h0)
    check_not_detected([ms, h0], [h], [np.random.default_rng(1).normal(size=(5, 3, 3)),
                                       np.ones(3)])


def test_truncated_gradient():
    """truncate_gradient shapes the reverse loop when the gradient is built; both loops
    are then ordinary linear recurrences."""
    x, h0 = T.dvector(), T.dscalar()
    h, _ = theano.scan(lambda a, h: 0.5 * h + a, sequences=x, outputs_info=h0,
                       truncate_gradient=3)
    check([x, h0], [h], lambda n, r: [r.normal(size=n), np.float64(1)], "float64",
          wrt=[x, h0])


def test_the_flag_and_excluding_turn_it_off():
    x, h0 = T.dvector(), T.dscalar()
    h, _ = theano.scan(lambda a, h: 0.5 * h + a, sequences=x, outputs_info=h0)
    with theano.config.change_flags(OFF):
        f = theano.function([x, h0], h)
    assert not any(isinstance(op, RECURRENCES) for op in ops_of(f))
    mode = theano.compile.mode.get_default_mode().excluding("scan_parallel_linear")
    f = theano.function([x, h0], h, mode=mode)
    assert not any(isinstance(op, RECURRENCES) for op in ops_of(f))
    assert any(isinstance(op, RECURRENCES) for op in ops_of(theano.function([x, h0], h)))
