"""Convolutions for the numba emitters (ops_conv.py): im2col and one BLAS GEMM.

Per image and group: an im2col copy into one preallocated buffer (zeros where the
window leaves the input: no padded copy) and one GEMM (np.dot into the output); the
weight gradient is im2col and a GEMM with the output gradient, the input gradient a
GEMM then col2im adds. The geometry is an argument (``geo``, below), so each
function compiles once per process and dtype and serves every kernel (a kernel then
compiles in ~0.3 s instead of ~2 s); compiled kernels keep the code they call.

geo: (flip, groups, pad top, bottom, left, right, stride rows, cols, dilation rows,
cols), int64 values.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["conv_fwd", "conv_grad_weights", "conv_grad_inputs"]

_J = numba.njit(error_model="numpy", nogil=True)


@_J
def conv_span(start, s, size, o):
    # [lo, hi): the z in [0, o) with 0 <= z * s + start < size
    lo = 0 if start >= 0 else (s - 1 - start) // s
    top = size - 1 - start
    hi = min(top // s + 1 if top >= 0 else 0, o)
    return min(lo, hi), hi


@_J
def conv_geometry(C, F, cg, H, W, kh, kw, geo):
    if C != cg * geo[1]:
        raise ValueError("conv2d: the input's channels differ from the filters' channels "
                         "x num_groups")
    if F % geo[1]:
        raise ValueError("conv2d: the number of filters is not divisible by num_groups")
    oh = (H + geo[2] + geo[3] - (kh - 1) * geo[8] - 1) // geo[6] + 1
    ow = (W + geo[4] + geo[5] - (kw - 1) * geo[9] - 1) // geo[7] + 1
    if oh < 1 or ow < 1:
        raise ValueError("conv2d: the filters are larger than the padded input")
    return oh, ow


@_J
def conv_check_topgrad(gz, B, F, oh, ow):
    if gz.shape[0] != B or gz.shape[1] != F or gz.shape[2] != oh or gz.shape[3] != ow:
        raise ValueError("conv2d: the output gradient's shape does not match the convolution")


@_J
def conv_wmat(w, geo, trans):
    # filters (F, cg, kh, kw), flipped or not, as (groups, F/groups, cg*kh*kw) matrices
    # (transposed: (groups, cg*kh*kw, F/groups))
    F, cg, kh, kw = w.shape
    fg = F // geo[1]
    k = cg * kh * kw
    m = np.empty((geo[1], k, fg) if trans else (geo[1], fg, k), w.dtype)
    for f in range(F):
        g, e = f // fg, f % fg
        for c in range(cg):
            for i in range(kh):
                for j in range(kw):
                    v = w[f, c, kh - 1 - i, kw - 1 - j] if geo[0] else w[f, c, i, j]
                    if trans:
                        m[g, (c * kh + i) * kw + j, e] = v
                    else:
                        m[g, e, (c * kh + i) * kw + j] = v
    return m


@_J
def conv_cols(xf, xo, H, W, kh, kw, geo, oh, ow, cf):
    # im2col on flat arrays: cf[((c*kh + i)*kw + j)*oh*ow + y*ow + z] = xf[xo + (c*H + u)*W + v]
    # with u = y*sh + i*dh - top, v = z*sw + j*dw - left (0 where (u, v) is outside x).
    # Unsigned indices: no wraparound checks, so the copies vectorise.
    n, sw = oh * ow, np.uint64(geo[7])
    for c in range(cf.size // (n * kh * kw)):
        for i in range(kh):
            for j in range(kw):
                start = j * geo[9] - geo[4]
                lo, hi = conv_span(start, geo[7], W, ow)
                for y in range(oh):
                    r = y * geo[6] + i * geo[8] - geo[2]
                    d = np.uint64(((c * kh + i) * kw + j) * n + y * ow)
                    lo2, hi2 = (ow, ow) if r < 0 or r >= H else (lo, hi)
                    for z in range(lo2):
                        cf[d + np.uint64(z)] = 0
                    if hi2 > lo2:
                        src = np.uint64(xo + (c * H + r) * W + start + lo * geo[7])
                        dst = d + np.uint64(lo)
                        if sw == 1:  # contiguous: a vectorised copy
                            for z in range(hi - lo):
                                cf[dst + np.uint64(z)] = xf[src + np.uint64(z)]
                        else:
                            for z in range(hi - lo):
                                cf[dst + np.uint64(z)] = xf[src + np.uint64(z) * sw]
                    for z in range(hi2, ow):
                        cf[d + np.uint64(z)] = 0


@_J
def conv_uncols(xf, xo, H, W, kh, kw, geo, oh, ow, cf):
    # col2im, the adjoint of conv_cols: xf[...] += cf[...]. Its loop nest repeats
    # conv_cols's on purpose: each innermost loop is then one plain copy or add that
    # LLVM vectorises (a direction flag tested inside it would not).
    n, sw = oh * ow, np.uint64(geo[7])
    for c in range(cf.size // (n * kh * kw)):
        for i in range(kh):
            for j in range(kw):
                start = j * geo[9] - geo[4]
                lo, hi = conv_span(start, geo[7], W, ow)
                for y in range(oh):
                    r = y * geo[6] + i * geo[8] - geo[2]
                    if 0 <= r < H and hi > lo:
                        src = np.uint64(xo + (c * H + r) * W + start + lo * geo[7])
                        dst = np.uint64(((c * kh + i) * kw + j) * n + y * ow + lo)
                        for z in range(hi - lo):
                            xf[src + np.uint64(z) * sw] += cf[dst + np.uint64(z)]


@_J
def conv_fwd(x, w, geo):
    B, C, H, W = x.shape
    F, cg, kh, kw = w.shape
    oh, ow = conv_geometry(C, F, cg, H, W, kh, kw, geo)
    G = geo[1]
    fg, k = F // G, cg * kh * kw
    shape = (B, G, fg, oh * ow)
    out = np.empty(shape, x.dtype) if k else np.zeros(shape, x.dtype)
    if k and fg:
        wm = conv_wmat(w, geo, False)
        cols = np.empty((k, oh * ow), x.dtype)
        xf, cf = np.ascontiguousarray(x).reshape(-1), cols.reshape(-1)
        for b in range(B):
            for g in range(G):
                conv_cols(xf, (b * C + g * cg) * H * W, H, W, kh, kw, geo, oh, ow, cf)
                np.dot(wm[g], cols, out[b, g])
    return out.reshape((B, F, oh, ow))


@_J
def conv_grad_weights(x, gz, kh, kw, geo):
    B, C, H, W = x.shape
    F, G = gz.shape[1], geo[1]
    if C % G:
        raise ValueError("conv2d_grad_wrt_weights: the input's channels are not divisible "
                         "by num_groups")
    cg = C // G
    oh, ow = conv_geometry(C, F, cg, H, W, kh, kw, geo)
    conv_check_topgrad(gz, B, F, oh, ow)
    fg, k = F // G, cg * kh * kw
    acc = np.zeros((G, fg, k), x.dtype)
    if k and fg:
        g4 = np.ascontiguousarray(gz).reshape((B, G, fg, oh * ow))
        cols = np.empty((k, oh * ow), x.dtype)
        part = np.empty((fg, k), x.dtype)
        xf, cf = np.ascontiguousarray(x).reshape(-1), cols.reshape(-1)
        for b in range(B):
            for g in range(G):
                conv_cols(xf, (b * C + g * cg) * H * W, H, W, kh, kw, geo, oh, ow, cf)
                np.dot(g4[b, g], cols.T, part)
                for e in range(fg):
                    for r in range(k):
                        acc[g, e, r] += part[e, r]
    gw = np.empty((F, cg, kh, kw), x.dtype)
    for f in range(F):
        for c in range(cg):
            for i in range(kh):
                for j in range(kw):
                    v = acc[f // fg, f % fg, (c * kh + i) * kw + j]
                    if geo[0]:
                        gw[f, c, kh - 1 - i, kw - 1 - j] = v
                    else:
                        gw[f, c, i, j] = v
    return gw


@_J
def conv_grad_inputs(w, gz, H, W, geo):
    F, cg, kh, kw = w.shape
    B, G = gz.shape[0], geo[1]
    oh, ow = conv_geometry(cg * G, F, cg, H, W, kh, kw, geo)
    conv_check_topgrad(gz, B, F, oh, ow)
    fg, k = F // G, cg * kh * kw
    gi = np.zeros((B, cg * G, H, W), w.dtype)
    if k and fg:
        wt = conv_wmat(w, geo, True)
        g4 = np.ascontiguousarray(gz).reshape((B, G, fg, oh * ow))
        cols = np.empty((k, oh * ow), w.dtype)
        gf, cf = gi.reshape(-1), cols.reshape(-1)
        for b in range(B):
            for g in range(G):
                np.dot(wt[g], g4[b, g], cols)
                conv_uncols(gf, (b * G + g) * cg * H * W, H, W, kh, kw, geo, oh, ow, cf)
    return gi
