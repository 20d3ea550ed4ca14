"""scan_checkpoints: a scan whose gradient stores states only every N steps.

The loop runs as an outer scan over chunks of `save_every_N` steps, each chunk an
inner scan. The gradient of the outer scan keeps only the state at each chunk
boundary and recomputes the inner steps, trading time for memory. Sequences
are padded to a whole number of chunks; padded steps leave the state unchanged.
"""

from __future__ import annotations

import theanine.tensor as T

from .api import scan
from .utils import wrap_list


def scan_checkpoints(fn, sequences=None, outputs_info=None, non_sequences=None,
                     name="checkpointscan_fn", n_steps=None, save_every_N=10, padding=True):
    """Like scan (outputs with taps [-1] only, no until), saving memory in the gradient."""
    seqs, infos = wrap_list(sequences), wrap_list(outputs_info)
    consts = wrap_list(non_sequences)
    if not infos or any(i is None or isinstance(i, dict) for i in infos):
        raise ValueError("scan_checkpoints: every outputs_info entry must be an initial "
                         "state (taps [-1]); None and dict entries are not supported")
    if not isinstance(save_every_N, int) or save_every_N < 1:
        raise ValueError(f"scan_checkpoints: save_every_N must be a positive int, got "
                         f"{save_every_N!r}")
    seqs = [T.as_tensor_variable(s) for s in seqs]
    infos = [T.as_tensor_variable(i) for i in infos]
    if n_steps is None:
        if not seqs:
            raise ValueError("scan_checkpoints: give sequences or n_steps")
        n_steps = seqs[0].shape[0]
    n_steps = T.cast(T.as_tensor_variable(n_steps), "int64")
    N = save_every_N
    n_chunks = (n_steps + N - 1) // N
    total = n_chunks * N
    chunked = []
    for s in seqs:
        s = s[:n_steps]
        rest = tuple(s.shape[i] for i in range(1, s.ndim))
        pad = T.zeros((total - n_steps,) + rest, dtype=s.dtype)
        full = T.concatenate([s, pad], axis=0)
        chunked.append(T.reshape(full, (n_chunks, N) + rest))
    n_s, n_c = len(seqs), len(infos)

    def outer_step(i, *args):
        chunk_seqs, carries = args[:n_s], args[n_s:n_s + n_c]
        cs = args[n_s + n_c:]
        valid = T.minimum(N, n_steps - i * N)

        def inner_step(t, *a):
            el, prev = a[:n_s], a[n_s:n_s + n_c]
            outs = fn(*el, *prev, *cs)
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            return [T.switch(T.lt(t, valid), o, p) for o, p in zip(outs, prev)]

        res, _ = scan(inner_step, sequences=[T.arange(N)] + list(chunk_seqs),
                      outputs_info=list(carries), non_sequences=list(cs), n_steps=N,
                      return_list=True, name=f"{name}_inner")
        return [r[-1] for r in res] + list(res)

    res, updates = scan(outer_step, sequences=[T.arange(n_chunks)] + chunked,
                        outputs_info=list(infos) + [None] * n_c, non_sequences=consts,
                        return_list=True, name=name)
    traces = [T.reshape(r, (total,) + tuple(r.shape[i] for i in range(2, r.ndim)))[:n_steps]
              for r in res[n_c:]]
    return (traces[0] if len(traces) == 1 else traces), updates
