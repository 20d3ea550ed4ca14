"""Random number generators in the graph: the RNG type, shared RNG variables, and
the random-draw op.

A draw is ``RandomOp(dist, ndim, dtype)(rng, size, *params) -> (new_rng, sample)``.

Invariants:
- A generator value is a ``numpy.random.RandomState`` or ``numpy.random.Generator``.
  RandomOp is pure: it never advances its input generator; it draws from a copy
  and returns that copy as ``new_rng`` (a RandomState copy costs ~200 us). Only
  ``inplace=True`` draws advance their input: the rewrite scan_random_inplace uses
  them for a loop's generator carry, which the loop copies once at its start. A
  stream advances only because its shared RNG variable has ``default_update =
  new_rng`` (or an explicit update).
- ``size`` is an int64 vector of length <= ndim, padded on the left with -1; an
  entry -1 takes the length of the parameters' broadcast shape at that dim
  (Theano's convention). With ``size=()`` the sample has the parameters' shape.
- Each parameter has a number of trailing "core" dims (0 for low/high/avg/...,
  1 for pvals); its leading dims broadcast against the sample's batch shape.
  Parameters with core ``None`` (choice's a and p, permutation's n) do not
  broadcast. The sample's shape is the batch shape plus the dist's core dims.
- Gradients: disconnected for rng and size, undefined for the parameters.
"""

from __future__ import annotations

import copy

import numpy as np

from theanine.graph.basic import (
    Apply,
    Constant,
    Op,
    Type,
    Variable,
    disconnected_type,
    grad_undefined,
)
from theanine.graph.sharedvalue import Container, SharedVariable

from .basic import as_tensor_variable, constant
from .math import cast, lt, switch
from .shape import MakeVector, Shape, broadcast_shape, shape_elements, static_length
from .type import TensorType, canonical_dtype

_GENERATORS = (np.random.RandomState, np.random.Generator)


# Draws from a generator state that is an array (the jax backend's uint32[4] key: a
# loop the jax backend runs on the host, such as a memory-budgeted gradient's reverse
# loop, passes its keys to this op's Python implementation): the backend that made
# the key registers how to draw from it, so the host draws the numbers its compiled
# code would (scan/checkpointed_grad.py replays a loop's draws from checkpointed keys).
KEY_SAMPLERS = {}  # numpy dtype of the key -> fn(op, node, key, size, *params)


def unwrap_generator(value):
    """`value`, or the generator inside a 0-d object array (np.asarray(generator))."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 0:
        return value.item()
    return value


def copy_generator(rng):
    """An independent generator in the same state as `rng` (which is not touched)."""
    if isinstance(rng, np.random.Generator):
        bg = rng.bit_generator
        new = type(bg)()
        new.state = bg.state
        return np.random.Generator(new)
    if (type(rng) is np.random.RandomState
            and type(getattr(rng, "_bit_generator", None)) is np.random.MT19937):
        # much faster than deepcopy, which pickles the whole object
        new = np.random.RandomState(np.random.MT19937(0))
        new.set_state(rng.get_state(legacy=False))
        return new
    return copy.deepcopy(rng)


def generator_state(rng):
    """The full state of a generator, as a (nested) dict."""
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator.state
    return rng.get_state(legacy=False)


def _states_equal(a, b):
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_states_equal(a[k], b[k]) for k in a))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


class RandomStateType(Type):
    """Type of random generators (numpy RandomState or Generator)."""

    def filter(self, value, strict=False, allow_downcast=None, arg="value"):
        value = unwrap_generator(value)
        if isinstance(value, _GENERATORS):
            return value
        raise TypeError(f"{arg}: expected a numpy.random.RandomState or "
                        f"numpy.random.Generator, got {type(value).__name__}")

    def filter_variable(self, var, allow_convert=True):
        if isinstance(var, Variable) and var.type == self:
            return var
        raise TypeError(f"cannot convert {var!r} to {self}: expected a random generator "
                        "variable")

    def values_eq(self, a, b):
        a, b = unwrap_generator(a), unwrap_generator(b)
        return type(a) is type(b) and _states_equal(generator_state(a), generator_state(b))

    def data_signature(self, data):
        return ("rng", id(data))

    def make_variable(self, name=None):
        return RandomStateVariable(self, name=name)

    def __eq__(self, other):
        return type(other) is RandomStateType

    def __hash__(self):
        return hash(RandomStateType)

    def __str__(self):
        return "RandomStateType"

    __repr__ = __str__

    def __reduce__(self):
        return (RandomStateType, ())


random_state_type = RandomStateType()


class RandomStateVariable(Variable):
    """A symbolic random generator (the state a draw reads or returns)."""


class RandomStateSharedVariable(SharedVariable):
    """A shared random generator. ``get_value()`` returns a copy of it."""

    def __init__(self, value, name=None, strict=False, allow_downcast=None, borrow=False):
        Variable.__init__(self, random_state_type, owner=None, index=None, name=name)
        value = random_state_type.filter(value, arg=f"shared random state {name or ''}")
        self.container = Container(random_state_type,
                                   value if borrow else copy_generator(value), name)

    def get_value(self, borrow=False, return_internal_type=False):
        v = unwrap_generator(self.container.value)
        return v if borrow else copy_generator(v)

    def set_value(self, new_value, borrow=False):
        v = random_state_type.filter(new_value,
                                     arg=f"set_value of {self.name or 'shared random state'}")
        self.container.value = v if borrow else copy_generator(v)

    def zero(self, borrow=False):
        raise TypeError(f"zero(): {self} holds a random generator, not an array")


# -- distributions ------------------------------------------------------------
def _fmt(v):
    return np.array2string(np.asarray(v), threshold=6, edgeitems=2)


def _require(ok, dist, arg, expected, value):
    """Raise naming `arg` and its offending values unless `ok` holds everywhere."""
    if not np.all(ok):
        value = np.asarray(value)
        bad = np.unique(value[~np.broadcast_to(ok, value.shape)]) if value.ndim else value
        shown = _fmt(bad.reshape(())) if bad.size == 1 else _fmt(bad)
        raise ValueError(f"{dist}: {arg} must be {expected}, got {shown}")


def _check_probs(dist, arg, p, population=None):
    """Validate probability vectors (last axis) and return them normalised, as float64."""
    p = np.asarray(p, dtype="float64")
    _require(p >= 0, dist, arg, "non-negative probabilities", p)
    if population is not None and p.shape[-1] != population:
        raise ValueError(f"{dist}: {arg} must have {population} entries (one per "
                         f"element of a), got shape {p.shape}")
    sums = p.sum(axis=-1, keepdims=True)
    _require(np.abs(sums - 1) <= 1e-3, dist, f"the sum of {arg} (along its last axis)",
             "1", sums)
    return p / sums


def _is_int(x):
    x = np.asarray(x)
    return x.dtype.kind in "iub" or bool(np.all(np.floor(x) == x))


def _draw_uniform(rng, shape, low, high):
    return rng.uniform(low, high, shape)


def _draw_normal(rng, shape, avg, std):
    _require(std >= 0, "normal", "std", ">= 0", std)
    return rng.normal(avg, std, shape)


def _draw_truncated_normal(rng, shape, avg, std):
    """Normal restricted to [avg - 2 std, avg + 2 std] by redrawing outliers."""
    _require(std >= 0, "normal", "std", ">= 0", std)
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while np.any(bad):
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return avg + std * z


def _draw_binomial(rng, shape, n, p):
    _require((n >= 0) & _is_int(n), "binomial", "n", "a non-negative integer", n)
    _require((p >= 0) & (p <= 1), "binomial", "p", "in [0, 1]", p)
    return rng.binomial(np.asarray(n, dtype="int64"), p, shape)


def _draw_poisson(rng, shape, lam):
    _require(lam >= 0, "poisson", "lam", ">= 0", lam)
    return rng.poisson(lam, shape)


def _draw_random_integers(rng, shape, low, high):
    _require(low <= high, "random_integers", "low", "<= high (high is inclusive)",
             np.broadcast_arrays(low, high)[0])
    low, high = np.asarray(low, dtype="int64"), np.asarray(high, dtype="int64")
    if isinstance(rng, np.random.Generator):
        return rng.integers(low, high, size=shape, endpoint=True)
    return rng.randint(low, high + 1, size=shape)


def _draw_multinomial(rng, shape, n, pvals):
    _require((n >= 0) & _is_int(n), "multinomial", "n", "a non-negative integer", n)
    pvals = _check_probs("multinomial", "pvals", pvals)
    n = np.asarray(n, dtype="int64")
    if isinstance(rng, np.random.Generator):
        return rng.multinomial(n, pvals)
    out = np.empty(shape + pvals.shape[-1:], dtype="int64")
    for idx in np.ndindex(*shape):
        out[idx] = rng.multinomial(n[idx], pvals[idx])
    return out


def _population(a):
    a = np.asarray(a)
    if a.ndim == 0:
        _require((a >= 1) & _is_int(a), "choice", "a", "a positive integer (or a vector)", a)
        return int(a)
    _require(a.size > 0, "choice", "a", "a non-empty vector", a)
    return a.shape[0]


def _draw_choice(rng, shape, a, p=None, replace=True):
    k = _population(a)
    if p is not None:
        p = _check_probs("choice", "p", p, population=k)
    count = int(np.prod(shape, dtype="int64"))
    possible = k if p is None else int(np.count_nonzero(p))
    if not replace and count > possible:
        raise ValueError(f"choice: cannot draw {count} elements (size {shape}) without "
                         f"replacement from {possible} (non-zero probability) elements")
    a = int(a) if np.ndim(a) == 0 else a
    return rng.choice(a, size=shape, replace=replace, p=p)


def _draw_choice_without_replacement(rng, shape, a, p=None):
    return _draw_choice(rng, shape, a, p, replace=False)


def _draw_permutation(rng, shape, n):
    _require((n >= 0) & _is_int(n), "permutation", "n", "a non-negative integer", n)
    n = int(n)
    out = np.empty(shape + (n,), dtype="int64")
    for idx in np.ndindex(*shape):
        out[idx] = rng.permutation(n)
    return out


def _draw_choice_rows(rng, shape, p, n):
    """For each row of p: n distinct indices drawn with probabilities p[row]."""
    _require((n >= 0) & _is_int(n), "choice", "size", "a non-negative integer", n)
    n = int(n)
    p = _check_probs("choice", "p", p)
    fewest = int(np.min(np.count_nonzero(p, axis=-1), initial=n))
    if n > fewest:
        raise ValueError(f"choice: cannot draw size={n} elements without replacement from "
                         f"a row of p with only {fewest} non-zero probabilities")
    out = np.empty(shape + (n,), dtype="int64")
    for idx in np.ndindex(*shape):
        out[idx] = rng.choice(p.shape[-1], size=n, replace=False, p=p[idx])
    return out


class Dist:
    """A distribution: its parameters' names and core ndims (None: the parameter
    does not broadcast), the core ndim of a sample, and the sampler
    ``draw(rng, batch_shape, *params)``. The last ``len(names) - required``
    parameters may be omitted."""

    def __init__(self, names, cores, out_core, draw, required=None):
        self.names, self.cores, self.out_core, self.draw = names, cores, out_core, draw
        self.required = len(names) if required is None else required


DISTRIBUTIONS = {
    "uniform": Dist(("low", "high"), (0, 0), 0, _draw_uniform),
    "normal": Dist(("avg", "std"), (0, 0), 0, _draw_normal),
    "truncated_normal": Dist(("avg", "std"), (0, 0), 0, _draw_truncated_normal),
    "binomial": Dist(("n", "p"), (0, 0), 0, _draw_binomial),
    "poisson": Dist(("lam",), (0,), 0, _draw_poisson),
    "random_integers": Dist(("low", "high"), (0, 0), 0, _draw_random_integers),
    "multinomial": Dist(("n", "pvals"), (0, 1), 1, _draw_multinomial),
    "choice": Dist(("a", "p"), (None, None), 0, _draw_choice, required=1),
    "choice_without_replacement": Dist(("a", "p"), (None, None), 0,
                                       _draw_choice_without_replacement, required=1),
    "permutation": Dist(("n",), (None,), 1, _draw_permutation),
    "choice_rows": Dist(("p", "size"), (1, None), 1, _draw_choice_rows),
}


# NumPy broadcasts these samplers' scalar parameters itself, drawing the same numbers
# as from parameters broadcast to the sample's shape, twice as fast (binomial of
# (32, 64): 25 against 55 us)
_SCALAR_OK = {"uniform", "normal", "truncated_normal", "binomial", "poisson",
              "random_integers"}


# -- the op -------------------------------------------------------------------
class RandomOp(Op):
    """(rng, size, *params) -> (new_rng, sample): one draw from `dist`.

    ndim: the sample's batch ndim (the sample has ndim + the dist's core ndim dims).
    """

    __props__ = ("dist", "ndim", "dtype", "inplace")
    inplace = False  # (pickles made before the flag existed)

    def __init__(self, dist, ndim, dtype, inplace=False):
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"RandomOp: dist must be one of {sorted(DISTRIBUTIONS)}, "
                             f"got {dist!r}")
        self.dist, self.ndim, self.dtype = dist, int(ndim), canonical_dtype(dtype)
        self.inplace = bool(inplace)

    def make_node(self, rng, size, *params):
        spec = DISTRIBUTIONS[self.dist]
        if not isinstance(rng, Variable) or rng.type != random_state_type:
            raise TypeError(f"{self.dist}: the random state must be a random generator "
                            f"variable (e.g. theano.shared(numpy.random.RandomState(0))), "
                            f"got {rng!r}")
        size = as_tensor_variable(size)
        if size.ndim != 1 or size.dtype != "int64":
            raise TypeError(f"{self.dist}: size must be an int64 vector, got {size.type}")
        length = _static_length(size)
        if length is not None and length > self.ndim:
            raise ValueError(f"{self.dist}: size has {length} entries, more than the "
                             f"{self.ndim} dims of the sample")
        if not spec.required <= len(params) <= len(spec.names):
            raise TypeError(f"{self.dist}: expected parameters {spec.names}, got "
                            f"{len(params)} of them")
        params = [as_tensor_variable(p) for p in params]
        for name, core, p in zip(spec.names, spec.cores, params):
            if p.dtype.startswith("complex"):
                raise TypeError(f"{self.dist}: {name} must be real, got {p.type}")
            if core is not None and not core <= p.ndim <= core + self.ndim:
                raise ValueError(f"{self.dist}: {name} must have between {core} and "
                                 f"{core + self.ndim} dims, got {p.ndim} ({p.type})")
        bcast = _batch_broadcastable(size, length, self.ndim, params, spec.cores)
        if spec.out_core:
            bcast += (self.dist == "multinomial" and params[1].broadcastable[-1],)
        sample = TensorType(self.dtype, bcast)()
        return Apply(self, [rng, size, *params], [rng.type(), sample])

    def compute(self, node, rng, size, *params):
        spec = DISTRIBUTIONS[self.dist]
        rng = unwrap_generator(rng)
        if isinstance(rng, np.ndarray) and rng.dtype in KEY_SAMPLERS:
            return KEY_SAMPLERS[rng.dtype](self, node, rng, size, *params)
        if not self.inplace:
            rng = copy_generator(rng)
        params = [np.asarray(p) for p in params]
        batch = [p.shape[:p.ndim - c] for p, c in zip(params, spec.cores) if c is not None]
        shape = batch_shape(self.dist, tuple(int(s) for s in size), self.ndim, batch)
        params = [p if c is None or (p.ndim == 0 and self.dist in _SCALAR_OK)
                  else np.broadcast_to(p, shape + p.shape[p.ndim - c:])
                  for p, c in zip(params, spec.cores)]
        sample = np.asarray(spec.draw(rng, shape, *params))
        out = sample.astype(self.dtype, copy=False)
        if self.dist == "uniform" and out.dtype != sample.dtype and out.dtype.kind == "f":
            # rounding to a narrower float may reach `high`; keep samples below it
            low, high = (np.broadcast_to(p, shape).astype(self.dtype) for p in params)
            over = (out >= high) & (high > low)
            if over.any():
                out = np.where(over, np.nextafter(high, low), out)
        return rng, out

    def grad(self, inputs, output_grads):
        why = "random samples have no gradient with respect to their parameters"
        return [disconnected_type(), disconnected_type()] + [
            grad_undefined(self, k, x, why) for k, x in enumerate(inputs) if k >= 2]

    def do_constant_folding(self, node):
        return False  # a draw is never computed at compile time

    def connection_pattern(self, node):
        return [[True, True], [False, True]] + [[False, True] for _ in node.inputs[2:]]

    def infer_shape(self, node, shapes):
        spec = DISTRIBUTIONS[self.dist]
        size, params = node.inputs[1], node.inputs[2:]
        one = constant(np.int64(1))
        batch = [((one,) * self.ndim + tuple(s[:len(s) - c]))[-self.ndim:] if self.ndim
                 else () for s, c in zip(shapes[2:], spec.cores) if c is not None]
        from_params = broadcast_shape(*batch) if batch else (one,) * self.ndim
        length = _static_length(size)
        length = self.ndim if length is None else length
        entries = shape_elements(size, length) if length else []
        out = list(from_params[:self.ndim - length])
        for s, p in zip(entries, from_params[self.ndim - length:]):
            if isinstance(s, Constant):
                out.append(p if int(s.data) == -1 else s)
            else:
                out.append(switch(lt(s, 0), p, s))
        if spec.out_core:
            core = {"multinomial": lambda: shapes[3][-1],
                    "permutation": lambda: cast(params[0], "int64"),
                    "choice_rows": lambda: cast(params[1], "int64")}[self.dist]()
            out.append(core)
        return [None, tuple(out)]


def batch_shape(dist, size, ndim, param_shapes):
    """The sample's batch shape: `size` (padded on the left with -1 to `ndim`) with
    each -1 replaced by the parameters' broadcast length (1 when none)."""
    if len(size) > ndim:
        raise ValueError(f"{dist}: size {size} has more than the {ndim} dims of the sample")
    if any(s < -1 for s in size):
        raise ValueError(f"{dist}: size must hold non-negative lengths (or -1: the "
                         f"parameters' length), got {size}")
    try:
        pshape = np.broadcast_shapes(*param_shapes)
    except ValueError:
        raise ValueError(f"{dist}: the parameters' shapes {list(param_shapes)} do not "
                         "broadcast together") from None
    pshape = (1,) * (ndim - len(pshape)) + pshape
    size = (-1,) * (ndim - len(size)) + size
    shape = tuple(p if s == -1 else s for s, p in zip(size, pshape))
    for p in param_shapes:
        if any(a not in (1, b) for a, b in zip(p[::-1], shape[::-1])):
            raise ValueError(f"{dist}: a parameter of shape {p} cannot be broadcast to "
                             f"the sample's size {shape}")
    return shape


def _static_length(v):
    return static_length(v)


def _static_entries(size, length):
    """Each entry of the size vector as an int when known statically, else None."""
    if length is None:
        return None
    if isinstance(size, Constant):
        return [int(s) for s in np.asarray(size.data)]
    if size.owner is not None and isinstance(size.owner.op, MakeVector):
        return [int(s.data) if isinstance(s, Constant) else None for s in size.owner.inputs]
    if size.owner is not None and isinstance(size.owner.op, Shape):
        return [1 if b else None for b in size.owner.inputs[0].broadcastable]
    return [None] * length


def _batch_broadcastable(size, length, ndim, params, cores):
    """Broadcastable pattern of the batch dims: known 1 entries of size, and dims
    taken from the parameters (-1 or padding) where every parameter broadcasts."""
    pb = [(True,) * ndim + p.broadcastable[:p.ndim - c] for p, c in zip(params, cores)
          if c is not None]
    from_params = [all(b[len(b) - ndim + i] for b in pb) for i in range(ndim)]
    entries = _static_entries(size, length)
    if entries is None:
        return (False,) * ndim
    entries = [-1] * (ndim - len(entries)) + entries
    return tuple(from_params[i] if e == -1 else e == 1 for i, e in enumerate(entries))
