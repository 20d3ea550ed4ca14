"""Random streams (Theano's ``RandomStreams``) and the raw draw functions.

A raw function takes a random-state variable and returns ``(new_state, sample)``
(Theano's ``raw_random``). A stream owns one shared generator per draw it
created; each has ``default_update`` set to the draw's new state, so every call
of a compiled function advances it.

Invariants:
- The k-th draw created by ``RandomStreams(seed)`` (or after ``seed(seed)``) gets
  ``RandomState(s_k)`` where s_k is the k-th ``randint(2**30)`` of
  ``RandomState(seed)``, as in Theano 1.0, so the same seed gives the same numbers.
- ``seed(s)`` reseeds every generator created so far, in creation order, exactly
  as a fresh ``RandomStreams(s)`` would have seeded them.
"""

from __future__ import annotations

import numpy as np

from theanine.config import config
from theanine.graph.basic import Constant, Variable

from .basic import as_tensor_variable, constant
from .math import cast
from .random import DISTRIBUTIONS, RandomOp
from .shape import make_vector, static_length
from .sharedvar import shared
from .type import canonical_dtype, float_dtypes, integer_dtypes, upcast

__all__ = ["RandomStreams", "RandomStreamsBase", "uniform", "normal", "binomial",
           "poisson", "random_integers", "multinomial", "choice", "permutation"]


def size_vector(size, fname):
    """(int64 vector, its static length or None) for a size given as None, an int,
    a tuple/list of ints and symbolic integer scalars, or a symbolic int vector."""
    if size is None:
        return constant(np.zeros(0, dtype="int64")), 0
    if isinstance(size, np.ndarray) and size.ndim <= 1 and size.dtype.kind in "iu":
        size = size.tolist()
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size,)
    if isinstance(size, (list, tuple)):
        entries = [_size_entry(s, k, fname) for k, s in enumerate(size)]
        if all(isinstance(e, int) for e in entries):
            return constant(np.asarray(entries, dtype="int64").reshape(len(entries))), \
                len(entries)
        return make_vector(*[constant(np.int64(e)) if isinstance(e, int) else cast(e, "int64")
                             for e in entries], dtype="int64"), len(entries)
    if isinstance(size, Variable):
        v = as_tensor_variable(size)
        if v.ndim != 1 or v.dtype not in integer_dtypes:
            raise TypeError(f"{fname}: a symbolic size must be an integer vector, got "
                            f"{v} of type {v.type}")
        return cast(v, "int64"), static_length(v)
    raise TypeError(f"{fname}: size must be a tuple of ints / symbolic integer scalars, "
                    f"or a symbolic integer vector, got {size!r}")


def _size_entry(s, k, fname):
    if isinstance(s, np.ndarray) and s.ndim == 0 and s.dtype.kind in "iu":
        s = int(s)
    if isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)):
        if s < -1:
            raise ValueError(f"{fname}: size[{k}] must be a non-negative length (or -1 "
                             f"for the parameters' length), got {s}")
        return int(s)
    if isinstance(s, Variable):
        v = as_tensor_variable(s)
        if v.ndim != 0 or v.dtype not in integer_dtypes:
            raise TypeError(f"{fname}: size[{k}] must be an integer scalar, got {v} of "
                            f"type {v.type}")
        if isinstance(v, Constant):
            return _size_entry(int(v.data), k, fname)
        return v
    raise TypeError(f"{fname}: size[{k}] must be an int or a symbolic integer scalar, "
                    f"got {s!r}")


def draw(dist, random_state, size, params, ndim, dtype, fname=None):
    """Apply RandomOp for `dist`: returns [new_state, sample]."""
    fname = fname or dist
    spec = DISTRIBUTIONS[dist]
    size_v, length = size_vector(size, fname)
    params = [as_tensor_variable(p) for p in params]
    need = 0
    for name, core, p in zip(spec.names, spec.cores, params):
        if core is not None and p.ndim < core:
            raise ValueError(f"{fname}: {name} must have at least {core} dims, got "
                             f"{p.type}")
        if core is not None and ndim is not None and p.ndim - core > ndim:
            raise ValueError(f"{fname}: ndim={ndim} is less than the {p.ndim - core} "
                             f"dims of {name} ({p.type}); raise ndim")
        if core is not None:
            need = max(need, p.ndim - core)
    if length is None and ndim is None:
        raise ValueError(f"{fname}: the length of the symbolic size {size} is not known; "
                         "pass ndim=<its length>")
    if length is not None and ndim is not None and ndim < length:
        raise ValueError(f"{fname}: ndim={ndim} but size has {length} entries")
    nd = max(length or 0, ndim or 0, need)
    return RandomOp(dist, nd, dtype)(random_state, size_v, *params)


def _float_dtype(fname, dtype, params):
    if dtype is None:
        return upcast(config.floatX, *[as_tensor_variable(p).dtype for p in params])
    dtype = canonical_dtype(dtype, arg=f"{fname}: dtype")
    if dtype not in float_dtypes:
        raise TypeError(f"{fname}: dtype must be a float dtype {float_dtypes}, got {dtype!r}")
    return dtype


def uniform(random_state, size=None, low=0.0, high=1.0, ndim=None, dtype=None):
    """Samples uniform in [low, high); dtype defaults to upcast(floatX, low, high)."""
    dtype = _float_dtype("uniform", dtype, [low, high])
    return draw("uniform", random_state, size, [low, high], ndim, dtype)


def normal(random_state, size=None, avg=0.0, std=1.0, ndim=None, dtype=None,
           truncate=False):
    """Normal samples; with truncate, restricted to avg +- 2 std (outliers redrawn)."""
    dtype = _float_dtype("normal", dtype, [avg, std])
    dist = "truncated_normal" if truncate else "normal"
    return draw(dist, random_state, size, [avg, std], ndim, dtype, "normal")


def binomial(random_state, size=None, n=1, p=0.5, ndim=None, dtype="int64"):
    """Number of successes in n trials of probability p."""
    return draw("binomial", random_state, size, [n, p], ndim, dtype)


def poisson(random_state, size=None, lam=1.0, ndim=None, dtype="int64"):
    """Poisson samples of mean lam."""
    return draw("poisson", random_state, size, [lam], ndim, dtype)


def random_integers(random_state, size=None, low=0, high=1, ndim=None, dtype="int64"):
    """Integers uniform in [low, high] (high inclusive, as Theano)."""
    return draw("random_integers", random_state, size, [low, high], ndim, dtype)


def multinomial(random_state, size=None, n=1, pvals=None, ndim=None, dtype="int64"):
    """Counts of n draws among len(pvals[..., :]) outcomes: the sample's shape is the
    batch shape (size, or pvals.shape[:-1]) plus (k,). A matrix pvals gives one row of
    counts per row of probabilities (Theano's MRG multinomial)."""
    pvals = [0.5, 0.5] if pvals is None else pvals
    return draw("multinomial", random_state, size, [n, pvals], ndim, dtype)


def choice(random_state, size=None, a=2, replace=True, p=None, ndim=None, dtype="int64"):
    """Elements of a (range(a) if a is a scalar) chosen with probabilities p."""
    a_v = as_tensor_variable(a)
    if a_v.ndim > 1 or (a_v.ndim == 0 and a_v.dtype not in integer_dtypes):
        raise TypeError(f"choice: a must be an integer scalar or a vector, got {a_v.type}")
    dtype = canonical_dtype(dtype, arg="choice: dtype")
    if a_v.ndim == 1 and a_v.dtype.startswith("float") and dtype not in float_dtypes:
        raise TypeError(f"choice: a holds {a_v.dtype} values but dtype is {dtype!r}; pass "
                        f"dtype='{a_v.dtype}'")
    params = [a_v] if p is None else [a_v, p]
    if p is not None and as_tensor_variable(p).ndim != 1:
        raise TypeError(f"choice: p must be a vector, got {as_tensor_variable(p).type}")
    dist = "choice" if replace else "choice_without_replacement"
    return draw(dist, random_state, size, params, ndim, dtype, "choice")


def permutation(random_state, size=None, n=1, ndim=None, dtype="int64"):
    """Permutations of range(n): the sample's shape is size + (n,)."""
    n_v = as_tensor_variable(n)
    if n_v.ndim != 0 or n_v.dtype not in integer_dtypes:
        raise TypeError(f"permutation: n must be an integer scalar, got {n_v.type}")
    return draw("permutation", random_state, size, [n_v], ndim, dtype)


def choice_rows(random_state, p, n=1, dtype="int64"):
    """For each row of matrix p, n distinct indices drawn with probabilities p[row]
    (Theano's MRG choice without replacement): shape (p.shape[0], n)."""
    n_v = as_tensor_variable(n)
    if n_v.ndim != 0 or n_v.dtype not in integer_dtypes:
        raise TypeError(f"choice: size must be an integer scalar, got {n_v.type}")
    p_v = as_tensor_variable(p)
    if p_v.ndim != 2:
        raise TypeError(f"choice: p must be a matrix (one row per draw), got {p_v.type}")
    return draw("choice_rows", random_state, None, [p_v, n_v], None, dtype, "choice")


class RandomStreamsBase:
    """Methods shared by RandomStreams and MRG_RandomStreams; subclasses say how a
    new generator is seeded (``_new_generator``) and reseeded (``seed``)."""

    def __init__(self):
        self.state_updates = []

    def gen(self, op, *args, **kwargs):
        """Draw with raw function `op(random_state, *args, **kwargs)` from a new shared
        generator; its default update advances it at each call."""
        rng = shared(self._new_generator())
        rng.tag.is_rng = True
        new_rng, out = op(rng, *args, **kwargs)
        out.rng = rng
        out.update = (rng, new_rng)
        rng.default_update = new_rng
        self.state_updates.append(out.update)
        return out

    def updates(self):
        """The (shared generator, new state) pairs of every draw made so far."""
        return list(self.state_updates)

    def __getitem__(self, item):
        return item.get_value(borrow=True)

    def __setitem__(self, item, val):
        item.set_value(val, borrow=True)

    def uniform(self, size=(), low=0.0, high=1.0, ndim=None, dtype=None):
        return self.gen(uniform, size, low, high, ndim=ndim, dtype=dtype)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None):
        return self.gen(normal, size, avg, std, ndim=ndim, dtype=dtype)

    def binomial(self, size=(), n=1, p=0.5, ndim=None, dtype="int64", prob=None):
        p = prob if prob is not None else p  # Theano's old keyword
        return self.gen(binomial, size, n, p, ndim=ndim, dtype=dtype)

    def poisson(self, size=(), lam=1.0, ndim=None, dtype="int64"):
        return self.gen(poisson, size, lam, ndim=ndim, dtype=dtype)

    def random_integers(self, size=(), low=0, high=1, ndim=None, dtype="int64"):
        return self.gen(random_integers, size, low, high, ndim=ndim, dtype=dtype)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64"):
        return self.gen(multinomial, size, n, pvals, ndim=ndim, dtype=dtype)

    def choice(self, size=(), a=2, replace=True, p=None, ndim=None, dtype="int64"):
        return self.gen(choice, size, a, replace, p, ndim=ndim, dtype=dtype)

    def permutation(self, size=(), n=1, ndim=None, dtype="int64"):
        return self.gen(permutation, size, n, ndim=ndim, dtype=dtype)


class RandomStreams(RandomStreamsBase):
    """Theano's RandomStreams: numpy RandomState generators seeded from `seed`."""

    def __init__(self, seed=None):
        super().__init__()
        self.default_instance_seed = seed
        self.gen_seedgen = np.random.RandomState(seed)

    def _new_generator(self):
        return np.random.RandomState(int(self.gen_seedgen.randint(2 ** 30)))

    def seed(self, seed=None):
        """Reseed every generator made so far (seed None: the constructor's seed)."""
        if seed is None:
            seed = self.default_instance_seed
        self.gen_seedgen = np.random.RandomState(seed)
        for rng, _ in self.state_updates:
            rng.set_value(self._new_generator(), borrow=True)
