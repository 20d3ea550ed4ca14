"""numba emitter of FusedRecurrence: one generated loop per node, with the node's
scalar program written into it, so that no operand array and no unneeded trace is
ever stored.

The entry flattens the state to W lanes and each input to (rows, 1 or W), allocates
the outputs and calls the node's loop function:

    def frec_7(n, h, x0, x1, states, y0):      # h: the state, updated in place
        ...

Two shapes of loop (the choice is made at run time, as LinearRecurrence's kernels do):

- lanes (W > PAR_LANES, or short): one sweep over the steps, lanes innermost; each
  element computes its operands, the state update and its outputs in one go (W
  independent chains already keep the core busy).
- narrow and long (W <= PAR_LANES lanes, n >= CHUNK_MIN): lane by lane, in blocks of
  K*L steps (in step order; backwards when reverse): the block's operands into small
  buffers (one loop the compiler vectorises, transcendental functions included, with
  kernels/vecmath.py), the block's recurrence by the chunked kernels of
  recurrence_kernels.py (``window`` for a constant A: D chains D steps apart;
  ``scalar_<mode>``: K chains of L steps, two passes), then the block's outputs from
  the states before and after each step (another vectorised loop). The buffers stay
  in cache, so the inputs and outputs are read and written once.
"""

from __future__ import annotations

from theanine.scan.fused_recurrence import FusedRecurrence, depends_on_state

from .chunking import CHUNK_MIN, PAR_LANES, K, L
from .codegen import np_dtype
from .ops_elemwise import cast_expr, sigmoid_pairs
from .registry import Unsupported, register
from .scalar_table import scalar_expr

_IMPORT = ("from theanine.backends.numba.recurrence_kernels import (  # noqa: F401\n"
           "    scalar_add, scalar_affine, scalar_mul, window)\n")
_OPTS = "error_model='numpy', nogil=True, fastmath={'contract'}"
_STEP = {"affine": "{A} * {hp} + {B}", "add": "{hp} + {B}", "mul": "{hp} * {A}"}


class _Program:
    """Source of the node's scalar program at one element."""

    def __init__(self, node):
        op = node.op
        self.op = op
        self.nin = op.nin
        self.ins = node.inputs[2:]
        self.dtypes = op.value_dtypes([v.type.dtype for v in self.ins],
                                      node.inputs[1].type.dtype)
        self.dep = depends_on_state(op.nin, op.program)
        self.pairs = _sigmoid_pairs(op, self.dtypes)

    def leaf(self, i, t, w, block=False, view="xf"):
        """Input i at step t, lane w (of its block's view `xb<i>` when `block`; in
        flat loops (block == "flat"), element t of its flattened block `<view><i>`,
        or the scalar `c<i>`)."""
        v = self.ins[i]
        if block == "flat":
            return f"c{i}" if all(v.type.broadcastable) else f"{view}{i}[{t}]"
        ww = "0" if all(v.type.broadcastable[1:]) else w
        if v.type.broadcastable[0]:
            return f"x{i}[0, {ww}]"
        return f"{'xb' if block else 'x'}{i}[{t}, {ww}]"

    def flat_ok(self):
        """Whether every input is either a whole (n, lanes) array or one value, so that
        block loops can run over flat element ranges."""
        return all(all(v.type.broadcastable) or not any(v.type.broadcastable)
                   for v in self.ins)

    def needed(self, refs, known=()):
        """The program steps the values `refs` need, in order (values in `known` are
        given, and what only they need is not computed)."""
        want, known = set(refs), set(known)
        steps = []
        for k in range(len(self.op.program) - 1, -1, -1):
            v = self.nin + 2 + k
            if v in want and v not in known:
                steps.append(k)
                want.update(self.op.program[k][1])
        return sorted(steps)

    def plan(self, pre_refs):
        """(pre, spill, post) for a loop in two passes: the steps computing
        `pre_refs` (with the other halves of their sigmoid pairs, which come free),
        the values of those the outputs read (kept in buffers between the passes,
        not recomputed), and the steps left for the outputs."""
        pre = self.needed(pre_refs)
        pre = sorted(set(pre) | {self.pairs[k][0] for k in pre if k in self.pairs})
        avail = {self.nin + 2 + k for k in pre}
        post = self.needed(self.op.outputs, known=avail)
        used = set(self.op.outputs) | {a for k in post for a in self.op.program[k][1]}
        return pre, sorted(v for v in avail if v in used), post

    def lines(self, steps, t, w, hp="hp", hn="hn", expr=None, block=False, given=None,
              view="xf"):
        """Statements computing `steps` (the values already computed: `expr`, or the
        inputs, hp, hn and the expressions `given`); returns (lines, the expression
        of each value)."""
        if expr is None:
            expr = {i: self.leaf(i, t, w, block, view) for i in range(self.nin)}
            expr[self.nin], expr[self.nin + 1] = hp, hn
            expr.update(given or {})
        out = []
        for k in steps:
            v = self.nin + 2 + k
            if v in expr:  # the other half of a sigmoid pair
                continue
            sop, args, dtype = self.op.program[k]
            name = f"s{k}"
            pair = self.pairs.get(k)
            if pair is not None and pair[0] in steps:
                other, x = pair
                out.append(f"{name}, s{other} = sigmoid_pair_f{dtype[-2:]}({expr[x]})")
                expr[v], expr[self.nin + 2 + other] = name, f"s{other}"
                continue
            e = scalar_expr(sop, [expr[a] for a in args], [self.dtypes[a] for a in args],
                            dtype)
            out.append(f"{name} = {cast_expr(e, dtype)}")
            expr[v] = name
        return out, expr


def _sigmoid_pairs(op, dtypes):
    """{step: (partner step, value x)} for steps sigmoid(x) and sigmoid(-x) of one
    program (a gate z and 1 - z, which stabilize writes as sigmoid(-x)): the loop
    computes both from one exp (kernels/vecmath.py sigmoid_pair_*), the one it meets
    first as sigmoid_pair(x) of its own argument. Found by ops_elemwise.sigmoid_pairs
    on the program written as emit_dag's steps."""
    base = op.nin + 2
    steps = [(sop, [("in", a) if a < base else ("step", a - base) for a in args],
              [dtypes[a] for a in args], dtype) for sop, args, dtype in op.program]
    pairs = {}
    for j, (m, _) in sigmoid_pairs(steps).items():
        pairs[j], pairs[m] = (m, op.program[j][1][0]), (j, op.program[m][1][0])
    return pairs


def _operand_exprs(op, expr):
    names = {"affine": ("A", "B"), "add": ("B",), "mul": ("A",)}[op.mode]
    return {name: expr[r] for name, r in zip(names, op.operands)}


def _loop_source(name, node, dt):
    """The loop function of one node (see the module docstring)."""
    op = node.op
    p = _Program(node)
    nin, nout = op.nin, len(op.outputs)
    args = ", ".join([f"x{i}" for i in range(nin)] + ["states"] + [f"y{j}" for j in range(nout)])
    s_off = "1" if op.init_row and not op.reverse else "0"
    src = [f"@numba.njit({_OPTS})",
           f"def {name}(n, h, {args}):",
           "    wide_vectors()",
           "    W = h.shape[0]",
           f"    if W <= {PAR_LANES} and n >= {CHUNK_MIN}:",
           f"        {name}_narrow(n, h, {args})",
           "        return"]
    writes = 1 + op.store + nout
    if not op.reverse and writes * (nin + writes) <= _MAX_CHECKS:
        src += _lanes_direct(op, p, s_off)
    else:
        src += _lanes_blocked(op, p, dt, s_off)
    src += ["", ""] + _narrow_source(name, node, p, dt)
    return "\n".join(src) + "\n"


# LLVM vectorises a loop over arrays it cannot prove distinct only after comparing
# their addresses at run time, and gives up beyond 8 comparisons (one per pair of a
# written array and another array): a loop over steps and lanes writing four arrays
# from two ran 4x slower than the same loop writing one 3-d array. So the direct sweep
# is for few arrays, and the blocked loops over rows and lanes write one array each
# (scratch buffers hold several values as rows). The pipelined loops over a block's
# flat elements write several arrays and still run in vector form (measured: a program
# with five outputs as fast pipelined as in one loop per output, exps included).
_MAX_CHECKS = 8

BLOCK = 4096  # elements of a block of the lanes sweep (_lanes_blocked)


def _lanes_direct(op, p, s_off):
    """One sweep over the steps, lanes innermost, everything per element (few arrays)."""
    nin = op.nin
    pre = [k for k in range(len(op.program)) if not p.dep[nin + 2 + k]]
    post = [k for k in range(len(op.program)) if p.dep[nin + 2 + k]]
    body, expr = p.lines(pre, "t", "w")
    body.append("hp = h[w]")
    body.append("hn = " + _STEP[op.mode].format(hp="hp", **_operand_exprs(op, expr)))
    body.append("h[w] = hn")
    if op.store:
        body.append(f"states[t + {s_off}, w] = hn")
    more, expr = p.lines(post, "t", "w", expr=expr)
    body += more + [f"y{j}[t, w] = {expr[r]}" for j, r in enumerate(op.outputs)]
    return ["    for t in range(n):", "        for w in range(W):"] + \
        [f"            {b}" for b in body]


def _operand_rows(op, p, spill):
    """{value: row of the operand buffer}: the operands, then the spilled values."""
    rows = {}
    for r in list(op.operands) + list(spill):
        rows.setdefault(r, len(rows))
    return rows


def _bounds(op, q, lo, hi):
    """Lines setting `lo`, `hi` to the rows of block `q` (an expression; from the last
    rows when the recurrence runs backwards; empty past the last block)."""
    if op.reverse:
        return [f"{hi} = max(0, n - ({q}) * bs)", f"{lo} = max(0, {hi} - bs)"]
    return [f"{lo} = min(n, ({q}) * bs)", f"{hi} = min(n, {lo} + bs)"]


# Few lanes: the block's recurrence keeps GROUP lanes' states in variables (GROUP
# independent chains, scalar: numba leaves LLVM's SLP vectoriser off) instead of
# reading each step's state back from tbuf. LLVM vectorises the loop over lanes 8 x 4
# at a time (float64, 512 bits), so fewer lanes ran it one element at a time, each
# step waiting for the previous one's store. Per lane and step, float64, on AMD's Zen 4
# (benchmarks/RESULTS.md, "Stop 25"): 8 lanes 0.84-0.87 -> 0.50 ns, 64 lanes 0.72 ->
# 0.51, 128 0.71 -> 0.53; from 512 lanes on the loop over lanes is the faster one.
# The gated recurrence's gradient kernel (8 lanes, 1e5 steps): 2.57-2.63 -> 2.30-2.35 ms.
GROUP = 8
GROUPS_MAX = 16


def _block_recurrence(op, rows, buf):
    """Lines running a block's recurrence in tbuf from h, the operands in rows of
    `buf` (a (rows, bs, W) array), leaving the block's last state in h; and the
    expressions of the states before and after step t, lane w. Up to GROUPS_MAX *
    GROUP lanes run GROUP at a time in variables, the rest in a loop over lanes."""
    names = ("A", "B") if op.mode == "affine" else ("B",) if op.mode == "add" else ("A",)
    if op.reverse:  # tbuf[t] = the state after step t, tbuf[m] = the block's start
        first, rng, prev, at, last = "m", "range(m - 1, -1, -1)", "t + 1", "t", "0"
    else:  # tbuf[t + 1] = the state after step t, tbuf[0] = the block's start
        first, rng, prev, at, last = "0", "range(m)", "t", "t + 1", "m"

    def step(hp, lane):
        ops = dict(zip(names, [f"{buf}[{rows[r]}, t, {lane}]" for r in op.operands]))
        return _STEP[op.mode].format(hp=hp, **ops)

    def flat_step(hp, j):
        ops = dict(zip(names, [f"gb[o{r} + i{j}]" for r in op.operands]))
        return _STEP[op.mode].format(hp=hp, **ops)

    # each group on the flat buffers at unsigned offsets (numba checks a signed index
    # for wrapping around at every access: 24 compares and selects a step), the states
    # stored after all of them are computed
    regs = [f"r{j}" for j in range(GROUP)]
    o = {"t": "", "t + 1": " + uW"}
    grouped = [f"g = 0 if W > {GROUPS_MAX * GROUP} else W - W % {GROUP}",
               f"gb = {buf}.reshape(-1)", "gt = tbuf.reshape(-1)",
               f"rb = {buf}.shape[1] * W", "uW = np.uint64(W)"]
    grouped += [f"o{r} = np.uint64({rows[r]} * rb)" for r in op.operands]
    grouped += [f"u{j} = np.uint64({j})" for j in range(1, GROUP)]
    grouped += [f"for g0 in range(0, g, {GROUP}):",
                "    " + ", ".join(regs) + " = " + ", ".join(
                    f"gt[{first} * W + g0 + {j}]" for j in range(GROUP)),
                f"    for t in {rng}:", "        i0 = np.uint64(t * W + g0)"]
    grouped += [f"        i{j} = i0 + u{j}" for j in range(1, GROUP)]
    grouped += [f"        {r} = {flat_step(r, j)}" for j, r in enumerate(regs)]
    grouped += [f"        gt[i{j}{o[at]}] = {r}" for j, r in enumerate(regs)]
    return (["for w in range(W):", f"    tbuf[{first}, w] = h[w]"] + grouped +
            ["if g < W:", f"    for t in {rng}:", "        for w in range(g, W):",
             f"            tbuf[{at}, w] = {step(f'tbuf[{prev}, w]', 'w')}",
             "for w in range(W):", f"    h[w] = tbuf[{last}, w]"],
            f"tbuf[{prev}, w]", f"tbuf[{at}, w]")


def _lanes_blocked(op, p, dt, s_off):
    """The lanes sweep in blocks of rows (visited from the last when the recurrence
    runs backwards): a block's operands computed in step order into one buffer (rows
    read in ascending order, which the hardware prefetches: read in descending order,
    a loop with an exp in it ran 3x slower), its recurrence run in cache, its outputs
    computed in step order. When no input broadcasts along one axis only, the loops
    run over the block's elements as one flat range (a loop over 8 lanes inside a loop
    over rows ran 2x slower: the vector loop and its alias checks restart every row)
    and are pipelined (_lanes_pipelined); else over rows and lanes, one loop per
    output."""
    if p.flat_ok():
        return _lanes_pipelined(op, p, dt, s_off)
    pre, spill, post = p.plan(op.operands)
    rows = _operand_rows(op, p, spill)
    src = [f"    bs = max(16, {BLOCK} // max(W, 1))",
           f"    pb = np.empty(({len(rows)}, bs, W), {dt})",
           f"    tbuf = np.empty((bs + 1, W), {dt})",
           "    for q in range((n + bs - 1) // bs):"]
    src += [f"        {x}" for x in _bounds(op, "q", "lo", "hi")] + ["        m = hi - lo"]
    src += [f"        xb{i} = x{i}[lo:hi]" for i in range(op.nin)
            if not p.ins[i].type.broadcastable[0]]
    loop = ["        for t in range(m):", "            for w in range(W):"]
    ind = "                "
    lines, expr = p.lines(pre, "t", "w", block=True)
    src += loop + [f"{ind}{x}" for x in lines + [f"pb[{k}, t, w] = {expr[v]}"
                                                 for v, k in rows.items()]]
    rec, hp, hn = _block_recurrence(op, rows, "pb")
    src += [f"        {x}" for x in rec]
    if op.store:
        src.append(f"        sb = states[lo + {s_off}:hi + {s_off}]")
        src += loop + [f"{ind}sb[t, w] = {hn}"]
    given = {v: f"pb[{rows[v]}, t, w]" for v in spill}
    for j, r in enumerate(op.outputs):  # one loop per output: one array written each
        steps = [k for k in post if k in p.needed([r], known=set(spill))]
        more, expr = p.lines(steps, "t", "w", hp=hp, hn=hn, block=True, given=given)
        src.append(f"        yb = y{j}[lo:hi]")
        src += loop + [f"{ind}{x}" for x in more + [f"yb[t, w] = {expr[r]}"]]
    return src


def _lanes_pipelined(op, p, dt, s_off):
    """The flat lanes sweep in blocks, software-pipelined: one loop computes the
    outputs (and states) of block q and the operands of block q+1, into the other of
    two buffers, so that the outputs' writes to memory overlap the operands' reads and
    arithmetic (exps); one loop after the other leaves each phase bound by one of them.
    The gated recurrence's gradient (width 8, 1e5 steps, float64; 4 inputs, 2
    outputs), against one loop for the operands then one per output: 2.2-2.5 -> 1.9-2.2
    ms with its arrays in cache, 5.0-5.8 -> 3.9-4.1 ms from memory (benchmarks/RESULTS.md,
    "Stop 24")."""
    nin = op.nin
    pre, spill, post = p.plan(op.operands)
    rows = _operand_rows(op, p, spill)
    sliced = [i for i in range(nin) if not p.ins[i].type.broadcastable[0]]
    src = [f"    bs = max(16, {BLOCK} // max(W, 1))",
           f"    cur = np.empty(({len(rows)}, bs, W), {dt})",
           f"    nxt = np.empty(({len(rows)}, bs, W), {dt})",
           f"    tbuf = np.empty((bs + 1, W), {dt})",
           "    BW = bs * W", "    tf = tbuf.reshape(-1)", "    nb = (n + bs - 1) // bs"]
    src += [f"    c{i} = x{i}[0, 0]" for i in range(nin) if all(p.ins[i].type.broadcastable)]
    lines, expr = p.lines(pre, "i", None, block="flat", view="nf")
    operands = lines + [f"nff[{k} * BW + i] = {expr[v]}" for v, k in rows.items()]
    # the prologue: block 0's operands
    src += ["    if nb > 0:"] + [f"        {x}" for x in _bounds(op, "0", "lo2", "hi2")]
    src += [f"        nf{i} = x{i}[lo2:hi2].reshape(-1)" for i in sliced]
    src += ["        nff = cur.reshape(-1)", "        for i in range((hi2 - lo2) * W):"]
    src += [f"            {x}" for x in operands]
    src += ["    for q in range(nb):"] + [f"        {x}" for x in _bounds(op, "q", "lo", "hi")]
    src.append("        m = hi - lo")
    rec, _, _ = _block_recurrence(op, rows, "cur")
    src += [f"        {x}" for x in rec]
    hp, hn = ("tf[i + W]", "tf[i]") if op.reverse else ("tf[i]", "tf[i + W]")
    # the outputs and states of block q, the operands of block q + 1
    src += [f"        {x}" for x in _bounds(op, "q + 1", "lo2", "hi2")]
    src += [f"        xf{i} = x{i}[lo:hi].reshape(-1)" for i in sliced]
    src += [f"        nf{i} = x{i}[lo2:hi2].reshape(-1)" for i in sliced]
    src += ["        cf = cur.reshape(-1)", "        nff = nxt.reshape(-1)"]
    src += [f"        yb{j} = y{j}[lo:hi].reshape(-1)" for j in range(len(op.outputs))]
    given = {v: f"cf[{k} * BW + i]" for v, k in rows.items()}
    outputs, expr = p.lines(post, "i", None, hp=hp, hn=hn, block="flat", given=given)
    outputs += [f"yb{j}[i] = {expr[r]}" for j, r in enumerate(op.outputs)]
    if op.store:
        src.append(f"        sbf = states[lo + {s_off}:hi + {s_off}].reshape(-1)")
        outputs.append(f"sbf[i] = {hn}")
    src += ["        m2 = hi2 - lo2", "        for i in range(m2 * W):"]
    src += [f"            {x}" for x in outputs + operands]
    if outputs:  # block q + 1 is shorter (the last one) or empty
        src += ["        for i in range(m2 * W, m * W):"] + [f"            {x}" for x in outputs]
    src.append("        cur, nxt = nxt, cur")
    return src


def _narrow_source(name, node, p, dt):
    """`<name>_narrow`: lane by lane, blocks of K*L steps through cache-sized buffers
    (one buffer written per loop, see _MAX_CHECKS). The block loops index the block's
    views with the loop counter (and the buffers with a constant minus it when
    backwards), so that LLVM vectorises them."""
    op = node.op
    nin, nout = op.nin, len(op.outputs)
    args = ", ".join([f"x{i}" for i in range(nin)] + ["states"] + [f"y{j}" for j in range(nout)])
    s_off = "1" if op.init_row and not op.reverse else "0"
    bs = K * L
    names = ("A", "B") if op.mode == "affine" else ("B",) if op.mode == "add" else ("A",)
    refs = dict(zip(names, op.operands))
    a_ref = refs.get("A")
    # window: h_t = a*h_{t-1} + b_t with a constant in time (add: a = 1)
    use_window = op.mode == "add" or (op.mode == "affine" and a_ref < nin
                                      and p.ins[a_ref].type.broadcastable[0])
    wanted = [refs["B"]] if use_window else list(refs.values())
    pre, spill, post = p.plan(wanted)
    rows = {}
    for r in wanted + list(spill):
        rows.setdefault(r, len(rows))
    src = [f"@numba.njit({_OPTS})",
           f"def {name}_narrow(n, h, {args}):",
           "    wide_vectors()",
           f"    pb = np.empty(({len(rows)}, {bs}), {dt})",
           f"    tbuf = np.empty({bs}, {dt})",
           f"    c = np.empty(3, {dt})",
           "    c[0] = 0",
           "    c[1] = 1",
           "    c[2] = np.inf",
           f"    nb = n // {bs}",
           "    for w in range(h.shape[0]):",
           "        hw = h[w]"]
    if use_window and op.mode == "affine":
        src.append(f"        a = {p.leaf(a_ref, '0', 'w')}")
    lo = f"n - (q + 1) * {bs}" if op.reverse else f"q * {bs}"
    src += ["        for q in range(nb):", f"            lo = {lo}"]
    src += [f"            xb{i} = x{i}[lo:lo + {bs}]" for i in range(nin)
            if not p.ins[i].type.broadcastable[0]]
    pos = f"{bs - 1} - j" if op.reverse else "j"  # a step's place in processing order
    lines, expr = p.lines(pre, "j", "w", block=True)
    lines += [f"pb[{k}, {pos if v in wanted else 'j'}] = {expr[v]}" for v, k in rows.items()]
    src += [f"            for j in range({bs}):"] + [f"                {x}" for x in lines]
    src.append("            hstart = hw")
    if use_window:
        a = "a" if op.mode == "affine" else "c[1]"
        src.append(f"            hw = window({bs}, hw, {a}, pb[{rows[refs['B']]}], tbuf)")
    else:
        ab = [f"pb[{rows[refs[x]]}]" if x in refs else "tbuf" for x in ("A", "B")]
        src.append(f"            hw = scalar_{op.mode}({bs}, hw, {ab[0]}, {ab[1]}, 1, 1, tbuf, "
                   "True, c)")
    if op.store:
        src += [f"            sb = states[lo + {s_off}:lo + {s_off} + {bs}]",
                f"            for j in range({bs}):", f"                sb[j, w] = tbuf[{pos}]"]
    given = {v: f"pb[{rows[v]}, {pos if v in wanted else 'j'}]" for v in spill}
    for k, r in enumerate(op.outputs):  # one loop per output: one array written each
        steps = [s for s in post if s in p.needed([r], known=set(spill))]
        src.append(f"            yb = y{k}[lo:lo + {bs}]")
        if op.reverse:  # step j is processed at bs-1-j; the first processed is the last
            src.append(f"            for j in range({bs - 1}):")
            src += [f"                {x}" for x in _post_lines(
                p, r, f"tbuf[{bs - 2} - j]", f"tbuf[{bs - 1} - j]", steps, given)]
            src.append(f"            j = {bs - 1}")
            src += [f"            {x}" for x in _post_lines(p, r, "hstart", "tbuf[0]", steps,
                                                          given)]
        else:
            src.append("            j = 0")
            src += [f"            {x}" for x in _post_lines(p, r, "hstart", "tbuf[0]", steps,
                                                          given)]
            src.append(f"            for j in range(1, {bs}):")
            src += [f"                {x}" for x in _post_lines(
                p, r, "tbuf[j - 1]", "tbuf[j]", steps, given)]
    # the steps not in whole blocks (the first ones when backwards), one by one
    if op.reverse:
        src += [f"        for t in range(n - nb * {bs} - 1, -1, -1):"]
    else:
        src += [f"        for t in range(nb * {bs}, n):"]
    lines, expr = p.lines([k for k in range(len(op.program)) if not p.dep[nin + 2 + k]],
                          "t", "w")
    lines.append("hp = hw")
    lines.append("hn = " + _STEP[op.mode].format(hp="hp", **_operand_exprs(op, expr)))
    lines.append("hw = hn")
    if op.store:
        lines.append(f"states[t + {s_off}, w] = hn")
    more, expr = p.lines([k for k in range(len(op.program)) if p.dep[nin + 2 + k]],
                         "t", "w", expr=expr)
    lines += more + [f"y{j}[t, w] = {expr[r]}" for j, r in enumerate(op.outputs)]
    src += [f"            {x}" for x in lines]
    src.append("        h[w] = hw")
    return src


def _post_lines(p, r, hp, hn, steps, given):
    """Output value r at a block's step j from the states before (hp) and after (hn)
    it (`steps` to compute, the values `given` read from the operand buffer)."""
    more, expr = p.lines(steps, "j", "w", hp=hp, hn=hn, block=True, given=given)
    return more + [f"yb[j, w] = {expr[r]}"]


@register(FusedRecurrence, outer=True)
def _fused_recurrence(ctx, node, ins, outs):
    op = node.op
    h0v = node.inputs[1]
    if h0v.type.dtype not in ("float32", "float64"):
        raise Unsupported(f"FusedRecurrence of dtype {h0v.type.dtype}")
    ctx.helper(_IMPORT)
    dt = np_dtype(h0v.type.dtype)
    n, h0, *xs = ins
    nd = h0v.type.ndim
    label = str(op).replace("'", "")
    fn = ctx.tmp("frec")
    ctx.helper(_loop_source(fn, node, dt))
    with ctx.block(f"if {n} < 0:"):
        ctx.line(f"raise ValueError('{label}: n_steps must be >= 0')")
    flat_x = []
    for i, (x, var) in enumerate(zip(xs, node.inputs[2:])):
        rows = f"{x}.shape[0] != {n}"
        if var.type.broadcastable[0]:
            rows += f" and {x}.shape[0] != 1"
        with ctx.block(f"if {rows}:"):
            ctx.line(f"raise ValueError('{label}: input {i} has a number of rows other "
                     "than the steps')")
        for d in range(nd):
            if not var.type.broadcastable[d + 1]:
                with ctx.block(f"if {x}.shape[{d + 1}] != {h0}.shape[{d}]:"):
                    ctx.line(f"raise ValueError('{label}: input {i} does not match the "
                             f"state\\'s shape in dimension {d + 1}')")
        f = ctx.tmp("x")
        ctx.line(f"{f} = np.ascontiguousarray({x}).reshape({x}.shape[0], -1)")
        flat_x.append(f)
    h = ctx.tmp("h")
    if nd == 0:
        ctx.line(f"{h} = np.empty(1, {dt})")
        ctx.line(f"{h}[0] = {h0}")
        shape = "()"
    else:
        ctx.line(f"{h} = np.ascontiguousarray({h0}).reshape({h0}.size).copy()")
        shape = f"{h0}.shape"
    rows = f"{n} + 1" if op.init_row else n if op.store else "0"
    st = ctx.tmp("st")
    ctx.line(f"{st} = np.empty(({rows}, {h}.shape[0]), {dt})")
    if op.init_row:
        ctx.line(f"{st}[{n if op.reverse else 0}] = {h}")
    ys = []
    for o in node.outputs[len(node.outputs) - len(op.outputs):]:
        y = ctx.tmp("y")
        ctx.line(f"{y} = np.empty(({n}, {h}.shape[0]), {np_dtype(o.type.dtype)})")
        ys.append(y)
    ctx.line(f"{fn}({n}, {h}, {', '.join(flat_x + [st] + ys)})")

    def shaped(a, lead):
        return f"{a}.reshape({lead})" if nd == 0 else f"{a}.reshape(({lead},) + {shape})"

    k = 0
    if op.store:
        ctx.line(f"{outs[0]} = {shaped(st, rows)}")
        k = 1
    ctx.line(f"{outs[k]} = {h}[0]" if nd == 0 else f"{outs[k]} = {h}.reshape({shape})")
    for o, y in zip(outs[k + 1:], ys):
        ctx.line(f"{o} = {shaped(y, n)}")
