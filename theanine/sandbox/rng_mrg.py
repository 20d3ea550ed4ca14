"""MRG_RandomStreams: Theano's second random-stream class, drawing with MRG31k3p
exactly as Theano does (same seed, same numbers).

The distributions Theano's class had (uniform, normal, truncated_normal,
binomial with n=1, multinomial and choice over the rows of a probability matrix)
are built, as in Theano, from one MRGUniform draw per call whose state is an
int32 (n_streams, 6) shared matrix: tensors only, so they compile to native code
on every backend, inside scan loops too. The others (poisson, permutation,
random_integers, binomial with n > 1, multinomial of a vector pvals, choice with
replacement or from `a`) draw from a NumPy Generator, as RandomStreams does.

Invariants:
- Every MRG draw gets ``get_substream_rstates(n)``: n streams 2**72 steps apart
  starting at the class state, which then moves 2**134 steps on; n is `nstreams`,
  else Theano's guess (prod(size) // 6, at most 60 * 256; 60 * 256 when the size
  is symbolic, as for normal, multinomial and choice).
- ``seed(s)`` resets the class state and reseeds every draw made so far, in
  creation order, exactly as a fresh ``MRG_RandomStreams(s)`` would have.
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.tensor import shared_randomstreams as rs
from theanine.tensor.basic import as_tensor_variable, constant
from theanine.tensor.dims import broadcast_shape
from theanine.tensor.sharedvar import shared

from . import mrg_core
from .mrg_normal import box_muller
from .mrg_ops import ChoiceFromUniform, MRGUniform, MultinomialFromUniform

__all__ = ["MRG_RandomStreams", "guess_n_streams"]

guess_n_streams = mrg_core.guess_n_streams


def _seed_sequence(seed):
    return np.random.SeedSequence([int(s) for s in np.atleast_1d(seed)])


class MRG_RandomStreams(rs.RandomStreamsBase):
    """Random streams seeded from `seed`: an int in [1, 2147462578] (default 12345,
    as Theano) or six ints."""

    def __init__(self, seed=12345):
        super().__init__()
        self.default_instance_seed = seed
        self._draws = []  # (shared state, n_streams or None for a Generator)
        self.set_rstate(seed)

    # -- state ------------------------------------------------------------------
    def set_rstate(self, seed):
        """Set the class state (where the next draw's streams start) from seed."""
        self.rstate = mrg_core.check_seed(seed)
        self._seeds = _seed_sequence(self.rstate)

    def inc_rstate(self):
        """Move the class state 2**134 steps on (the next draw's first stream)."""
        self.rstate = mrg_core.next_class_state(self.rstate)

    def get_substream_rstates(self, n_streams, dtype=None, inc_rstate=True):
        """(n_streams, 6) int32: streams 2**72 steps apart from the class state."""
        if not isinstance(n_streams, (int, np.integer)) or n_streams < 1:
            raise ValueError(f"MRG_RandomStreams: nstreams must be a positive int, got "
                             f"{n_streams!r}")
        rows = mrg_core.substreams(self.rstate, int(n_streams))
        if inc_rstate:
            self.inc_rstate()
        return rows

    def n_streams(self, size):
        return guess_n_streams(size)

    def _new_generator(self):
        return np.random.Generator(np.random.PCG64(self._seeds.spawn(1)[0]))

    def gen(self, op, *args, **kwargs):
        out = super().gen(op, *args, **kwargs)
        self._draws.append((out.rng, None))
        return out

    def seed(self, seed=None):
        """Reseed every draw made so far (seed None: the constructor's seed)."""
        self.set_rstate(self.default_instance_seed if seed is None else seed)
        for var, n in self._draws:
            value = self._new_generator() if n is None else self.get_substream_rstates(n)
            var.set_value(value, borrow=True)

    # -- the MRG draw -------------------------------------------------------------
    def _uniform01(self, size, ndim, dtype, nstreams, guess_from):
        """Uniforms in [0, 1) of shape `size` (int64 vector, length ndim) from a new
        shared state; nstreams None: guessed from `guess_from` (Theano's rule)."""
        n = self.n_streams(guess_from) if nstreams is None else nstreams
        rstate = shared(self.get_substream_rstates(n))
        rstate.tag.is_rng = True
        new_rstate, u = MRGUniform(ndim, dtype)(rstate, size)
        rstate.default_update = new_rstate
        self.state_updates.append((rstate, new_rstate))
        self._draws.append((rstate, n))
        u.rstate = u.rng = rstate
        u.update = (rstate, new_rstate)
        return u

    def _mrg_size(self, size, ndim, params, fname):
        """(int64 size vector, its length, what guesses the number of streams): size,
        or the parameters' broadcast shape when size is None or () (then symbolic,
        as for Theano: 60 * 256 streams)."""
        if size is None or (isinstance(size, (tuple, list)) and len(size) == 0):
            nd = max([p.ndim for p in params], default=0)
            if nd == 0:
                return constant(np.zeros(0, dtype="int64")), 0, ()
            shapes = [tuple(T.shape(p)[i] for i in range(p.ndim)) for p in params]
            dims = [T.cast(d, "int64") for d in broadcast_shape(*shapes)]
            return T.stack(dims), nd, None
        v, length = rs.size_vector(size, fname)
        if length is None:
            if ndim is None:
                raise ValueError(f"{fname}: the length of the symbolic size {size} is not "
                                 "known; pass ndim=<its length>")
            length = ndim
        if ndim is not None and ndim != length:
            raise ValueError(f"{fname}: ndim={ndim} but size has {length} entries")
        if isinstance(size, (tuple, list)) and any(
                isinstance(s, (int, np.integer)) and s < 0 for s in size):
            raise ValueError(f"{fname}: size must hold non-negative lengths, got {size}")
        return v, length, size

    def _scaled(self, u, scale, shift, fname):
        r = u * scale + shift
        if r.broadcastable != u.broadcastable:
            raise ValueError(f"{fname}: the parameters ({scale.type}, {shift.type}) have "
                             f"more or longer dims than the sample of size {u.type}; give a "
                             "size that covers them")
        return self._tag(r, u)

    # -- distributions --------------------------------------------------------------
    def uniform(self, size=(), low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        """Uniform samples in [low, high) of `size`; dtype defaults to
        upcast(floatX, low, high)."""
        dtype = rs._float_dtype("uniform", dtype, [low, high])
        low, high = (T.cast(as_tensor_variable(v), dtype) for v in (low, high))
        v, nd, guess = self._mrg_size(size, ndim, [low, high], "uniform")
        u = self._uniform01(v, nd, dtype, nstreams, guess)
        return self._scaled(u, high - low, low, "uniform")

    def binomial(self, size=(), n=1, p=0.5, ndim=None, dtype="int64", nstreams=None,
                 prob=None):
        """Successes in n trials of probability p; n=1 is Theano's MRG draw
        (uniform < p), larger n draws from a Generator."""
        p = prob if prob is not None else p  # Theano's old keyword
        if not (isinstance(n, (int, np.integer)) and n == 1):
            return super().binomial(size, n, p, ndim=ndim, dtype=dtype)
        p = as_tensor_variable(p)
        v, nd, guess = self._mrg_size(size, ndim, [p], "binomial")
        u = self._uniform01(v, nd, rs._float_dtype("binomial", None, []), nstreams, guess)
        out = T.cast(T.lt(u, p), dtype)
        if out.broadcastable != u.broadcastable:
            raise ValueError(f"binomial: p ({p.type}) has more or longer dims than the "
                             f"sample of size {u.type}; give a size that covers it")
        return self._tag(out, u)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        """Normal samples (Box-Muller on MRG uniforms, as Theano); truncate=True
        keeps them within avg +- 2 std (Theano's redraw of the outliers' radii)."""
        dtype = rs._float_dtype("normal", dtype, [avg, std])
        avg, std = (T.cast(as_tensor_variable(v), dtype) for v in (avg, std))
        v, nd, _ = self._mrg_size(size, ndim, [avg, std], "normal")
        z = box_muller(self, v, nd, dtype, nstreams, truncate)
        return self._scaled(z, std, avg, "normal")

    def truncated_normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None,
                         nstreams=None):
        """Normal within avg +- 2 (std / 0.8796...) (Theano's scaling)."""
        std = as_tensor_variable(std) / constant(0.87962566103423978)
        return self.normal(size, avg, std, ndim=ndim, dtype=dtype, nstreams=nstreams,
                           truncate=True)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                    nstreams=None):
        """One row of counts of n draws per row of the matrix pvals (Theano's MRG
        form); a vector pvals, or a size, draws as RandomStreams.multinomial."""
        if pvals is None:
            raise TypeError("MRG_RandomStreams.multinomial: pvals is required (a matrix "
                            "with one row of probabilities per draw)")
        pv = as_tensor_variable(pvals)
        if pv.ndim != 2 or size is not None or ndim is not None:
            return super().multinomial(size, n, pvals, ndim=ndim, dtype=dtype)
        n = as_tensor_variable(n)
        unis = self._rows_uniform(pv, n, nstreams)
        return self._tag(MultinomialFromUniform(dtype)(pv, unis, n), unis)

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
            pv, n = as_tensor_variable(p), as_tensor_variable(size)
            if n.ndim != 0 or not n.dtype.startswith(("int", "uint")):
                raise TypeError(f"choice: size must be an integer scalar with a matrix p, "
                                f"got {n.type}")
            unis = self._rows_uniform(pv, n, nstreams)
            return self._tag(ChoiceFromUniform(dtype)(pv, unis, n), unis)
        return super().choice(size, 2 if a is None else a, replace, p, ndim=ndim,
                              dtype=dtype)

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None,
                                   dtype="int64", nstreams=None):
        """Theano's old name for choice(size=n, p=pvals, replace=False)."""
        return self.choice(size=n, p=pvals, replace=False, ndim=ndim, dtype=dtype,
                           nstreams=nstreams)

    def _rows_uniform(self, pv, n, nstreams):
        count = T.cast(T.shape(pv)[0], "int64") * T.cast(n, "int64")
        return self._uniform01(T.stack([count]), 1, rs._float_dtype("mrg", None, []),
                               nstreams, None)

    @staticmethod
    def _tag(out, u):
        """out, carrying the state and update of the draw `u` it comes from (Theano's
        sample.rstate and sample.update)."""
        out.rstate = out.rng = u.rstate
        out.update = u.update
        return out

    def permutation(self, size=(), n=1, ndim=None, dtype="int64", nstreams=None):
        return super().permutation(size, n, ndim=ndim, dtype=dtype)

    def random_integers(self, size=(), low=0, high=1, ndim=None, dtype="int64",
                        nstreams=None):
        return super().random_integers(size, low, high, ndim=ndim, dtype=dtype)

    def poisson(self, size=(), lam=1.0, ndim=None, dtype="int64", nstreams=None):
        return super().poisson(size, lam, ndim=ndim, dtype=dtype)
