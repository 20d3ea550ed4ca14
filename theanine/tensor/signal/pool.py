"""Pooling over the last 2 (or 3) axes: ``pool_2d``, ``pool_3d``, ``max_pool_2d_same_size``
(Theano 1.0's ``theano.tensor.signal.pool``).

Geometry along one pooled axis of length r, window w, stride s, padding p:
output window i covers padded cells [i*s, i*s + w), i.e. input cells [i*s - p, i*s - p + w).

- ``ignore_border=True``: only whole windows of the padded input, ``(r + 2p - w) // s + 1``
  of them (at least 0).
- ``ignore_border=False`` (Theano 1.0's default; padding not allowed): windows run past the
  end until every cell is covered and are cut at the border: ``(r - 1) // s + 1`` windows
  when s >= w, else ``max(0, (r - 1 - w + s) // s) + 1``.

Modes: 'max' and 'sum' use only real cells; 'average_exc_pad' divides by the number of real
cells in the window, 'average_inc_pad' by the number of cells of the padded input in it.
The gradient of 'max' goes to every cell equal to its window's maximum (ties all receive it);
overlapping windows add up.

Invariant: every kernel is a loop over the w0*w1 window offsets, each step one NumPy
operation on a strided slice of output size; no Python loop over pixels or leading axes.
"""

from __future__ import annotations

import warnings

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, Variable
from theanine.tensor.alloc import zeros_like
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.math import maximum
from theanine.tensor.type import TensorType

__all__ = ["Pool", "MaxPoolGrad", "AveragePoolGrad", "DownsampleFactorMaxGradGrad",
           "pool_2d", "pool_3d", "max_pool_2d_same_size"]

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _ints(v, n, name, fn, minimum):
    if isinstance(v, Constant):
        v = np.asarray(v.data).tolist()
    if isinstance(v, Variable):
        raise TypeError(f"{fn}: {name} must be known when the graph is built (a tuple of "
                        f"ints), got the symbolic {v}")
    if isinstance(v, (int, np.integer)):
        v = (v,) * n
    try:
        out = tuple(int(e) for e in v)
        ok = len(out) == n and all(int(e) == e and e >= minimum for e in v)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{fn}: {name} must be a tuple of {n} ints >= {minimum}, got {v!r}")
    return out


def out_length(r, w, s, p, ignore_border, maximum=max):
    """Number of windows along one axis (ints; or symbolic with maximum=T.maximum)."""
    if ignore_border:
        return maximum(0, (r + 2 * p - w) // s + 1)
    if s >= w:
        return (r - 1) // s + 1
    return maximum(0, (r - 1 - w + s) // s) + 1


class _PoolOp(Op):
    __props__ = ("ignore_border", "mode", "ndim", "ws", "stride", "pad")
    fn = "Pool"
    n_tensors = 1  # tensor inputs before Theano's optional (ws, stride, pad) arguments

    def __init__(self, ignore_border=False, mode="max", ndim=2, ws=None, stride=None, pad=None,
                 openmp=None):
        fn = self.fn
        mode = "max" if mode == "max_deterministic" else mode
        if mode not in MODES:
            raise ValueError(f"{fn}: mode must be one of {MODES}, got {mode!r}")
        if not isinstance(ndim, (int, np.integer)) or ndim < 1:
            raise ValueError(f"{fn}: ndim must be an int >= 1, got {ndim!r}")
        self.ignore_border, self.mode, self.ndim = bool(ignore_border), mode, int(ndim)
        self.ws = self.stride = self.pad = None
        if ws is None:
            return
        self.ws = _ints(ws, ndim, "ws", fn, 1)
        self.stride = self.ws if stride is None else _ints(stride, ndim, "stride", fn, 1)
        self.pad = (0,) * ndim if pad is None else _ints(pad, ndim, "pad", fn, 0)
        if any(self.pad) and not self.ignore_border:
            raise ValueError(f"{fn}: padding (pad={self.pad}) works only with "
                             "ignore_border=True")
        if any(p >= w for p, w in zip(self.pad, self.ws)):
            raise ValueError(f"{fn}: each pad must be smaller than the window size: "
                             f"pad={self.pad}, ws={self.ws}")

    def _with(self, **kw):
        props = {p: getattr(self, p) for p in self.__props__}
        props.update(kw)
        return type(self)(**props)

    def make_node(self, *args):
        """Theano 1.0's forms: ``op(tensors..., ws, stride=None, pad=None)`` with an unbound
        op, or ``op(tensors...)`` with ws given to the constructor."""
        tensors, extra = args[:self.n_tensors], args[self.n_tensors:]
        if extra:
            if len(extra) > 3:
                raise TypeError(f"{self.fn}: too many arguments ({len(args)})")
            ws, stride, pad = (tuple(extra) + (None, None))[:3]
            return self._with(ws=ws, stride=stride, pad=pad).make_node(*tensors)
        if self.ws is None:
            raise TypeError(f"{self.fn}: give the window size ws, to the constructor or as "
                            "the argument after the tensors")
        if len(tensors) != self.n_tensors:
            raise TypeError(f"{self.fn}: expected {self.n_tensors} tensor inputs, got "
                            f"{len(tensors)}")
        tensors = [as_tensor_variable(t) for t in tensors]
        for name, t in zip(self.input_names, tensors):
            if t.ndim < self.ndim:
                raise TypeError(f"{self.fn}: argument {name} must have at least {self.ndim} "
                                f"dimensions (pooling is over the last {self.ndim}), got a "
                                f"{t.ndim}-d tensor of type {t.type}")
        return self._node(tensors)

    def _out_shape(self, spatial):
        return tuple(out_length(r, w, s, p, self.ignore_border) for r, w, s, p in
                     zip(spatial, self.ws, self.stride, self.pad))

    def _padded(self, x, out, fill):
        """x padded by `pad` in front and at the end as far as the windows reach."""
        nd, pads = self.ndim, [(0, 0)] * (x.ndim - self.ndim)
        for r, w, s, p, o in zip(x.shape[-nd:], self.ws, self.stride, self.pad, out):
            size = max(r + 2 * p, (o - 1) * s + w)
            pads.append((p, size - r - p))
        if not any(a or b for a, b in pads):
            return x
        return np.pad(x, pads, constant_values=fill)

    def _slices(self, out):
        """(offset, index) for each window offset: x_padded[index] is that offset's cell of
        every window, an array of the output's shape."""
        for off in np.ndindex(*self.ws):
            yield off, (Ellipsis,) + tuple(slice(f, f + (o - 1) * s + 1, s) for f, o, s in
                                           zip(off, out, self.stride))

    def _crop(self, g, spatial):
        return g[(Ellipsis,) + tuple(slice(p, p + r) for p, r in zip(self.pad, spatial))]

    def _counts(self, spatial, out):
        """Divisor of each window (broadcastable to the output's shape)."""
        if self.mode == "sum":
            return 1
        c, nd = 1, self.ndim
        for k, (r, w, s, p, o) in enumerate(zip(spatial, self.ws, self.stride, self.pad, out)):
            lo, hi = (0, r + 2 * p) if self.mode == "average_inc_pad" else (p, p + r)
            starts = np.arange(o) * s
            n = np.minimum(starts + w, hi) - np.maximum(starts, lo)
            c = c * n.reshape((-1,) + (1,) * (nd - 1 - k))
        return c

    def _max_cells(self, x, maxout, out):
        """x padded, and for each offset the mask of cells equal to their window's max."""
        xp = self._padded(x, out, _lowest(x.dtype))
        return xp, ((idx, xp[idx] == maxout) for _, idx in self._slices(out))

    def infer_shape(self, node, shapes):
        return [shapes[0]]  # the gradients have x's shape


def _lowest(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return False


class Pool(_PoolOp):
    """Pooling of the last `ndim` axes (Theano's Pool)."""

    input_names = ("input",)

    def _node(self, tensors):
        (x,) = tensors
        bc = x.broadcastable[:-self.ndim] + (False,) * self.ndim
        return Apply(self, [x], [TensorType(x.dtype, bc)()])

    def compute(self, node, x):
        spatial = x.shape[-self.ndim:]
        out = self._out_shape(spatial)
        dtype = node.outputs[0].type.dtype
        if self.mode == "max":
            xp = self._padded(x, out, _lowest(x.dtype))
            res = None
            for _, idx in self._slices(out):
                res = xp[idx].copy() if res is None else np.maximum(res, xp[idx], out=res)
            return res
        acc_dtype = x.dtype if x.dtype.kind in "fc" else np.float64
        xp = self._padded(x.astype(acc_dtype, copy=False), out, 0)
        res = np.zeros(x.shape[:-self.ndim] + out, dtype=acc_dtype)
        for _, idx in self._slices(out):
            res += xp[idx]
        return (res / self._counts(spatial, out)).astype(dtype, copy=False) \
            if self.mode != "sum" else res.astype(dtype, copy=False)

    def infer_shape(self, node, shapes):
        xs, nd = shapes[0], self.ndim
        return [tuple(xs[:-nd]) + tuple(
            out_length(r, w, s, p, self.ignore_border, maximum)
            for r, w, s, p in zip(xs[-nd:], self.ws, self.stride, self.pad))]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        props = {p: getattr(self, p) for p in self.__props__}
        if self.mode == "max":
            return [MaxPoolGrad(**props)(x, outputs[0], gz)]
        return [AveragePoolGrad(**props)(x, gz)]


class MaxPoolGrad(_PoolOp):
    """Gradient of max pooling: (x, maxout, gz) -> gx; gz goes to every cell of a window
    equal to its max (Theano's MaxPoolGrad)."""

    fn, n_tensors, input_names = "MaxPoolGrad", 3, ("x", "maxout", "gz")

    def _node(self, tensors):
        if self.mode != "max":
            raise ValueError(f"MaxPoolGrad: mode must be 'max', got {self.mode!r}")
        x = tensors[0]
        return Apply(self, tensors, [x.type()])

    def compute(self, node, x, maxout, gz):
        spatial = x.shape[-self.ndim:]
        out = self._out_shape(spatial)
        xp, masks = self._max_cells(x, maxout, out)
        g = np.zeros(xp.shape, dtype=node.outputs[0].type.dtype)
        for idx, mask in masks:
            g[idx] += mask * gz
        return np.ascontiguousarray(self._crop(g, spatial))

    def grad(self, inputs, output_grads):
        x, maxout, _ = inputs
        props = {p: getattr(self, p) for p in self.__props__}
        gg = DownsampleFactorMaxGradGrad(**props)(x, maxout, output_grads[0])
        return [zeros_like(x), zeros_like(maxout), gg]


class DownsampleFactorMaxGradGrad(_PoolOp):
    """(x, maxout, ggx) -> ggz: for each window, the sum of ggx over the cells equal to the
    window's max (the adjoint of MaxPoolGrad in gz; Theano's name)."""

    fn, n_tensors, input_names = "DownsampleFactorMaxGradGrad", 3, ("x", "maxout", "ggx")

    def _node(self, tensors):
        x, maxout, _ = tensors
        return Apply(self, tensors, [maxout.type()])

    def compute(self, node, x, maxout, ggx):
        out = self._out_shape(x.shape[-self.ndim:])
        xp, masks = self._max_cells(x, maxout, out)
        ggp = self._padded(ggx, out, 0)
        res = np.zeros(maxout.shape, dtype=node.outputs[0].type.dtype)
        for idx, mask in masks:
            res += mask * ggp[idx]
        return res

    def infer_shape(self, node, shapes):
        return [shapes[1]]

    def grad(self, inputs, output_grads):
        x, maxout, _ = inputs
        props = {p: getattr(self, p) for p in self.__props__}
        return [zeros_like(x), zeros_like(maxout), MaxPoolGrad(**props)(x, maxout,
                                                                        output_grads[0])]


class AveragePoolGrad(_PoolOp):
    """Gradient of sum / average pooling: (x, gz) -> gx (Theano's AveragePoolGrad)."""

    fn, n_tensors, input_names = "AveragePoolGrad", 2, ("x", "gz")

    def _node(self, tensors):
        if self.mode == "max":
            raise ValueError("AveragePoolGrad: mode must be 'sum', 'average_inc_pad' or "
                             "'average_exc_pad', got 'max' (use MaxPoolGrad)")
        return Apply(self, tensors, [tensors[0].type()])

    def compute(self, node, x, gz):
        spatial = x.shape[-self.ndim:]
        out = self._out_shape(spatial)
        dtype = node.outputs[0].type.dtype
        g = gz / self._counts(spatial, out) if self.mode != "sum" else gz
        padded = tuple(x.shape[:-self.ndim]) + tuple(
            max(r + 2 * p, (o - 1) * s + w)
            for r, w, s, p, o in zip(spatial, self.ws, self.stride, self.pad, out))
        gp = np.zeros(padded, dtype=dtype)
        for _, idx in self._slices(out):
            gp[idx] += g
        return np.ascontiguousarray(self._crop(gp, spatial))

    def grad(self, inputs, output_grads):
        props = {p: getattr(self, p) for p in self.__props__}
        return [zeros_like(inputs[0]), Pool(**props)(output_grads[0])]


# -- user functions ----------------------------------------------------------------------
def _legacy(new, old, new_name, old_name, fn, default=None):
    if old is None:
        return new
    if new is not None and new != default:
        raise ValueError(f"{fn}: give {new_name} or its deprecated name {old_name}, not both")
    warnings.warn(f"{fn}: {old_name} is deprecated, use {new_name}", DeprecationWarning,
                  stacklevel=4)
    return old


def _pool_nd(input, nd, ws, ignore_border, stride, pad, mode, ds, st, padding):
    fn = f"pool_{nd}d"
    ws = _legacy(ws, ds, "ws", "ds", fn)
    stride = _legacy(stride, st, "stride", "st", fn)
    pad = _legacy(pad, padding, "pad", "padding", fn, default=(0,) * nd)
    if ws is None:
        raise TypeError(f"{fn}: give the window size ws, e.g. ws=({', '.join(['2'] * nd)})")
    x = as_tensor_variable(input)
    if x.ndim < nd:
        raise TypeError(f"{fn}: input must have at least {nd} dimensions (pooling is over "
                        f"the last {nd}), got a {x.ndim}-d tensor of type {x.type}")
    if ignore_border is None:
        warnings.warn(f"{fn}: ignore_border defaults to False (Theano 1.0); pass "
                      "ignore_border=True or False explicitly", UserWarning, stacklevel=3)
        ignore_border = False
    op = Pool(ignore_border=ignore_border, mode=mode, ndim=nd, ws=ws, stride=stride, pad=pad)
    return op(x)


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last 2 axes of `input` (any ndim >= 2) with windows `ws`, steps `stride`
    (default ws) and zero padding `pad` (needs ignore_border=True).
    mode: 'max' | 'sum' | 'average_inc_pad' | 'average_exc_pad'.
    ds, st, padding: Theano's deprecated names of ws, stride, pad."""
    return _pool_nd(input, 2, ws, ignore_border, stride, pad, mode, ds, st, padding)


def pool_3d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0, 0), mode="max",
            ds=None, st=None, padding=None):
    """pool_2d over the last 3 axes."""
    return _pool_nd(input, 3, ws, ignore_border, stride, pad, mode, ds, st, padding)


def max_pool_2d_same_size(input, patch_size):
    """Keep the maximum of each non-overlapping `patch_size` patch of the last 2 axes and
    set every other cell to zero (cells past the last whole patch become zero)."""
    x = as_tensor_variable(input)
    op = Pool(ignore_border=True, mode="max", ndim=2, ws=patch_size)
    pooled = op(x)
    return MaxPoolGrad(ignore_border=True, mode="max", ndim=2, ws=patch_size)(x, pooled,
                                                                              pooled)
