"""MRG_RandomStreams: Theano's second random-stream class, under its name.

It draws with numpy's PCG64 ``Generator`` instead of Theano's MRG31k3p (the
numbers differ from Theano's; the API and the distributions are the same).

Invariants:
- The k-th draw created by ``MRG_RandomStreams(seed)`` (or after ``seed(seed)``)
  gets ``Generator(PCG64(c_k))`` where c_k is the k-th child spawned from
  ``SeedSequence(seed)``: the same seed gives the same numbers.
- ``nstreams`` (the number of parallel MRG streams in Theano) is accepted and
  has no effect on the numbers' distribution.
"""

from __future__ import annotations

import numpy as np

from theanine.tensor import shared_randomstreams as rs
from theanine.tensor.basic import as_tensor_variable

__all__ = ["MRG_RandomStreams"]


def _seed_sequence(seed):
    if isinstance(seed, (list, tuple)):
        seed = [int(s) for s in seed]
    elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"MRG_RandomStreams: seed must be an int or a list of ints, got "
                        f"{seed!r}")
    elif seed < 0:
        raise ValueError(f"MRG_RandomStreams: seed must be non-negative, got {seed}")
    return np.random.SeedSequence(seed)


class MRG_RandomStreams(rs.RandomStreamsBase):
    """Random streams seeded from `seed` (default 12345, as Theano)."""

    def __init__(self, seed=12345):
        super().__init__()
        self.default_instance_seed = seed
        self._seeds = _seed_sequence(seed)

    def _new_generator(self):
        return np.random.Generator(np.random.PCG64(self._seeds.spawn(1)[0]))

    def seed(self, seed=None):
        """Reseed every generator made so far (seed None: the constructor's seed)."""
        if seed is None:
            seed = self.default_instance_seed
        self._seeds = _seed_sequence(seed)
        for rng, _ in self.state_updates:
            rng.set_value(self._new_generator(), borrow=True)

    def uniform(self, size=(), low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        return super().uniform(size, low, high, ndim=ndim, dtype=dtype)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        """Normal samples; truncate=True restricts them to avg +- 2 std."""
        return self.gen(rs.normal, size, avg, std, ndim=ndim, dtype=dtype,
                        truncate=truncate)

    def truncated_normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None,
                         nstreams=None):
        return self.normal(size, avg, std, ndim=ndim, dtype=dtype, truncate=True)

    def binomial(self, size=(), n=1, p=0.5, ndim=None, dtype="int64", nstreams=None,
                 prob=None):
        return super().binomial(size, n, p, ndim=ndim, dtype=dtype, prob=prob)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                    nstreams=None):
        """One row of counts per row of pvals (pvals is required, as in Theano)."""
        if pvals is None:
            raise TypeError("MRG_RandomStreams.multinomial: pvals is required (a matrix "
                            "with one row of probabilities per draw)")
        return super().multinomial(size, n, pvals, ndim=ndim, dtype=dtype)

    def choice(self, size=1, a=None, replace=False, p=None, ndim=None, dtype="int64",
               nstreams=None):
        """Theano's MRG form (a None, p a matrix): `size` distinct indices per row of p,
        shape (p.shape[0], size). Otherwise as RandomStreams.choice (a defaults to 2)."""
        if a is None and p is not None and as_tensor_variable(p).ndim == 2:
            if replace:
                raise ValueError("MRG_RandomStreams.choice: with a matrix p (one row per "
                                 "draw) only replace=False is supported, got replace=True")
            if ndim is not None:
                raise ValueError("MRG_RandomStreams.choice: ndim is not used with a "
                                 f"matrix p, got ndim={ndim}")
            return self.gen(rs.choice_rows, p, size, dtype=dtype)
        return super().choice(size, 2 if a is None else a, replace, p, ndim=ndim,
                              dtype=dtype)

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None,
                                   dtype="int64", nstreams=None):
        """Theano's old name for choice(size=n, p=pvals, replace=False)."""
        return self.choice(size=n, p=pvals, replace=False, ndim=ndim, dtype=dtype)

    def permutation(self, size=(), n=1, ndim=None, dtype="int64", nstreams=None):
        return super().permutation(size, n, ndim=ndim, dtype=dtype)

    def random_integers(self, size=(), low=0, high=1, ndim=None, dtype="int64",
                        nstreams=None):
        return super().random_integers(size, low, high, ndim=ndim, dtype=dtype)
