"""scan as Theano 1.0 programs use it: values computed outside the loop (a dropout
mask drawn once, passed as a non-sequence or closed over) are evaluated once; Rop
through a loop that draws; the gradient wrt an initial state no step reads is
disconnected."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import DisconnectedInputError
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
