"""Convolution geometry and NumPy kernels, used by the ops in conv.py.

``theanine.tensor.nnet.abstract_conv`` (Theano's module) re-exports the shape helpers
below with the ops and user functions of conv.py.

Conventions: images are (batch, channels, rows, cols), filters are
(n_filters, channels // num_groups, rows, cols). Every kernel below computes a
cross-correlation (no kernel flip); the ops flip kernels for ``filter_flip=True``.
With padding p (before) and q (after), stride s, dilation d and kernel size k along one
axis, the dilated kernel spans ``dk = (k - 1) * d + 1`` cells and the output length is
``(n + p + q - dk) // s + 1``. Output cell ``i`` reads padded cells ``i * s + j * d``.

Speed: the forward pass and the weight gradient are one im2col copy (a strided view made
by ``sliding_window_view``) and one batched GEMM (``np.matmul``); the input gradient is one
batched GEMM and ``kh * kw`` strided adds (col2im). No Python loop runs over pixels or over
batch elements.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["get_conv_shape_1axis", "get_conv_output_shape", "border_mode_pads",
           "normalize_border_mode", "corr2d", "corr2d_grad_weights", "corr2d_grad_inputs"]


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def normalize_border_mode(border_mode, fn="conv2d"):
    """'valid' | 'full' | 'half' (str), or ((top, bottom), (left, right)) of ints >= 0.

    Accepts Theano's forms: a string, an int (same padding everywhere), a pair of ints
    (rows, cols), or a pair of pairs (asymmetric)."""
    if isinstance(border_mode, str):
        if border_mode in ("valid", "full", "half"):
            return border_mode
        if border_mode == "same":  # not Theano's; 'half' is its odd-kernel equivalent
            raise ValueError(f"{fn}: border_mode 'same' is not supported; use 'half' (same "
                             "output size for odd filter sizes)")
        raise ValueError(f"{fn}: border_mode must be 'valid', 'full', 'half', an int or a "
                         f"pair of ints, got {border_mode!r}")
    if _is_int(border_mode):
        border_mode = (border_mode, border_mode)
    if isinstance(border_mode, (tuple, list)) and len(border_mode) == 2:
        pads = []
        for p in border_mode:
            if _is_int(p):
                p = (p, p)
            if (isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(q) for q in p)
                    and min(p) >= 0):
                pads.append((int(p[0]), int(p[1])))
            else:
                break
        else:
            return tuple(pads)
    raise ValueError(f"{fn}: border_mode must be 'valid', 'full', 'half', an int >= 0, a pair "
                     f"of ints >= 0 or a pair of (before, after) pairs, got {border_mode!r}")


def border_mode_pads(border_mode, kshape, dilation):
    """((top, bottom), (left, right)) padding of a normalised border mode. Works on ints
    and on symbolic scalars alike (only +, -, *, //)."""
    if not isinstance(border_mode, str):
        return border_mode
    pads = []
    for k, d in zip(kshape, dilation):
        dk = (k - 1) * d + 1
        if border_mode == "valid":
            pads.append((0, 0))
        elif border_mode == "full":
            pads.append((dk - 1, dk - 1))
        else:  # half
            pads.append((dk // 2, dk // 2))
    return tuple(pads)


def get_conv_shape_1axis(image_shape, kernel_shape, border_mode, subsample, dilation=1):
    """Output length along one axis (None if any argument is None). `border_mode` is
    'valid' | 'full' | 'half', an int, or a (before, after) pair."""
    if None in (image_shape, kernel_shape, border_mode, subsample, dilation):
        return None
    dk = (kernel_shape - 1) * dilation + 1
    if border_mode == "valid":
        pad = 0
    elif border_mode == "full":
        pad = 2 * (dk - 1)
    elif border_mode == "half":
        pad = 2 * (dk // 2)
    elif isinstance(border_mode, tuple):
        pad = border_mode[0] + border_mode[1]
    else:
        pad = 2 * border_mode
    return (image_shape + pad - dk) // subsample + 1


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample,
                          filter_dilation=None):
    """Shape of conv2d's output for (batch, channels, rows, cols) images and
    (n_filters, channels, rows, cols) kernels; unknown (None) entries stay None."""
    bsize, nkern = image_shape[0], kernel_shape[0]
    nd = len(image_shape) - 2
    filter_dilation = filter_dilation or (1,) * nd
    bm = border_mode
    if not isinstance(bm, str):
        bm = normalize_border_mode(bm)
    sizes = tuple(get_conv_shape_1axis(image_shape[2 + i], kernel_shape[2 + i],
                                       bm if isinstance(bm, str) else bm[i],
                                       subsample[i], filter_dilation[i]) for i in range(nd))
    return (bsize, nkern) + sizes


# -- NumPy kernels ----------------------------------------------------------------------
def _pad(x, pads):
    if not any(p for pair in pads for p in pair):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads))


def _out_len(n, k, pad, s, d):
    return (n + pad[0] + pad[1] - (k - 1) * d - 1) // s + 1


def _cols(xp, kshape, stride, dilation, groups):
    """im2col: (B, G, Cg*kh*kw, OH*OW), contiguous (the one copy of the forward pass)."""
    (kh, kw), (sh, sw), (dh, dw) = kshape, stride, dilation
    B, C = xp.shape[:2]
    win = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (B, C, OH, OW, kh, kw)
    oh, ow = win.shape[2:4]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(B, groups, -1, oh * ow), (oh, ow)


# The im2col buffer's budget: larger batches run in chunks of whole images, so that memory
# stays bounded while each chunk is still one GEMM.
COLS_BYTES = 64 << 20


def _chunks(batch, per_image_bytes):
    n = max(1, COLS_BYTES // max(per_image_bytes, 1))
    return [slice(b, min(b + n, batch)) for b in range(0, batch, n)]


def corr2d(x, w, pads, stride, dilation, groups):
    """Cross-correlation: (B, C, H, W) x (F, C/groups, kh, kw) -> (B, F, OH, OW)."""
    xp = _pad(x, pads)
    (B, C, H, W), (F, _, kh, kw) = xp.shape, w.shape
    oh, ow = (_out_len(n, k, (0, 0), s, d) for n, k, s, d in
              zip((H, W), (kh, kw), stride, dilation))
    wm = w.reshape(groups, F // groups, -1)
    parts = _chunks(B, C * kh * kw * oh * ow * xp.itemsize)
    out = None if len(parts) == 1 else np.empty((B, F, oh, ow), np.result_type(x, w))
    for sl in parts:
        cols, _ = _cols(xp[sl], (kh, kw), stride, dilation, groups)
        res = np.matmul(wm, cols).reshape(-1, F, oh, ow)
        if out is None:
            return res
        out[sl] = res
    return out


def corr2d_grad_weights(x, gz, kshape, pads, stride, dilation, groups):
    """Gradient of corr2d wrt its filters: (F, C/groups, kh, kw)."""
    xp = _pad(x, pads)
    B, C = x.shape[:2]
    F, oh, ow = gz.shape[1:]
    gw = np.zeros((groups, F // groups, C // groups * kshape[0] * kshape[1]),
                  np.result_type(x, gz))  # stays zero for an empty batch
    for sl in _chunks(B, C * kshape[0] * kshape[1] * oh * ow * xp.itemsize):
        cols, _ = _cols(xp[sl], kshape, stride, dilation, groups)
        g = gz[sl].reshape(-1, groups, F // groups, oh * ow)
        gw = gw + np.matmul(g, cols.swapaxes(-1, -2)).sum(axis=0)  # (G, Fg, Cg*kh*kw)
    return gw.reshape(F, C // groups, *kshape)


def corr2d_grad_inputs(w, gz, ishape, pads, stride, dilation, groups):
    """Gradient of corr2d wrt its input images, of spatial shape `ishape`:
    (B, C, H, W). col2im: kh*kw strided adds of (B, C, OH, OW) blocks."""
    F, Cg, kh, kw = w.shape
    B, _, oh, ow = gz.shape
    fg = F // groups
    # rows ordered (kh, kw, Cg) so that each kernel offset's block is one contiguous slab
    wm = w.reshape(groups, fg, Cg, kh * kw).transpose(0, 3, 2, 1).reshape(groups, -1, fg)
    (pt, pb), (pl, pr) = pads
    H, W = ishape
    dtype = np.result_type(w, gz)
    gxp = np.zeros((B, groups, Cg, H + pt + pb, W + pl + pr), dtype=dtype)
    (sh, sw), (dh, dw) = stride, dilation
    for sl in _chunks(B, groups * Cg * kh * kw * oh * ow * dtype.itemsize):
        cols = np.matmul(wm, gz[sl].reshape(-1, groups, fg, oh * ow))
        cols = cols.reshape(-1, groups, kh, kw, Cg, oh, ow)
        g = gxp[sl]
        for i in range(kh):
            for j in range(kw):
                r, c = i * dh, j * dw
                g[..., r:r + (oh - 1) * sh + 1:sh, c:c + (ow - 1) * sw + 1:sw] += cols[:, :, i, j]
    return gxp.reshape(B, groups * Cg, *gxp.shape[3:])[:, :, pt:pt + H, pl:pl + W]
