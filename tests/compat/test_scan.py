"""scan as Theano 1.0 programs use it: values computed outside the loop (a dropout
mask drawn once, passed as a non-sequence or closed over) are evaluated once; Rop
through a loop that draws; the gradient wrt an initial state no step reads is
disconnected; a single tap given as an int, an empty updates tuple beside until,
duplicate taps and strict=True's missing shared variable (issue 16, items 1, 8-10,
12, 14, 15; tests/scan/test_scan_taps.py tests the taps' checks in detail)."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import DisconnectedInputError
from theanine.graph.fgraph import MissingInputError
from theanine.sandbox.rng_mrg import MRG_RandomStreams
from theanine.tensor.shared_randomstreams import RandomStreams


@pytest.mark.parametrize("how", ["non_sequences", "closure"])
@pytest.mark.parametrize("dist", ["binomial", "uniform"])
def test_draw_outside_the_loop_is_drawn_once(mode, how, dist):
    srng = RandomStreams(123)
    x = T.dmatrix("x")
    y = (srng.binomial(size=x.shape, p=x) if dist == "binomial"
         else srng.uniform(size=x.shape, low=0.0, high=x))
    if how == "non_sequences":
        z, updates = theano.scan(lambda a: a, non_sequences=y, n_steps=2)
    else:
        z, updates = theano.scan(lambda: y * 1, n_steps=2)
    f = theano.function([x], [y, z], updates=updates, mode=mode)
    ny, nz = f(np.full((3, 4), 0.5))
    np.testing.assert_array_equal(nz[0], ny)
    np.testing.assert_array_equal(nz[1], ny)
    ny2, _ = f(np.full((3, 4), 0.5))
    assert not np.array_equal(ny, ny2)  # the generator still advances per call


@pytest.mark.parametrize("mode_name", ["FAST_COMPILE", "DebugMode", "no_rewrites_py",
                                       "no_rewrites_numba"])
def test_draw_outside_the_loop_is_drawn_once_in_every_mode(mode_name):
    """The issue's program, float32 as Theano's floatX, in the modes the fixture does
    not cover (the front end evaluates the draw outside; no rewrite is needed)."""
    modes = {"no_rewrites_py": theano.Mode(linker="py", optimizer=None),
             "no_rewrites_numba": theano.Mode(linker="numba", optimizer=None)}
    srng = RandomStreams(123)
    x = T.matrix("x")
    y = srng.binomial(size=x.shape, p=x)
    z, updates = theano.scan(lambda a: a, non_sequences=y, n_steps=2)
    ny, nz = theano.function([x], [y, z], updates=updates, mode=modes.get(mode_name, mode_name))(
        np.full((3, 4), 0.5, dtype=x.dtype))
    np.testing.assert_array_equal(nz[0], ny)
    np.testing.assert_array_equal(nz[1], ny)


def test_mask_outside_and_noise_inside_from_one_stream(mode):
    srng = RandomStreams(7)
    h0 = T.dvector("h0")
    mask = srng.binomial(size=h0.shape, p=0.5)  # variational dropout: one mask

    def step(h):
        return h * mask + srng.uniform(size=h.shape)  # fresh noise at every step

    hs, updates = theano.scan(step, outputs_info=[h0], n_steps=3)
    f = theano.function([h0], [mask, hs], updates=updates, mode=mode)
    m, out = f(np.zeros(50))
    noise = [out[0]] + [out[t] - out[t - 1] * m for t in (1, 2)]
    assert np.all((noise[0] >= 0) & (noise[0] < 1))
    for t in (1, 2):
        np.testing.assert_allclose(noise[t], out[t] - out[t - 1] * m)
        assert np.all((noise[t] >= -1e-12) & (noise[t] < 1))
    assert not np.allclose(noise[1], noise[2])


def test_mrg_mask_outside_is_drawn_once(mode):
    srng = MRG_RandomStreams(3)
    mask = srng.binomial(size=(4,), p=0.5, dtype="float64")
    z, updates = theano.scan(lambda: mask * 2, n_steps=3)
    m, out = theano.function([], [mask, z], updates=updates, mode=mode)()
    for row in out:
        np.testing.assert_array_equal(row, m * 2)


def test_closure_over_an_explicitly_updated_shared_variable_is_recomputed(mode):
    w = theano.shared(1.0, name="w")
    y = w * 2  # Theano rebuilds it from the updated w at every step

    z, updates = theano.scan(lambda: (y, {w: w + 1}), n_steps=3)
    f = theano.function([], z, updates=updates, mode=mode)
    np.testing.assert_array_equal(f(), [2.0, 4.0, 6.0])
    assert w.get_value() == 4.0


def test_rop_through_a_loop_that_draws(mode):
    srng = RandomStreams(1)
    x = T.dvector("x")
    z, updates = theano.scan(lambda a: a * srng.uniform(a.shape), sequences=[x])
    r = T.Rop(z.sum(), x, T.ones_like(x))
    zz, rr = theano.function([x], [z, r], updates=updates, mode=mode)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(rr, (zz / [1.0, 2.0, 3.0]).sum())
    g = T.grad(z.sum(), x)  # the gradient through it works too
    zz, gg = theano.function([x], [z, g], updates=updates, mode=mode)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(gg, zz / [1.0, 2.0])


def test_grad_wrt_an_initial_state_never_read_is_disconnected(mode):
    z0 = T.dscalar("z0")
    x = T.dvector("x")
    z, _ = theano.scan(lambda a, prev: a * 2, sequences=[x], outputs_info=[z0])
    with pytest.raises(DisconnectedInputError):
        T.grad(z.sum(), z0)
    g = T.grad(z.sum(), z0, disconnected_inputs="ignore")
    assert theano.function([z0], g, mode=mode)(1.0) == 0.0
    # read through another carry, the initial state is connected
    z, _ = theano.scan(lambda a, p, q: [q * a, p], sequences=[x], outputs_info=[z0, z0 * 0])
    g = T.grad(z[0].sum(), z0)
    assert theano.function([z0, x], g, mode=mode)(1.0, np.array([3.0, 5.0])) == 5.0


def test_a_scalar_tap_is_a_list_of_one(mode):
    """Item 8: dict(input=u, taps=-2) is dict(input=u, taps=[-2]), for sequences
    and outputs."""
    u, y0 = T.dvector("u"), T.dvector("y0")
    r, _ = theano.scan(lambda a, b: a * 10 + b, sequences=dict(input=u, taps=-2),
                       outputs_info=dict(initial=y0, taps=-2))
    uv, y0v = np.arange(1.0, 7.0), np.array([0.5, 0.25])
    got = theano.function([u, y0], r, mode=mode)(uv, y0v)
    ys = list(y0v)
    for t in range(2, len(uv)):  # step t-2 reads u[t-2] and y[t-2]
        ys.append(uv[t - 2] * 10 + ys[-2])
    np.testing.assert_allclose(got, ys[2:])


def test_step_may_return_an_empty_updates_tuple_with_until(mode):
    """Item 9: ([out], (), until(c)) is accepted."""
    x = T.dvector("x")

    def step(e, acc):
        new = acc + e
        return [new], (), theano.scan_module.until(new > 5)

    r, upd = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
    assert len(upd) == 0
    got = theano.function([x], r, mode=mode)(np.arange(10.0))
    np.testing.assert_allclose(got, [0.0, 1.0, 3.0, 6.0])


def test_repeated_output_taps_are_a_value_error():
    """Item 14: outputs_info=dict(initial=y, taps=[-1, -1])."""
    y = T.dvector("y")
    with pytest.raises(ValueError, match=r"outputs_info\[0\].*taps must be different"):
        theano.scan(lambda a, b: a + b, outputs_info=dict(initial=y, taps=[-1, -1]),
                    n_steps=2)


def test_strict_scan_missing_shared_variable_is_theanos_missing_input_error():
    """Item 15: theano.gof.fg.MissingInputError (theanine.graph.fgraph's, also
    theano.MissingInputError), a ValueError too, with the message naming the
    shared variable and the fix."""
    w = theano.shared(np.float64(2.0), name="w")
    x = T.dvector("x")
    with pytest.raises(MissingInputError, match="shared variable w.*non_sequences") as info:
        theano.scan(lambda e: e * w, sequences=x, strict=True)
    assert isinstance(info.value, ValueError)
    assert theano.MissingInputError is MissingInputError
    r, _ = theano.scan(lambda e, v: e * v, sequences=x, non_sequences=[w], strict=True)
    assert r.ndim == 1  # given as a non-sequence, strict accepts it

