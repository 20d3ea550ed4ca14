"""Compiled kernels of LinearRecurrence (the emitter is ops_recurrence.py).

Each mode has one entry, ``run_<mode>(n, h0, a, b, store)``: h0 is the state
flattened to W lanes, a and b are (1 or n, 1 or W) views of the operands (a
dummy where the mode has none), the result is (trace (n or 0, W), final (W,)).
It runs forward; a reverse recurrence is the same on reversed views.

A sequential loop is bound by latency: each step waits for the previous one (a
multiply and an add, ~8 cycles). Narrow recurrences (W <= PAR_LANES lanes) that
are long enough run chunked, lane by lane (``scalar_<mode>``): blocks of K chunks
of L steps; pass 1 runs the K chunks side by side from the identity (K independent
chains of operations keep the core busy) and keeps each chunk's composed map; the
chunks' starting states follow by composing those maps in order; pass 2 reruns the
K chunks side by side from their true starts, writing the trace (a block of K*L
steps is still in cache). Without a trace (final state only) pass 2 is skipped.
Wider recurrences sweep the steps once with the lanes innermost (W independent
chains already). The kernels may contract a*h + b into one fused multiply-add.
"""

from __future__ import annotations

import numba
import numpy as np

from .chunking import CHUNK_MIN, PAR_LANES, K, L
from .kernels.basic import nan_max, nan_min
from .kernels.vector_width import vectors_256, wide_vectors

_OPTS = dict(error_model="numpy", nogil=True, fastmath={"contract"})

# per mode: (pass-1 state init, pass-1 update, combine, step) as source templates;
# {k}: chain, {i}: step index; p/s: a chunk's composed map (h -> p*h + s)
_TEMPLATES = {
    "affine": ("p{k} = one; s{k} = zero",
               "x = a[{i} * at]; p{k} *= x; s{k} = x * s{k} + b[{i} * bt]",
               "c{k} = h; h = p{k} * h + s{k}",
               "{v} = a[{i} * at] * {v} + b[{i} * bt]"),
    "add": ("s{k} = zero", "s{k} += b[{i} * bt]", "c{k} = h; h = h + s{k}",
            "{v} = {v} + b[{i} * bt]"),
    "mul": ("p{k} = one", "p{k} *= a[{i} * at]", "c{k} = h; h = h * p{k}",
            "{v} = {v} * a[{i} * at]"),
    "max": ("s{k} = -inf", "s{k} = nan_max(s{k}, b[{i} * bt])", "c{k} = h; h = nan_max(h, s{k})",
            "{v} = nan_max({v}, b[{i} * bt])"),
    "min": ("s{k} = inf", "s{k} = nan_min(s{k}, b[{i} * bt])", "c{k} = h; h = nan_min(h, s{k})",
            "{v} = nan_min({v}, b[{i} * bt])"),
}


def _scalar_source(mode):
    """`scalar_<mode>(n, h, a, b, at, bt, out, store, c) -> final`: one lane, chunked;
    c holds 0, 1 and inf in the state's dtype."""
    init, update, comb, step = _TEMPLATES[mode]
    ks = range(K)
    src = [f"def scalar_{mode}(n, h, a, b, at, bt, out, store, c):",
           "    zero = c[0]; one = c[1]; inf = c[2]",
           f"    blk = {K} * {L}",
           "    nb = n // blk",
           "    for q in range(nb):",
           "        base = q * blk"]
    src += [f"        {init.format(k=k)}" for k in ks]
    src += [f"        for j in range({L}):"]
    for k in ks:
        src += [f"            i{k} = base + {k * L} + j",
                f"            {update.format(k=k, i=f'i{k}')}"]
    src += [f"        {comb.format(k=k)}" for k in ks]
    src += ["        if store:", f"            for j in range({L}):"]
    for k in ks:
        src += [f"                i{k} = base + {k * L} + j",
                f"                {step.format(v=f'c{k}', i=f'i{k}')}",
                f"                out[i{k}] = c{k}"]
    src += ["    for i in range(nb * blk, n):",
            f"        {step.format(v='h', i='i')}",
            "        if store:",
            "            out[i] = h",
            "    return h"]
    return "\n".join(src) + "\n"


def _lanes_source(mode):
    """`lanes_<mode>(n, h, a, b, out, store)`: every lane, one sweep over the steps."""
    _, _, _, step = _TEMPLATES[mode]
    return "\n".join([
        f"def lanes_{mode}(n, h, a, b, out, store):",
        "    at = 1 if a.shape[0] > 1 else 0",
        "    bt = 1 if b.shape[0] > 1 else 0",
        "    aw = 1 if a.shape[1] > 1 else 0",
        "    bw = 1 if b.shape[1] > 1 else 0",
        "    for t in range(n):",
        "        for w in range(h.shape[0]):",
        "            v = h[w]",
        "            " + step.format(v="v", i="t").replace("a[t * at]", "a[t * at, w * aw]")
        .replace("b[t * bt]", "b[t * bt, w * bw]"),
        "            h[w] = v",
        "            if store:",
        "                out[t, w] = v",
    ]) + "\n"


def _run_source(mode):
    return "\n".join([
        f"def run_{mode}(n, h0, a, b, store):",
        "    if n < 0:",
        "        raise ValueError('LinearRecurrence: n_steps must be >= 0')",
        "    width = h0.shape[0]",
        "    out = np.empty((n if store else 0, width), h0.dtype)",
        "    h = h0.copy()",
        f"    if n >= {CHUNK_MIN} and width <= {PAR_LANES}:",
        "        c = np.empty(3, h0.dtype)",
        "        c[0] = 0",
        "        c[1] = 1",
        "        c[2] = np.inf",
        "        at = 1 if a.shape[0] > 1 else 0",
        "        bt = 1 if b.shape[0] > 1 else 0",
        "        for w in range(width):",
        "            aw = w if a.shape[1] > 1 else 0",
        "            bw = w if b.shape[1] > 1 else 0",
        f"            h[w] = scalar_{mode}(n, h[w], a[:, aw], b[:, bw], at, bt, out[:, w], "
        "store, c)",
        "    else:",
        f"        lanes_{mode}(n, h, a, b, out, store)",
        "    return out, h",
    ]) + "\n"


def _powers(D):
    """Lines setting a0 .. aD to a**0 .. a**D (in out's dtype), for the windows."""
    return ([f"    pw = np.empty({D + 1}, out.dtype)",
             "    q = a - a + 1",
             f"    for k in range({D + 1}):",
             "        pw[k] = q",
             "        q = q * a"]
            + [f"    a{k} = pw[{k}]" for k in range(D + 1)])


def _window_source(D=8):
    """`window(n, h, a, b, out)`: h_t = a*h_{t-1} + b_t for a constant a, one lane, as
    h_t = a**D * h_{t-D} + sum_k a**k * b_{t-k}: D chains D steps apart, which LLVM
    vectorises (the shifted views keep every index non-negative, as it needs)."""
    src = ["def window(n, h, a, b, out):"] + _powers(D)
    src += [f"    for t in range(min(n, {2 * D})):",
            "        h = a * h + b[t]",
            "        out[t] = h",
            f"    if n <= {2 * D}:",
            "        return h"]
    src += [f"    u{k} = b[{2 * D - k}:]" for k in range(D)]
    src += [f"    o = out[{2 * D}:]", f"    op = out[{D}:]",
            f"    for t in range(n - {2 * D}):",
            f"        o[t] = a{D} * op[t] + (" + " + ".join(f"a{k} * u{k}[t]" for k in range(D))
            + ")",
            "    return out[n - 1]"]
    return "\n".join(src) + "\n"


def _window_rev_source(D=8):
    """`window_rev(n, h, a, b, out)`: the window run backwards, out[t] = a*out[t+1] +
    b[t] for t = n-1 .. 0 from h, on b as it is and writing out in step order (a
    reversed view's negative stride LLVM does not vectorise; reading views at
    descending indices in an ascending loop took 2x as long as this descending one):
    out[t] = a**D * out[t+D] + sum_k a**k * b[t+k]."""
    src = ["def window_rev(n, h, a, b, out):"] + _powers(D)
    src += [f"    for s in range(min(n, {2 * D})):",
            "        t = n - 1 - s",
            "        h = a * h + b[t]",
            "        out[t] = h",
            f"    if n <= {2 * D}:",
            "        return h",
            f"    m = n - {2 * D}",
            "    for s in range(m):",
            "        t = m - 1 - s",
            f"        out[t] = a{D} * out[t + {D}] + ("
            + " + ".join(f"a{k} * b[t + {k}]" for k in range(D)) + ")",
            "    return out[0]"]
    return "\n".join(src) + "\n"


def _run1r_source(mode):
    """`run1r_<mode>(n, h, a, b, store)`: run1_<mode> backwards on the operands as they
    are, the trace in step order (trace[t] = the state after step t). A constant A
    with a trace: window_rev; else run1_<mode> on reversed views."""
    a_val = "a[0]" if mode == "affine" else "a[0] - a[0] + 1"  # add: a is a dummy
    return "\n".join([
        f"def run1r_{mode}(n, h, a, b, store):",
        "    at = 1 if a.shape[0] > 1 else 0",
        "    bt = 1 if b.shape[0] > 1 else 0",
        f"    if store and at == 0 and bt == 1 and n >= {4 * K * L}:",
        "        out = np.empty(n, b.dtype)",
        f"        return out, window_rev(n, h, {a_val}, b, out)",
        f"    out, h = run1_{mode}(n, h, a[::-1], b[::-1], store)",
        "    return out[::-1], h",
    ]) + "\n"


def _run1_source(mode):
    """`run1_<mode>(n, h, a, b, store)`: a scalar state, 1-D operands."""
    win = mode in ("affine", "add")
    a_val = "a[0]" if mode == "affine" else "c[1]"
    return "\n".join([
        f"def run1_{mode}(n, h, a, b, store):",
        "    if n < 0:",
        "        raise ValueError('LinearRecurrence: n_steps must be >= 0')",
        "    out = np.empty(n if store else 0, a.dtype)",
        "    at = 1 if a.shape[0] > 1 else 0",
        "    bt = 1 if b.shape[0] > 1 else 0",
        "    c = np.empty(3, out.dtype)",
        "    c[0] = 0",
        "    c[1] = 1",
        "    c[2] = np.inf",
        f"    if {win} and store and at == 0 and bt == 1 and n >= {4 * K * L}:",
        f"        return out, window(n, h, {a_val}, b, out)",
        f"    return out, scalar_{mode}(n, h, a, b, at, bt, out, store, c)",
    ]) + "\n"


def _wide(src, call="wide_vectors"):
    """The kernel's source with a call of wide_vectors() (or `call`) as its first
    statement: the vector width it asks LLVM for (kernels/vector_width.py; the forward
    window asks for 256 bits)."""
    head, body = src.split("\n", 1)
    return f"{head}\n    {call}()\n{body}"


def _build():
    ns = {"np": np, "nan_max": nan_max, "nan_min": nan_min, "wide_vectors": wide_vectors,
          "vectors_256": vectors_256}
    out = {}
    for name, make, call in (("window", _window_source, "vectors_256"),
                             ("window_rev", _window_rev_source, "wide_vectors")):
        exec(compile(_wide(make(), call), f"<recurrence kernel {name}>", "exec"), ns)  # noqa: S102
        ns[name] = numba.njit(**_OPTS)(ns[name])
        out[name] = ns[name]
    for mode in _TEMPLATES:
        makers = (_scalar_source, _lanes_source, _run_source, _run1_source)
        if mode in ("affine", "add"):
            makers += (_run1r_source,)
        for make in makers:
            src = _wide(make(mode))
            exec(compile(src, f"<recurrence kernel {mode}>", "exec"), ns)  # noqa: S102
            name = src.split("(", 1)[0][4:]
            ns[name] = numba.njit(**_OPTS)(ns[name])
            out[name] = ns[name]
    return out


KERNELS = _build()
globals().update(KERNELS)
__all__ = sorted(KERNELS)


MATRIX_K = 16          # chunks of a matrix recurrence, stacked into one product a step
MATRIX_CHUNK_MIN = 1024


@numba.njit(**_OPTS)
def _add_rows(dst, b, t, bt, rows, start):
    """dst[start + i] += b[t * bt, i (or 0)] for the `rows` rows of one state."""
    br = 1 if b.shape[1] > 1 else 0
    for i in range(rows):
        for j in range(dst.shape[1]):
            dst[start + i, j] += b[t * bt, i * br, j]


@numba.njit(**_OPTS)
def _power(m, p):
    """m ** p (p >= 1) by repeated squaring."""
    result = m.copy()
    base = m.copy()
    p -= 1
    while p > 0:
        if p & 1:
            result = np.dot(result, base)
        base = np.dot(base, base)
        p >>= 1
    return result


@numba.njit(**_OPTS)
def run_matrix(n, h0, m, b, store):
    """h_t = h_{t-1} . m + b_t for a (rows, d) state h0 and b (1 or n, 1 or rows, d):
    (trace (n or 0, rows, d), final). Long ones: MATRIX_K chunks stacked, so that a
    step is one (K*rows, d) . (d, d) product; the chunks' starts from m**L."""
    if n < 0:
        raise ValueError('LinearRecurrence: n_steps must be >= 0')
    rows = h0.shape[0]
    out = np.empty((n if store else 0, rows, h0.shape[1]), h0.dtype)
    h = np.ascontiguousarray(h0).copy()
    bt = 1 if b.shape[0] > 1 else 0
    k = MATRIX_K if n >= MATRIX_CHUNK_MIN else 0
    done = 0
    if k:
        length = n // k
        done = k * length
        s = np.zeros((k * rows, h0.shape[1]), h0.dtype)
        for j in range(length):
            s = np.dot(s, m)
            for c in range(k):
                _add_rows(s, b, c * length + j, bt, rows, c * rows)
        ml = _power(m, length)
        cur = np.empty_like(s)
        for c in range(k):
            cur[c * rows:(c + 1) * rows] = h
            h = np.dot(h, ml) + s[c * rows:(c + 1) * rows]
        if store:
            for j in range(length):
                cur = np.dot(cur, m)
                for c in range(k):
                    _add_rows(cur, b, c * length + j, bt, rows, c * rows)
                    out[c * length + j] = cur[c * rows:(c + 1) * rows]
    for t in range(done, n):
        h = np.dot(h, m)
        _add_rows(h, b, t, bt, rows, 0)
        if store:
            out[t] = h
    return out, h


KERNELS["run_matrix"] = run_matrix
__all__ = sorted(KERNELS)
