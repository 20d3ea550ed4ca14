"""The jax linker: a function graph becomes jitted JAX functions.

The whole graph is one Python function of jax.numpy / jax.lax calls (evaluate.py
walks the nodes, each op's lowering emits its calls) under one ``jax.jit``; a
function whose shapes depend on values is split into a few jitted segments with
host steps between them (plan.py). Tracing and compiling happen at the first call
(and at the first call with new input shapes, or new values of the inputs a
segment is specialised on: one compiled variant each, at most MAX_VARIANTS per
segment, the oldest dropped with a warning beyond that).

The callable takes the explicit inputs then the shared values, and returns the
outputs then the shared updates (compile/compiled_function.py), as device arrays;
``device_io`` (device.py) tells Function how to keep shared values on the device
and convert outputs to NumPy. Updated shared values are donated (their memory is
reused for the new values) when the function is one segment.

Run-time checks (checks.py) come back as one error code; on an error nothing is
written, and donated shared values are handed back unchanged (``restored``).

A node that cannot be traced after all (``NeedsHost``/``NotStatic`` raised while
tracing, e.g. a loop body reading a value only known at run time) is moved to the
host steps and the function is planned again, with a one-time warning.
"""

from __future__ import annotations

import collections
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from theanine.backends.py.linker import py_funcify
from theanine.graph.inner_graph import nodes_with_inner
from theanine.graph.sharedvalue import SharedVariable
from theanine.scan.op import graph_key
from theanine.tensor.checks import SpecifyShape
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.nnet.crossentropy import CheckTargets
from theanine.tensor.python_ops import host_only
from theanine.tensor.scalar_ops import Cast
from theanine.tensor.shape import Reshape

from . import callback, checks, evaluate
from .callback import NeedsHost
from .device import DeviceIO, default_device, x64
from .entry import fast_entry, host_checks, shapes_key, unshared
from .plan import Plan, Segment
from .registry import lowerings
from .sharding import function_sharding

# The lowerings are part of the backend: imported with it, not at the first function
# (they import jax.scipy.linalg and jax.extend.random, about 0.1 s, which is importing
# the backend's library, not compiling a function)
lowerings.load()

MAX_VARIANTS = 32
SHARED_CACHE = 256  # jitted one-segment functions kept for structurally equal graphs
_shared = collections.OrderedDict()  # structural key -> (jitted function, message table)


def check_available():
    return True


class Replan(Exception):
    """`node` turned out not to be traceable; it runs on the host instead."""

    def __init__(self, node, why):
        super().__init__(f"{node.op}: {why}")
        self.node, self.why = node, why


def link(fgraph, check_types=False, allow_gc=True, profile=None, updates=(), shard=None,
         device=None, **_):
    """fn(*inputs, *shared values) -> outputs + updates (device arrays); see module doc.
    With `profile` (a ProfileStats), each jitted segment's calls are timed (waiting for
    the device) and recorded as a labelled part naming its ops; XLA runs the ops
    fused, so nodes have their calls counted but no time of their own. `shard`:
    {explicit input position: normalised sharding spec} (sharding.py). `device`:
    'cpu' runs on the CPU whatever config.device and JAX's default say."""
    return JaxFunction(fgraph, updates, profile, shard, device)


def runs_alike(fgraph):
    """None if `fgraph` computes here what it computes on the other backends, with no
    Python of the user's (python_ops.host_only) and every node (inner graphs
    included) lowered. Else why not (compile/interim.py asks)."""
    why = host_only(fgraph)
    if why is not None:
        return why
    for node in nodes_with_inner(fgraph):
        if lowerings.lookup(node.op) is None:
            return f"{type(node.op).__name__} has no lowering"
    return None


class JaxFunction:
    def __init__(self, fgraph, updates=(), profile=None, shard=None, device=None):
        self.fgraph, self.profile = fgraph, profile
        self.updates = [(i, o) for i, o in updates
                        if fgraph.outputs[o] is not fgraph.inputs[i]]
        self.table = checks.MessageTable()
        n_in = self.n_in = next((k for k, v in enumerate(fgraph.inputs)
                                 if isinstance(v, SharedVariable)), len(fgraph.inputs))
        self.sharding = function_sharding(fgraph, shard, updates, n_in)
        if self.sharding is not None:
            self.device_io = self.sharding.io
        else:
            self.device_io = DeviceIO(jax.devices("cpu")[0] if device == "cpu"
                                      else default_device())
        self._host = set()
        self._nodes = set(fgraph.toposort())
        self._listeners = []
        self._plan()

    def _plan(self):
        self.plan = Plan(self.fgraph, host=self._host)
        if (self.sharding is not None and not self.plan.single()
                and jax.process_count() > 1):
            raise NotImplementedError(
                "theanine jax backend: this function needs values on the host between "
                "compiled segments (shapes that depend on values, or ops run by Python; "
                "docs/jax.md), which a function spread over several processes cannot do")
        donate = self.updates if self.plan.single() else []
        self.runners = {id(s): SegmentRunner(self, s, donate)
                        for s in self.plan.steps if isinstance(s, Segment)}
        self.single = self.runners[id(self.plan.steps[0])] if self.plan.single() else None
        self._set_fast(None)  # set after the first call: see _call

    def on_fast(self, listener):
        """Call `listener(entry)` now and whenever the function's entry changes: the
        fast path's callable (same arguments and results as this object; see
        entry.py) once there is one, else this object. A caller holding
        the entry (compile/calling.py) skips one Python call per call."""
        self._listeners.append(listener)
        listener(self._fast or self)

    def _set_fast(self, fast, raw=False):
        self._fast, self._raw = fast, raw
        for listener in self._listeners:
            listener(fast or self)

    def __call__(self, *args):
        fast = self._fast
        if fast is not None:
            try:
                return fast(*args)
            except TypeError as e:
                return self.retry(e, args)
        return self._general(args)

    def retry(self, exc, args):
        """The results of a call whose entry raised `exc`. An executable's own entry
        (entry.py) refuses arguments of other shapes with a TypeError before
        anything runs: that call goes the general way (compiling for the new shapes),
        which makes a new entry. Anything else is raised."""
        if not (self._raw and (isinstance(exc, TypeError)
                               or len(set(map(id, args))) < len(args))):
            raise exc  # (an array given twice, one donated: XLA refused it, nothing ran)
        self._set_fast(None)
        return self._general(args)

    def _general(self, args):
        if self.sharding is not None:
            return self._call(self.sharding.place(args))
        if self.device_io.device is not None:  # config.device names a GPU
            with jax.default_device(self.device_io.device):
                return self._call(args)
        return self._call(args)

    def _call(self, args):
        retried = False
        with x64(True):
            while True:
                try:
                    if self.single is not None:
                        outs = self.single.call_whole(args)
                        if self.sharding is None and self.device_io.device is None:
                            self._set_fast(self.single.fast(args))
                        return outs
                    return self._run(args)
                except Replan as r:
                    # the failed trace may be a structurally equal graph's (from the
                    # shared cache): that function can never trace, so it leaves the
                    # cache, and the retry traces this graph's own segments
                    for runner in self.runners.values():
                        runner.unshare()
                    foreign = r.node not in self._nodes
                    if r.node in self._host or (foreign and retried):
                        raise RuntimeError(f"theanine jax backend: cannot plan {r.node.op} "
                                           f"({r.why})") from r
                    retried = foreign
                    if foreign:
                        continue
                    warnings.warn(f"theanine jax backend: {r.node.op} runs on the host, "
                                  f"between jitted segments: {r.why}", stacklevel=3)
                    self._host.add(r.node)
                    self._plan()

    def _run(self, args):
        fg = self.fgraph
        env = {id(v): a for v, a in zip(fg.inputs, args)}
        for step in self.plan.steps:
            if isinstance(step, Segment):
                self.runners[id(step)].call(env)
            elif step[0] == "host":
                _run_host(step[1], env)
            else:
                _finish(step[1], env)
        return tuple(evaluate.value_of(env, v) for v in fg.outputs)


class SegmentRunner:
    """One segment's compiled variants (keyed by its concrete values)."""

    def __init__(self, owner, seg, donate):
        self.owner, self.seg = owner, seg
        self.table = owner.table
        self.variants = collections.OrderedDict()
        self.shared_key = None  # the key of the shared compilation used (see _shared)
        self.warned = False
        fg = owner.fgraph
        if owner.plan.single():  # the jitted function takes the graph's inputs as they come
            seg.dynamic = list(fg.inputs)
        pos = {id(v): k for k, v in enumerate(seg.dynamic)}
        donated = {id(fg.inputs[i]) for i, _ in donate}
        for v in fg.outputs:  # a donated input returned as is: the jit returns a copy
            if id(v) in donated and not any(v is o for o in seg.outputs):
                seg.outputs.append(v)
        out = {id(v): k for k, v in enumerate(seg.outputs)}
        # updated values keep their variable's sharding: (segment output index, sharding)
        self.constrain = [] if owner.sharding is None else [
            (out[id(fg.outputs[o])], s) for o, s in owner.sharding.updates.items()
            if id(fg.outputs[o]) in out]
        # donated updates: (argument index, graph input position, segment output index)
        self.donate = [(pos[id(fg.inputs[i])], i, out[id(fg.outputs[o])])
                       for i, o in donate if id(fg.inputs[i]) in pos
                       and id(fg.outputs[o]) in out]
        self.out_index = [out.get(id(v)) for v in fg.outputs]
        inputs = {id(v): k for k, v in enumerate(fg.inputs)}
        self.arg_index = [inputs.get(id(v)) for v in seg.dynamic]
        self._all_args = list(range(len(fg.inputs)))
        self._direct = self.out_index == list(range(len(fg.outputs)))
        # arguments whose range checks run on the host (checks.py): the explicit inputs,
        # NumPy arrays the caller gave (not shared values on the device, nor values
        # spread over devices)
        self.host_ok = () if owner.sharding is not None else tuple(
            k for k, i in enumerate(self.arg_index) if i is not None and i < owner.n_in)

    def label(self):
        names = list(dict.fromkeys(str(n.op) for n in self.seg.nodes))
        more = f", ... ({len(names) - 8} more)" if len(names) > 8 else ""
        return f"jax segment {self.seg.index} ({', '.join(names[:8])}{more})"

    def compiled(self, concrete):
        key = tuple(_key(c) for c in concrete)
        fn = self.variants.get(key)
        if fn is not None:
            self.variants.move_to_end(key)
            return fn
        if self.owner.plan.single():
            fn = self.variants[key] = self._shared()
            return fn
        if len(self.variants) >= MAX_VARIANTS:
            if not self.warned:
                self.warned = True
                names = [str(v) for v in self.seg.concrete]
                warnings.warn(f"theanine jax backend: more than {MAX_VARIANTS} compiled "
                              f"variants for the values of {names} (each distinct value "
                              "decides a shape and costs a compilation); the oldest are "
                              "dropped", stacklevel=4)
            self.variants.popitem(last=False)
        fn = self.variants[key] = self._compile(concrete)
        return fn

    def _shared(self):
        """The jitted function of a structurally equal one-segment graph compiled before
        (same ops, constants, input types and donations), else a new one: recompiling a
        function, or a graph rebuilt identically, costs no new trace or XLA compile."""
        seg = self.seg
        try:
            key = (graph_key(seg.dynamic, seg.outputs), tuple(d for d, _, _ in self.donate),
                   None if self.owner.sharding is None else self.owner.sharding.key,
                   self.host_ok)
        except (ValueError, AttributeError):  # not describable: compile for this graph only
            return self._compile(())
        self.shared_key = key
        hit = _shared.get(key)
        if hit is not None:
            _shared.move_to_end(key)
            self.table = hit[1]
            return hit[0]
        fn = self._compile(())
        _shared[key] = (fn, self.table)
        if len(_shared) > SHARED_CACHE:
            _shared.popitem(last=False)
        return fn

    def unshare(self):
        """Drop the shared compilation this runner uses (it failed to trace)."""
        key = self.shared_key
        if key is not None and key in _shared and any(
                _shared[key][0] is fn for fn in self.variants.values()):
            del _shared[key]
        self.variants.clear()

    def _compile(self, concrete):
        seg, table, donate, constrain = self.seg, self.table, self.donate, self.constrain
        host_ok, host = self.host_ok, {}

        def traced(*dyn):
            env = {id(v): x for v, x in zip(seg.dynamic, dyn)}
            env.update((id(v), c) for v, c in zip(seg.concrete, concrete))
            with checks.collecting(table, {k: dyn[k] for k in host_ok}) as col:
                _run_top(seg, env)
                host[shapes_key(dyn)] = tuple(col.host.items())
                outs = [evaluate.value_of(env, v) for v in seg.outputs]
                for o, sharding in constrain:
                    outs[o] = jax.lax.with_sharding_constraint(outs[o], sharding)
                raws = [env[("raw", id(n))] for n in seg.deferred]
                code = col.code() if col.codes else None
            if code is not None:
                for d, _, o in donate:
                    outs[o] = jnp.where(code == 0, outs[o], dyn[d])
            # one flat tuple (split by _parts): a call without raw values or checks
            # returns the outputs alone, which the caller can index directly
            return (*outs, *raws) + (() if code is None else (code,))

        fn = jax.jit(traced, donate_argnums=tuple(d for d, _, _ in donate))
        fn.host_checks = host  # argument shapes -> the host checks of that trace
        return fn

    def _call(self, dyn, concrete):
        fn = self.compiled(concrete)
        if self.host_ok:
            checks.check_host(host_checks(fn, dyn), dyn)
        if self.donate:
            dyn = unshared(dyn, self.donate)
        profile = self.owner.profile
        if profile is not None:
            t0 = time.perf_counter()
            res = jax.block_until_ready(fn(*dyn))
            profile.record_extra(self.label(), time.perf_counter() - t0)
            for node in self.seg.own:  # XLA fuses the nodes: calls counted, no time each
                profile.record(node, 0.0)
        else:
            res = fn(*dyn)
        outs, raws, code = self._parts(res)
        if code is not None:
            err = self.table.error(code)
            if err is not None:
                err.restored = {i: outs[o] for _, i, o in self.donate}
                raise err
        return outs, raws

    def call(self, env):
        seg = self.seg
        dyn = [env[id(v)] for v in seg.dynamic]
        concrete = [_host_value(env[id(v)]) for v in seg.concrete]
        outs, raws = self._call(dyn, concrete)
        for v, x in zip(seg.outputs, outs):
            env[id(v)] = x
        for n, r in zip(seg.deferred, raws):
            env[("raw", id(n))] = r
        fetched = self.owner.plan.fetched
        for v in seg.outputs:
            if id(v) in fetched:
                env[id(v)] = _host_value(env[id(v)])

    def _parts(self, res):
        """(outputs, raw values, error code or None) of a flat result."""
        n, r = len(self.seg.outputs), len(self.seg.deferred)
        return res[:n], res[n:n + r], res[n + r] if len(res) > n + r else None

    def fast(self, args):
        """The calls after the first of a one-segment function (entry.py), or None."""
        return fast_entry(self, args, Replan)

    def call_whole(self, args):
        """The one-segment fast path: args in graph input order, outputs in graph
        output order."""
        dyn = args if self.arg_index == self._all_args else [args[k] for k in self.arg_index]
        outs, _ = self._call(dyn, ())
        if self._direct:
            return outs
        fg = self.owner.fgraph
        return [outs[k] if k is not None else evaluate.value_of(
            {id(v): a for v, a in zip(fg.inputs, args)}, v)
            for k, v in zip(self.out_index, fg.outputs)]


def _run_top(seg, env):
    """evaluate.run for a segment's nodes; a node that cannot be traced raises
    Replan naming it."""
    fold, deferred = seg.fold, seg.deferred
    for node in seg.nodes:
        ins = [evaluate.value_of(env, v) for v in node.inputs]
        try:
            if node in deferred:
                env[("raw", id(node))] = evaluate.deferred_raw(node, ins)
                continue
            outs = evaluate.eval_node(node, ins, node in fold, env)
        except (NeedsHost, evaluate.NotStatic) as e:
            raise Replan(node, str(e)) from e
        for var, val in zip(node.outputs, outs):
            env[id(var)] = val
        if _keeps_values(node):
            checks.same_values(outs[0], ins[0])


def _keeps_values(node):
    """Whether output 0 of `node` holds exactly the values of its input 0 (reshaped,
    transposed, cast to a type that holds every value): its range checks may run on
    the host where its input's may (checks.same_values)."""
    op = node.op
    if isinstance(op, (Reshape, DimShuffle, Rebroadcast, SpecifyShape, CheckTargets)):
        return True
    return (isinstance(op, Elemwise) and isinstance(op.scalar_op, Cast)
            and np.can_cast(node.inputs[0].type.numpy_dtype, node.outputs[0].type.numpy_dtype,
                            "safe"))


def _run_host(node, env):
    fn = evaluate.lowering_for(node.op)
    if fn is None:
        callback.warn_once(node.op, "has no JAX implementation and no infer_shape: it runs "
                           "from Python between jitted segments (a round trip to the host)")
    elif getattr(fn, "traceable", None) is not None:
        callback.warn_once(node.op, "has a body that XLA cannot compile (see docs/jax.md): "
                           "it runs on the py backend between jitted segments")
    ins = [_host_value(evaluate.value_of(env, v)) for v in node.inputs]
    res = py_funcify(node.op, node)(*ins)
    res = [res] if len(node.outputs) == 1 else list(res)
    for var, val in zip(node.outputs, res):
        env[id(var)] = val


def _finish(node, env):
    outs = evaluate.deferred_finish(node, env.pop(("raw", id(node))))
    for var, val in zip(node.outputs, outs):
        env[id(var)] = val


def _host_value(x):
    return x if isinstance(x, np.ndarray | np.generic) else np.asarray(x)


def _key(v):
    v = np.asarray(v)
    return (v.dtype.str, v.shape, v.tobytes())
