"""The numba linker: Python glue around compiled kernels, with tiered compilation.

The function is the py linker's straight-line generated Python (one call per
node, same gc and chunking), but a node worth compiling (a Scan, elementwise
work, or every node under policy 'all') calls a numba *kernel*: a generated
module (codegen) with the node's work as one njit function (a Scan's inner
graph inlined into its loop). Why not one njit function per graph: JIT cost.
A 2-layer LSTM forward+backward as one njit function takes ~15 s to compile;
kernels are small, compile in ~0.1-1 s each, and are shared across graphs and
processes through the disk cache (store.py), so a new graph mostly loads.

Tiers (``set_policy`` / $THEANINE_NUMBA_COMPILE; $THEANINE_NUMBA_GRANULARITY=all
compiles every node that has a numba implementation, for testing):
- 'auto' (default): kernels already on disk load at their second call (the first
  runs on NumPy while numba is not started: starting it costs ~0.5 s); a missing
  kernel runs its NumPy implementation until the function proves hot (its
  compilable nodes have spent HOT_SECONDS on NumPy, or one of them HOT_CALLS
  calls); then all its missing kernels compile in background processes and swap
  in when ready. A Scan running on NumPy whose remaining steps would take longer
  than LONG_SCAN seconds plus its kernel's expected compile time pauses, and the
  compiled loop runs the rest from the step reached (scan.op.Paused).
- 'background': every missing kernel starts compiling at link time.
- 'sync': every kernel is compiled at link time (tests, benchmarks), except one
  whose compile is expected to take longer than SYNC_SECONDS (a loop body of
  thousands of distinct generated lines): that one runs on NumPy, with a warning,
  while background processes compile it, and swaps in when they finish.
- 'strict': as sync, and a kernel that fails to compile raises, as does a node
  whose emitter cannot handle it (Unsupported).
- 'checked': as strict, except that an Unsupported node runs in object mode (the
  tensor and scan test suites run on numba this way).

Ops with no numba implementation run their NumPy implementation from Python
("object mode") with a one-time warning per op class.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings

import numpy as np

from theanine.backends.py.linker import link as py_link
from theanine.backends.py.linker import py_funcify
from theanine.graph.utils import user_stacklevel
from theanine.scan.op import Paused, Scan, run_scan
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import Elemwise

from . import background, codegen, ops_scan, store
from .registry import Unsupported, emitter_for, worth_compiling
from .scalar_table import NUMPY_SLOWER, TRANSCENDENTAL

POLICIES = ("auto", "background", "sync", "strict", "checked")
HOT_SECONDS = 0.1
HOT_CALLS = 50
LONG_SCAN = 1.0
SYNC_SECONDS = 60.0  # the longest compile 'sync' waits for (compile_estimate)
PAUSE_AFTER = 0.05  # seconds a NumPy loop runs before its projection is trusted
_env_policy = os.environ.get("THEANINE_NUMBA_COMPILE", "auto").strip().lower()
_env_gran = os.environ.get("THEANINE_NUMBA_GRANULARITY", "auto").strip().lower()
_state = {"policy": _env_policy if _env_policy in POLICIES else "auto",
          "granularity": _env_gran if _env_gran in ("auto", "all") else "auto"}
_warned = set()


def check_available():
    import numba  # noqa: F401

    return True


def set_policy(policy=None, granularity=None):
    """Set the compile policy (see module doc) and granularity ('auto': kernels
    where compiled code wins; 'all': every node that has a numba implementation)."""
    if policy is not None:
        if policy not in POLICIES:
            raise ValueError(f"numba compile policy must be one of {POLICIES}, got {policy!r}")
        _state["policy"] = policy
    if granularity is not None:
        if granularity not in ("auto", "all"):
            raise ValueError(f"granularity must be 'auto' or 'all', got {granularity!r}")
        _state["granularity"] = granularity


@contextlib.contextmanager
def policy(name=None, granularity=None):
    old = dict(_state)
    set_policy(name, granularity)
    try:
        yield
    finally:
        _state.update(old)


def warn_object_mode(op, why):
    cls = type(op).__name__
    if cls in _warned:
        return
    _warned.add(cls)
    warnings.warn(f"theanine numba backend: {cls} runs in object mode (its NumPy "
                  f"implementation, called from Python): {why}", stacklevel=user_stacklevel())


_TEXTS = {}  # text_key(node) -> kernel text, for nodes repeating an op (MAX_TEXTS kept)
MAX_TEXTS = 4096


def kernel_text(node):
    """The module text of a kernel computing `node` (raises Unsupported)."""
    if emitter_for(node.op) is None:
        raise Unsupported("no numba implementation is registered")
    m = codegen.Module()
    if isinstance(node.op, Scan):
        ops_scan.scan_entry(m, node)
        return m.text()
    key = text_key(node)
    text = _TEXTS.get(key)
    if text is None:
        codegen.emit_function(m, "kernel", node.inputs, node.outputs, boxed=True, cache=True)
        if len(_TEXTS) >= MAX_TEXTS:
            _TEXTS.clear()
        text = _TEXTS[key] = m.text()
    return text


def text_key(node):
    """What the kernel text of a node other than a Scan depends on: its op, the types of
    its inputs and outputs, and which inputs are one variable. Every input is a
    parameter of the kernel (codegen.emit_function), so constants' values are not in
    the text, and no emitter reads anything else; a graph repeating an op (a deep
    unrolled network: 20,000 fused tanh steps) emits its text once, not per node.
    (A test that changes the generator's settings, codegen.PART_LINES or Ctx.in_part,
    starts from an empty _TEXTS.)"""
    first = {}
    same = tuple(first.setdefault(id(v), k) for k, v in enumerate(node.inputs))
    return (node.op, tuple(v.type for v in node.inputs),
            tuple(v.type for v in node.outputs), same)


_SIGS = {}  # sig_name -> numba types (building them costs ~100 us a node)


def expected_sig(node):
    name = sig_name(node)
    sig = _SIGS.get(name)
    if sig is None:
        import numba
        from numba import types

        # read-only array types: writable arrays convert to them at no cost, so one
        # compiled signature serves both (two would make calls mixing them ambiguous)
        sig = _SIGS[name] = tuple(
            types.Array(numba.from_dtype(np.dtype(v.type.dtype)), v.type.ndim, lay,
                        readonly=True) for v, lay in zip(node.inputs, layouts(node)))
    return sig


def sig_name(node):
    """store.sig_key of expected_sig(node), without importing numba."""
    return ",".join(store.describe(v.type.dtype, v.type.ndim, lay, True)
                    for v, lay in zip(node.inputs, layouts(node)))


def sig_spec(node):
    """expected_sig without numba: [dtype, ndim, layout, read-only] per argument,
    what a background worker compiles."""
    return [[v.type.dtype, v.type.ndim, lay, True] for v, lay in zip(node.inputs, layouts(node))]


def layouts(node):
    """The array layout each input of node's kernel takes: 'A' (any strides) for the
    sequences of a Scan whose rows are arrays (a loop reads them row by row, so a
    reversed or transposed view is not copied whole), 'C' for the rest."""
    seqs = range(1, 1 + node.op.n_seqs) if isinstance(node.op, Scan) else ()
    return tuple("A" if k in seqs and v.type.ndim >= 2 else "C"
                 for k, v in enumerate(node.inputs))


def _readonly(t):
    from numba import types

    return t.copy(readonly=True) if isinstance(t, types.Array) else t


def _normalize(args, lay):
    return [np.asarray(a) if not isinstance(a, np.ndarray)
            else np.ascontiguousarray(a) if lay == "C" and not a.flags.c_contiguous
            else a for a, lay in zip(args, lay)]


class NodeKernel:
    """The glue's callable for one compiled node, and its tier state."""

    def __init__(self, kernel, node, fallback):
        self.kernel, self.node, self.fallback = kernel, node, fallback
        self.cell = [None]  # the dispatcher, once compiled for this node's signature
        self.spent = 0.0
        self.calls = 0
        self.requested = False
        self.on_disk = None
        self.siblings = [self]  # the kernels of the same function (link sets them)
        self.shared_spent = [0.0]  # NumPy time of all of them (link shares the list)
        self.held = [False]  # True: no background compile is asked for (link shares it)
        self.call = self._make_call()

    def _make_call(self):
        cell, slow = self.cell, self._slow
        lay = self.layouts = layouts(self.node)
        c_pos = [k for k, v in enumerate(lay) if v == "C"]

        def call(*args):
            d = cell[0]
            if d is None:
                return slow(args)
            for k in c_pos:  # a C-contiguous array parameter: copy a view, convert a
                a = args[k]  # Python number or NumPy scalar (np.int64 from a shape's
                if not (isinstance(a, np.ndarray) and a.flags.c_contiguous):  # min)
                    args = _normalize(args, lay)  # first: a failed dispatch costs
                    break  # 0.1-1.3 ms (the gated recurrence's gradient's loops)
            try:
                return d(*args)
            except TypeError as e:
                if "No matching definition" not in str(e):
                    raise
                return self._retype(args)

        return call

    def _retype(self, args):
        args = _normalize(args, self.layouts)
        try:
            return self.cell[0](*args)
        except TypeError as e:
            if "No matching definition" not in str(e):
                raise
        import numba

        d = self.kernel.compile(tuple(_readonly(numba.typeof(a)) for a in args))
        return d(*args)

    def compile_now(self, strict=False):
        """Compile (or load) in this process now; False if it failed."""
        k = self.kernel
        if k.failed is not None:
            if strict:
                raise RuntimeError(k.failed)
            return False
        try:
            self.cell[0] = k.compile(expected_sig(self.node))
            _state["numba_started"] = True
        except Exception as e:  # noqa: BLE001 - compiled code is an optimisation
            k.failed = f"{type(e).__name__}: {e}"
            if strict:
                raise
            warn_object_mode(self.node.op, f"compiling its kernel failed ({k.failed[:300]})")
            return False
        return True

    def ready(self):
        return self.cell[0] is not None

    def _slow(self, args):
        k = self.kernel
        if k.failed is None:
            if self.on_disk is None or (self.requested and background.done(k)):
                self._look_on_disk()
            # A kernel on disk loads in milliseconds once numba runs in this process;
            # starting numba costs ~0.5 s, so a first call runs on NumPy and the
            # compiled kernels load from the second call on.
            if self.on_disk and (self.calls or _state.get("numba_started")
                                 or _state["policy"] != "auto") and self.compile_now():
                return self.call(*args)
        t0 = time.perf_counter()
        try:
            return self.fallback(*args)
        except Paused as p:  # a long loop: the rest runs compiled, not from step 0
            return self._resume(p)
        finally:
            dt = time.perf_counter() - t0
            self.spent += dt
            self.shared_spent[0] += dt
            self.calls += 1
            if (not self.requested and not self.held[0] and k.failed is None
                    and _state["policy"] == "auto"
                    and (self.shared_spent[0] > HOT_SECONDS or self.calls >= HOT_CALLS)):
                self.request()

    def _look_on_disk(self):
        """Whether the kernel is on disk now (kept in ``on_disk``); if not and its
        background compile failed, it is marked failed (NumPy runs it, with a warning)."""
        k = self.kernel
        self.on_disk = store.cached_on_disk(k, sig_name(self.node))
        if not self.on_disk and background.failure(k):
            k.failed = "its background compile failed"
            warn_object_mode(self.node.op, k.failed)
        return self.on_disk

    def _resume(self, paused):
        """Run the steps of a paused NumPy loop that are left: compiled if the
        kernel compiles (or loads), else on NumPy; each step runs once."""
        node = self.node
        n_rest, outer = paused.rest()
        if self.compile_now():
            out = self.call(np.asarray(n_rest, dtype=node.inputs[0].type.dtype), *outer)
        else:
            out = run_scan(node.op, node.op.inner_function(), node, n_rest, outer)
        res = paused.join((out,) if len(node.outputs) == 1 else out)
        return res if len(node.outputs) != 1 else res[0]

    def request(self):
        """Compile this function's missing kernels that have run in the background
        (the function is hot: in use), the largest first."""
        if not self.requested:
            request_missing(self.siblings, used_only=True)
            self.requested = True


def request_missing(kernels, used_only=False, nice=0, detached=False):
    """Background compiles of the kernels not yet requested, compiled or on disk
    (with `used_only`, of those that have run: a fused elementwise node that the glue
    always sends to NumPy, its arrays being small, never needs its kernel); `nice`:
    the niceness of workers started for them (background.request_all); `detached`:
    by workers this process does not wait for (background.request_detached)."""
    batch = []
    for nk in kernels:
        if nk.requested or nk.kernel.failed is not None or nk.ready():
            continue
        if used_only and not nk.calls:
            continue
        nk.requested = True
        if store.cached_on_disk(nk.kernel, sig_name(nk.node)):
            nk.on_disk = True  # another process compiled it: it loads at its next call
        elif not nk.kernel.usable():  # no disk cache for a worker to fill (store.py)
            if not detached:  # (at exit: nothing would use it)
                nk.compile_now()
        else:
            batch.append((nk.kernel, sig_spec(nk.node)))
    if detached:
        background.request_detached(batch, nice=nice)
    else:
        background.request_all(batch, nice=nice)


def _fetched(nk):
    """Whether `nk` loads (or fails) at once now: compiled, failed, not requested
    (another process wrote it, or nothing asked for it) or its background compile
    finished; a failed background compile marks the kernel failed (NumPy runs it)."""
    k = nk.kernel
    if nk.ready() or k.failed is not None:
        return True
    if not background.done(k):
        return not nk.requested
    nk._look_on_disk()
    return True


def compile_estimate(kernel):
    """Seconds a compile of `kernel` is expected to take here (measured on 2
    x86 cores: ~17-19 ms of CPU per generated line, 553 lines of an LSTM's
    kernels in 10.6 s, a loop body of 5,941 lines in 99 s; plus numba's start);
    a kernel on disk loads in milliseconds."""
    if kernel.dispatcher is not None or store.cached_on_disk(kernel):
        return 0.05
    return _text_estimate(kernel)


def _text_estimate(kernel):
    """compile_estimate from the kernel's text alone (no disk access)."""
    start = 0.0 if _state.get("numba_started") else 0.7
    return start + 0.02 * kernel.text.count("\n")


def _too_long_for_sync(kernel):
    """Whether 'sync' should not wait for `kernel`: its text's estimate is over
    SYNC_SECONDS (checked first: no disk access for the usual small kernel) and it
    is neither compiled nor on disk."""
    return (_text_estimate(kernel) > SYNC_SECONDS
            and compile_estimate(kernel) > SYNC_SECONDS)


def _defer(nk):
    """Under 'sync', a kernel too long to compile at link time: compiled by
    background processes while its NumPy implementation runs (issue 13: a loop
    body of 2,000 distinct nodes took 99 s of CPU; it must never stall or be killed)."""
    lines = nk.kernel.text.count("\n")
    warnings.warn(
        f"theanine numba backend: the kernel of {type(nk.node.op).__name__} ({lines} "
        f"generated lines) would take about {_text_estimate(nk.kernel):.0f} s to compile, "
        f"more than the {SYNC_SECONDS:.0f} s that policy 'sync' waits for; it runs on NumPy "
        f"until background processes have compiled it (policy 'strict' waits for it)",
        stacklevel=user_stacklevel())
    request_missing([nk])


def _scan_fallback(node, kernel, held):
    """The py Scan, paused (scan.op.Paused) when the steps left would take longer on
    NumPy than LONG_SCAN plus compiling `kernel`: the compiled loop then runs the
    rest, from where NumPy stopped. Never while `held[0]` (fn.hold)."""
    op = node.op
    nout = len(node.outputs)

    def run(n_steps, *outer):
        n = int(n_steps)
        t0 = time.perf_counter()
        budget = []

        def pause(t):
            if t & 15 or held[0]:
                return False
            el = time.perf_counter() - t0
            if el < PAUSE_AFTER or el / t * (n - t) < LONG_SCAN:
                return False
            if not budget:
                budget.append(LONG_SCAN + compile_estimate(kernel))
            return el / t * (n - t) > budget[0]

        res = run_scan(op, op.inner_function(), node, n, outer, pause=pause)
        return res if nout != 1 else res[0]

    return run


# NumPy's (SIMD, AVX-512) kernels of the TRANSCENDENTAL scalar ops beat our numba ones
# on large arrays (measured: tanh 0.32 vs 0.79 ns per float32 element), except
# NUMPY_SLOWER's (sigmoid: scipy.special.expit 2.9 vs 0.9 ns)
_LARGE = 8192  # elements
_SMALL = 256


def _numpy_when_large(op, kernel_call, numpy_call):
    """Choose, per call, between the compiled kernel of an elementwise op (fused or
    lone: ops_elemwise's top-level ones) and NumPy's kernels (measured on this
    2-core machine):
    - tiny arrays (< _SMALL elements): NumPy; the kernel's dispatch costs more than
      the work (10-step chain on 10 elements: 6.5 vs 8.4 us);
    - large arrays with transcendental functions that NumPy runs faster: NumPy's
      SIMD kernels (tanh(x)*2 over 10^6 floats: 0.57 vs 1.5 ms; a 10-step chain
      with tanh and exp at 100x100: 55 vs 97 us);
    - otherwise the kernel (fusing cheap arithmetic saves calls and memory traffic;
      a sigmoid runs 3x faster than NumPy's)."""
    if isinstance(op, Composite):
        names = {type(sop).__name__ for sop, _, _ in op.program}
    elif isinstance(op, Elemwise):
        names = {type(op.scalar_op).__name__}
    else:
        return kernel_call
    heavy = bool(names.intersection(TRANSCENDENTAL)) and not names.intersection(NUMPY_SLOWER)

    def call(*args):
        n = max(getattr(a, "size", 1) for a in args)
        if n < _SMALL or (heavy and n >= _LARGE):
            return numpy_call(*args)
        return kernel_call(*args)

    return call


def link(fgraph, check_types=False, allow_gc=True, profile=None, **_):
    """fn(*inputs) -> tuple of outputs; ``fn.kernels`` lists the compiled nodes,
    ``fn.compile_now()`` compiles them all in this process."""
    pol, gran = _state["policy"], _state["granularity"]
    kernels = []
    held = [False]  # fn.hold: the function waits for another tier (compile/interim.py)

    def funcify(op, node):
        if hasattr(op, "runner"):
            # an op that runs from Python, calling inner graphs it has this linker
            # compile (scan's RevolveGrad: a gradient's recomputed loop segments)
            run = op.runner(link)
            for inner in run.linked:  # compiled with this function's (compile_now, ...)
                kernels.extend(inner.kernels)
            return run
        base = py_funcify(op, node)
        if any(not codegen.is_tensor(v) for v in node.inputs + node.outputs):
            # a random draw, a list of generator states, a loop carrying a generator:
            # Python values, run from Python by design (docs/numba.md), so no warning
            return base
        if emitter_for(op) is None:
            warn_object_mode(op, "it has no numba implementation")
            return base
        if gran != "all" and not worth_compiling(op):
            return base
        try:
            text = kernel_text(node)
        except Unsupported as e:
            if pol == "strict":
                raise
            warn_object_mode(op, str(e))
            return base

        kernel = store.get(text)
        fallback = _scan_fallback(node, kernel, held) if isinstance(op, Scan) else base
        nk = NodeKernel(kernel, node, fallback)
        kernels.append(nk)
        return _numpy_when_large(op, nk.call, base)

    fn = py_link(fgraph, check_types=check_types, allow_gc=allow_gc, profile=profile,
                 funcify=funcify)
    if pol in ("sync", "strict", "checked"):
        for nk in kernels:
            if pol == "sync" and _too_long_for_sync(nk.kernel):
                _defer(nk)
            else:
                nk.compile_now(strict=pol != "sync")
    elif pol == "background":
        request_missing(kernels)
    shared_spent = [0.0]
    for nk in kernels:
        nk.siblings, nk.shared_spent, nk.held = kernels, shared_spent, held

    def compile_now():
        return all([nk.compile_now() for nk in kernels])

    fn.kernels = kernels
    fn.policy = pol
    fn.compile_now = compile_now
    def cold_estimate(at_least=0.0):
        """Seconds the kernels not compiled yet are expected to take (compile_estimate);
        from their texts alone, without asking the disk, when that is <= `at_least`
        (a kernel on disk only lowers the figure)."""
        missing = [nk.kernel for nk in kernels if not nk.ready() and nk.kernel.failed is None]
        rough = sum(max(_text_estimate(k), 0.05) for k in missing)
        return rough if rough <= at_least else sum(map(compile_estimate, missing))

    fn.cold_estimate = cold_estimate
    fn.prefetch = lambda nice=0, detached=False: request_missing(kernels, nice=nice,
                                                                 detached=detached)

    def hold(on=True):
        """While held, NumPy calls ask for no background compile and no NumPy loop
        pauses to continue compiled (another tier is being prepared)."""
        held[0] = on

    fn.hold = hold
    fn.fetched = lambda: all(_fetched(nk) for nk in kernels)
    fn.ready = lambda: all(nk.ready() for nk in kernels)
    # full speed: every kernel that has run is compiled code (the glue sends small
    # arrays of some fused elementwise nodes to NumPy: their kernels never run)
    fn.full_speed = lambda: all(nk.ready() or not nk.calls for nk in kernels)
    return fn



__all__ = ["link", "set_policy", "policy", "check_available"]
