"""Random graphs for the differential fuzzer (test_differential.py).

``Builder(data, dtype, special)`` draws from a hypothesis ``data`` object: inputs
of random shapes and values (with NaN, +-inf, huge, tiny, +-0 when `special`),
then a sequence of operations, each applied to values already built: elementwise
math (special functions included), reductions, indexing, dot, shape ops, and
scans (taps on sequences and outputs, ``until``, a scan nested in a scan's body).
Shapes are tracked concretely, so every graph is valid by construction (indices in
range, operands that broadcast). ``outputs()`` gives the last values, a scalar
cost of the float ones, and the cost's gradients with respect to the float inputs.

Every choice is a hypothesis draw, so a failing graph shrinks and prints as the
sequence of choices (``Builder.log`` is the readable recipe).
"""

from __future__ import annotations

import numpy as np

import theanine as theano
import theanine.tensor as T

st = __import__("hypothesis").strategies

UNARY = {
    "neg": lambda v: -v, "abs": abs, "exp": T.exp, "log": T.log, "log1p": T.log1p,
    "expm1": T.expm1, "sqrt": T.sqrt, "tanh": T.tanh, "sigmoid": T.nnet.sigmoid,
    "softplus": T.nnet.softplus, "sin": T.sin, "cos": T.cos, "arctan": T.arctan,
    "arcsinh": T.arcsinh, "cosh": T.cosh, "erf": T.erf, "erfc": T.erfc,
    "erfinv": T.erfinv, "erfcx": T.erfcx, "gammaln": T.gammaln, "psi": T.psi,
    "tri_gamma": T.tri_gamma, "floor": T.floor, "ceil": T.ceil, "round": T.round,
    "sgn": T.sgn, "sqr": T.sqr, "inv": T.inv,
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "maximum": T.maximum, "minimum": T.minimum,
    "arctan2": T.arctan2, "switch": lambda a, b: T.switch(a > b, a, b),
    "pow2": lambda a, b: a ** 2 + b,
}
NO_GRADIENT = {"tri_gamma"}  # Theano has none either: values only
REDUCE = ["sum", "prod", "max", "min", "mean"]
STEPS = ["unary", "unary", "binary", "binary", "reduce", "index", "dot", "shape"]
SCANS = ["taps", "until", "nested"]

_SPECIAL = {"float64": [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-310, -1e-310, 0.0, -0.0,
                        745.0, -745.0, 710.0],
            "float32": [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-42, -1e-42, 0.0, -0.0,
                        89.0, -104.0, 88.8]}


def broadcasts(a, sa, b, sb):
    """a (shape sa) and b (shape sb) combine elementwise: right-aligned dims are
    equal, or the length-1 one is declared broadcastable (Theano refuses to
    broadcast other length-1 dims at run time); missing leading dims broadcast."""
    ba, bb = a.broadcastable, b.broadcastable
    for i in range(1, min(len(sa), len(sb)) + 1):
        x, y = sa[-i], sb[-i]
        if x != y and not (x == 1 and ba[-i]) and not (y == 1 and bb[-i]):
            return False
    return True


class Builder:
    """Draws a graph; ``inputs``/``values`` are the function's arguments, ``pool``
    the (variable, shape) values built so far."""

    def __init__(self, data, dtype, special, n_steps=4, scans=True):
        self.data, self.dtype, self.special = data, dtype, special
        self.inputs, self.values, self.pool, self.log = [], [], [], []
        self.rng = np.random.default_rng(self.draw(st.integers(0, 2 ** 32 - 1), "seed"))
        ndim = self.draw(st.integers(1, 2), "ndim")
        shape = tuple(self.draw(st.integers(1, 4), f"dim{i}") for i in range(ndim))
        self.input("x", shape, dtype)
        self.input("y", shape, dtype)
        self.input("s", (), dtype)
        if self.draw(st.booleans(), "int input"):
            self.input("k", shape, "int64")
        for _ in range(self.draw(st.integers(1, n_steps), "steps")):
            self.step(self.draw(st.sampled_from(STEPS), "op"))
        if scans and self.draw(st.booleans(), "scan"):
            self.scan(self.draw(st.sampled_from(SCANS), "scan kind"))

    # -- drawing ---------------------------------------------------------------------
    def draw(self, strategy, label):
        return self.data.draw(strategy, label=label)

    def note(self, text):
        self.log.append(text)

    def value(self, shape, dtype):
        rng = self.rng
        if dtype.startswith("int"):
            return rng.integers(-4, 5, size=shape).astype(dtype)
        v = rng.normal(size=shape) * 10.0 ** rng.integers(-2, 3)
        if self.special and v.size:
            specials = _SPECIAL[dtype]
            mask = rng.random(shape) < 0.35
            v = np.where(mask, rng.choice(specials, size=shape), v)
        return np.asarray(v, dtype=dtype)

    def input(self, name, shape, dtype):
        var = T.TensorType(dtype, (False,) * len(shape))(name)
        self.inputs.append(var)
        self.values.append(self.value(shape, dtype))
        self.pool.append((var, shape))
        self.note(f"{name} = input {dtype}{list(shape)}")
        return var, shape

    def pick(self, pred=lambda shape: True, label="operand", var_pred=None):
        choices = [k for k, (v, shape) in enumerate(self.pool)
                   if pred(shape) and (var_pred is None or var_pred(v, shape))]
        if not choices:
            return None, None
        # recent values first, so that operations chain
        k = self.draw(st.sampled_from(choices[::-1]), label)
        return self.pool[k]

    def add(self, var, shape, text):
        self.pool.append((var, shape))
        self.note(f"v{len(self.pool) - 1} = {text}")
        return var, shape

    # -- operations --------------------------------------------------------------------
    def step(self, kind):
        getattr(self, "_" + kind)()

    def _unary(self):
        (a, sh), name = self.pick(), self.draw(st.sampled_from(sorted(UNARY)), "unary")
        self.add(UNARY[name](a), sh, f"{name}({a})")

    def _binary(self):
        a, sa = self.pick()
        b, sb = self.pick(label="second operand",
                          var_pred=lambda v, s: broadcasts(a, sa, v, s))
        name = self.draw(st.sampled_from(sorted(BINARY)), "binary")
        shape = tuple(np.broadcast_shapes(sa, sb))
        self.add(BINARY[name](a, b), shape, f"{name}({a}, {b})")

    def _reduce(self):
        a, sa = self.pick(lambda s: len(s) >= 1 and all(s))
        kind = self.draw(st.sampled_from(REDUCE), "reduction")
        axis = self.draw(st.sampled_from([None] + list(range(len(sa)))), "axis")
        keep = self.draw(st.booleans(), "keepdims")
        var = getattr(T, kind)(a, axis=axis, keepdims=keep)
        if axis is None:
            shape = (1,) * len(sa) if keep else ()
        else:
            shape = tuple(1 if i == axis else n for i, n in enumerate(sa)
                          if keep or i != axis)
        self.add(var, shape, f"{kind}({a}, axis={axis}, keepdims={keep})")

    def _index(self):
        a, sa = self.pick(lambda s: len(s) >= 1)
        n = sa[0]
        kind = self.draw(st.sampled_from(["slice", "int", "advanced", "set", "inc"]), "index")
        if kind == "slice":
            lo = self.draw(st.integers(-n, n), "lo")
            step = self.draw(st.sampled_from([1, 2, -1, -2]), "step")
            var = a[lo::step]
            shape = (len(range(n)[lo::step]),) + sa[1:]
            if shape[0] == 0:
                return
            text = f"{a}[{lo}::{step}]"
        elif kind == "int":
            i = self.draw(st.integers(-n, n - 1), "i")
            var, shape, text = a[i], sa[1:], f"{a}[{i}]"
        elif kind == "advanced":
            idx = self.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5), "idx")
            var = a[T.constant(np.array(idx, dtype="int64"))]
            shape, text = (len(idx),) + sa[1:], f"{a}[{idx}]"
        else:
            i = self.draw(st.integers(-n, n - 1), "i")
            b, _ = self.pick(lambda s: s == () or s == sa[1:], "value")
            fn = T.set_subtensor if kind == "set" else T.inc_subtensor
            var, shape, text = fn(a[i], b), sa, f"{kind}_subtensor({a}[{i}], {b})"
        self.add(var, shape, text)

    def _dot(self):
        a, sa = self.pick(lambda s: len(s) >= 1)
        if a.dtype not in ("float32", "float64"):
            a = T.cast(a, self.dtype)
        m = self.draw(st.integers(1, 4), "dot width")
        w, _ = self.input(f"w{len(self.inputs)}", (sa[-1], m), self.dtype)
        self.add(T.dot(a, w), sa[:-1] + (m,), f"dot({a}, {w})")

    def _shape(self):
        a, sa = self.pick(lambda s: len(s) >= 1)
        kinds = ["flatten", "concatenate", "repeat", "dimshuffle"] + (
            ["transpose", "reshape"] if len(sa) == 2 else [])
        kind = self.draw(st.sampled_from(kinds), "shape op")
        if kind == "flatten":
            var, shape = a.flatten(), (int(np.prod(sa)),)
        elif kind == "concatenate":
            var, shape = T.concatenate([a, a[::-1]], axis=0), (2 * sa[0],) + sa[1:]
        elif kind == "repeat":
            var, shape = T.repeat(a, 2, axis=0), (2 * sa[0],) + sa[1:]
        elif kind == "dimshuffle":
            var, shape = a.dimshuffle(["x"] + list(range(len(sa)))), (1,) + sa
        elif kind == "transpose":
            var, shape = a.T, sa[::-1]
        else:
            var, shape = a.reshape((sa[1], sa[0])), (sa[1], sa[0])
        self.add(var, shape, f"{kind}({a})")

    # -- scans -------------------------------------------------------------------------
    def body(self, args, label):
        """A random elementwise expression of the scan body's arguments (cast back to
        the first argument's dtype and shape)."""
        out = args[0]
        for k in range(self.draw(st.integers(1, 3), f"{label} ops")):
            other = args[self.draw(st.integers(0, len(args) - 1), f"{label} operand {k}")]
            name = self.draw(st.sampled_from(sorted(BINARY)), f"{label} binary {k}")
            out = BINARY[name](out, other)
            if self.draw(st.booleans(), f"{label} squash {k}"):
                out = T.tanh(out)  # keeps loops from overflowing on every example
        return T.cast(out, args[0].dtype)

    def scan(self, kind):
        getattr(self, "_scan_" + kind)()

    def _scan_taps(self):
        seq, ss = self.pick(lambda s: len(s) >= 1 and s[0] >= 3 and len(s) <= 2, "sequence")
        if seq is None:
            return
        if seq.dtype != self.dtype:
            seq = T.cast(seq, self.dtype)
        seq_taps = self.draw(st.sampled_from([[0], [-1, 0], [-2, 1], [0, 2]]), "seq taps")
        out_taps = self.draw(st.sampled_from([[-1], [-2, -1], [-3, -1]]), "out taps")
        row = ss[1:]
        # Theano: with taps [-1] the initial value is one state, else a window of them
        window = () if out_taps == [-1] else (-min(out_taps),)
        init, _ = self.input(f"h{len(self.inputs)}", window + row, self.dtype)
        s = self.inputs[2]
        back = self.draw(st.booleans(), "go_backwards")

        def step(*args):
            return self.body(list(args[len(seq_taps):len(seq_taps) + len(out_taps)])
                             + list(args[:len(seq_taps)]) + [args[-1]], "taps body")

        h, _ = theano.scan(step, sequences=dict(input=seq, taps=seq_taps),
                           outputs_info=dict(initial=init, taps=out_taps), non_sequences=s,
                           go_backwards=back)
        n = ss[0] - (max(seq_taps) - min(seq_taps))
        self.add(h, (n,) + row, f"scan(taps seq {seq_taps} out {out_taps}, back={back})")

    def _scan_until(self):
        a, sa = self.pick(lambda s: len(s) <= 1, "initial state")
        if a.dtype != self.dtype:
            a = T.cast(a, self.dtype)
        limit = self.draw(st.integers(1, 6), "n_steps")
        thr = self.draw(st.sampled_from([0.0, 1.0, 10.0]), "threshold")
        s = self.inputs[2]

        def step(h, s_):
            new = self.body([h, s_], "until body")
            return new, theano.scan_module.until(T.gt(T.sum(new), thr))

        h, _ = theano.scan(step, outputs_info=a, non_sequences=s, n_steps=limit)
        # the number of steps run depends on the values: compare its last row and length
        self.add(T.concatenate([T.shape_padleft(h[-1]).flatten(), T.cast(h.shape[:1],
                                                                          h.dtype)]),
                 (int(np.prod(sa)) + 1,), f"scan(until sum > {thr}, n_steps={limit})[-1]")

    def _scan_nested(self):
        a, sa = self.pick(lambda s: len(s) == 2, "matrix")
        if a is None:
            return
        if a.dtype != self.dtype:
            a = T.cast(a, self.dtype)
        s = self.inputs[2]

        def inner_step(e, acc, s_):
            return self.body([acc, e, s_], "inner body")

        def outer_step(row, carry, s_):
            cum, _ = theano.scan(inner_step, sequences=row, outputs_info=carry,
                                 non_sequences=s_)
            return cum[-1]

        c0 = T.cast(T.zeros(()), self.dtype)
        out, _ = theano.scan(outer_step, sequences=a, outputs_info=c0, non_sequences=s)
        self.add(out, (sa[0],), f"scan(rows of {a}: scan(elements))")

    # -- result ------------------------------------------------------------------------
    def outputs(self):
        """(outputs, [cost] + gradients) for the last values built."""
        n_out = min(len(self.pool), self.draw(st.integers(1, 2), "outputs"))
        outs = [v for v, _ in self.pool[-n_out:]]
        cost = None
        for v, shape in self.pool[-n_out:]:
            if v.dtype.startswith("float"):
                w = T.constant(self.rng.normal(size=shape).astype(v.dtype))
                term = T.sum(v * w)
                cost = term if cost is None else cost + term
        wrt = [i for i in self.inputs if i.dtype.startswith("float")]
        if cost is None or any(f"{name}(" in line for line in self.log for name in NO_GRADIENT):
            return outs, []
        grads = theano.grad(cost, wrt, disconnected_inputs="ignore")
        return outs, [cost] + list(grads)
