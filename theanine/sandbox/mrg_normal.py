"""Normal samples from MRG uniforms, as Theano's MRG_RandomStreams.normal draws them.

Invariants:
- For n samples, one draw of m = n + n % 2 uniforms u; with u1 = u[:m/2],
  u2 = u[m/2:], r = sqrt(-2 log u1) and theta = 2 pi u2, the samples are the first
  n of concatenate([r cos theta, r sin theta]), reshaped to the size.
- truncate: the values outside [-2, 2] get new radii from a second draw of
  uniforms in [exp(-2), 1) (so r <= 2), keeping their angle; the valid values of
  each half come first, then the redrawn ones (Theano's order).
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T


def box_muller(streams, size, ndim, dtype, nstreams, truncate):
    """Standard normal samples of shape `size` (int64 vector of length ndim)."""
    n_odd = T.prod(size, dtype="int64") if ndim else T.constant(np.int64(1))
    n_even = n_odd + n_odd % 2
    u = streams._uniform01(T.stack([n_even]), 1, dtype, nstreams, None)
    half = n_even // 2
    u1, u2 = u[:half], u[half:]
    r = T.sqrt(np.asarray(-2.0, dtype=dtype) * T.log(u1))
    theta = np.asarray(2.0 * np.pi, dtype=dtype) * u2
    cos_t, sin_t = T.cos(theta), T.sin(theta)
    z0, z1 = r * cos_t, r * sin_t
    if truncate:
        bad0, bad1 = (z0 < -2.0) | (z0 > 2.0), (z1 < -2.0) | (z1 > 2.0)
        fix0, fix1 = T.flatnonzero(bad0), T.flatnonzero(bad1)
        n_fix = T.cast(fix0.shape[0] + fix1.shape[0], "int64")
        low = np.asarray(1.0 / np.e ** 2, dtype=dtype)  # Theano's constant, to the bit
        u_fix = streams._uniform01(T.stack([n_fix]), 1, dtype, nstreams, None)
        r_fix = T.sqrt(np.asarray(-2.0, dtype=dtype)
                       * T.log(u_fix * (np.asarray(1.0, dtype=dtype) - low) + low))
        parts = [z0[T.flatnonzero(~bad0)], r_fix[:fix0.shape[0]] * cos_t[fix0],
                 z1[T.flatnonzero(~bad1)], r_fix[fix0.shape[0]:] * sin_t[fix1]]
    else:
        parts = [z0, z1]
    z = T.concatenate(parts)[:n_odd]
    return streams._tag(T.reshape(z, size, ndim=ndim), u)
