"""The calls after the first of a one-segment jax function (linker.py): straight to
the executable XLA compiled for the latest argument shapes.

``fast_entry(runner, args)`` gives a callable taking the function's arguments and
giving its outputs in graph order (as ``JaxFunction`` does), or None where the
function needs more around its program (a profile, outputs that are not the
segment's, arguments that are not all the segment's). It calls the executable
compiled for `args` (``jit(...).lower(...).compile()``, cached by JAX: the call before
traced and compiled it), about 2-5 us of Python less per call than the jitted
function under ``x64`` (measured: a float64 scalar recurrence, 10,000 steps, 48.6
against 44.8 us a call, benchmarks/RESULTS.md, issue 12).

An executable's types are fixed when it is compiled (under x64), so it computes
exactly what the jitted function does. Called with arguments of other shapes or
types it raises a TypeError before anything runs or is donated: that call goes
through the jitted function under x64 (compiling the new shapes), and the executable
follows the new shapes. Where no input is 64-bit the executable is called outside
``x64`` (entering the context costs 1-3 us); where one is, with x64 enabled: inside
the context unless the caller's JAX has x64 on already (with x64 off, JAX would hand
it 64-bit arguments as 32-bit ones, and the executable refuse them).

Where nothing is left to do around the executable (no check in the program or on the
host, its results the outputs, no donated value that could also be another argument),
the function's entry becomes, after the first call, the executable's own C++ entry
(one Python frame less), or, for 64-bit inputs, that entry inside ``x64``; its
TypeError on other shapes comes back through ``JaxFunction.retry``.
"""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp

from theanine.tensor.type import TensorType

from . import checks
from .device import x64

_NARROW = frozenset(("bool", "int8", "int16", "int32", "uint8", "uint16", "uint32",
                     "float16", "float32", "complex64"))


def fast_entry(runner, args, replan):
    """The fast entry of SegmentRunner `runner` after a call with `args` (module doc),
    or None. `replan`: the exception class of a retrace that met a node to run on the
    host (the entry then hands the call back to the general path)."""
    owner = runner.owner
    if (owner.profile is not None or not runner._direct
            or runner.arg_index != runner._all_args or len(runner.variants) != 1):
        return None
    fn = next(iter(runner.variants.values()))
    donate, table, hosted = runner.donate, runner.table, bool(runner.host_ok)
    wide = not narrow(owner.fgraph.inputs)
    # [executable, its C++ entry, its host checks, its argument shapes]
    exe = [executable(fn, args), None, *_exe_checks(fn, args, hosted)]
    n_out, parts = len(runner.seg.outputs), runner._parts
    # a donated value can be given twice (the same array in two shared variables)
    # only where the function reads two shared values (inputs are NumPy arrays):
    # otherwise nothing needs unshared
    alone = not donate or len(args) - owner.n_in == 1

    def call(*args):
        if donate:
            args = unshared(args, donate)
        try:
            run = exe[1]
            try:
                if exe[2]:  # only for the shapes the checks were made for
                    if shapes_key(args) != exe[3]:
                        raise TypeError
                    checks.check_host(exe[2], args)
                if run is None:  # the executable's own C++ entry is made at its first call
                    res = (_in_x64(exe[0]) if wide else exe[0])(*args)
                    run = getattr(exe[0], "_call", None) or exe[0]
                    run = exe[1] = _in_x64(run) if wide else run
                    if alone and not exe[2] and len(res) == n_out:  # nothing around it
                        owner._set_fast(run, raw=True)
                else:
                    res = run(*args)
            except TypeError:  # other argument types, seen before anything ran
                with x64(True):
                    if hosted:
                        checks.check_host(host_checks(fn, args), args)
                    res = fn(*args)
                exe[:] = executable(fn, args), None, *_exe_checks(fn, args, hosted)
        except replan:  # a retrace (new shapes) met a node to run on the host
            owner._set_fast(None)
            return owner._general(args)
        if len(res) == n_out:
            return res
        outs, _, code = parts(res)
        if code is not None:
            err = table.error(code)
            if err is not None:
                err.restored = {i: outs[o] for _, i, o in donate}
                raise err
        return outs

    return call


def _in_x64(run):
    """`run` called with x64 enabled: the entry of an executable with 64-bit inputs.
    Where the caller's JAX runs with x64 already (its global setting or a context),
    the call needs no context of its own (entering one costs 1-3 us)."""
    def entry(*args):
        if jax.config.jax_enable_x64:
            return run(*args)
        with x64(True):
            return run(*args)

    return entry


def shapes_key(args):
    """The key of a trace's host checks: its arguments' shapes."""
    try:
        return tuple([a.shape for a in args])
    except AttributeError:  # a Python number
        return tuple(getattr(a, "shape", ()) for a in args)


def host_checks(fn, args):
    """The host checks (checks.py) of `fn` traced for these arguments' shapes,
    tracing it first if it was not (JAX keeps the trace for the call that follows).
    Under x64."""
    key = shapes_key(args)
    found = fn.host_checks.get(key)
    if found is None:
        fn.trace(*args)
        found = fn.host_checks.get(key)
        if found is None:
            raise RuntimeError(f"theanine jax backend: no run-time checks recorded for "
                               f"arguments of shapes {key}")
    return found


def _exe_checks(fn, args, hosted):
    """[host checks, argument shapes] for the executable compiled for `args`."""
    if not hosted:
        return [(), None]
    with x64(True):
        return [host_checks(fn, args), shapes_key(args)]


def executable(fn, args):
    """The executable XLA compiled for `fn` at these argument types (cached by JAX:
    the call before traced and compiled them)."""
    with x64(True):
        return fn.lower(*args).compile()


def narrow(inputs):
    """Whether every input is a tensor of a type JAX keeps as it is outside x64."""
    return all(isinstance(v.type, TensorType) and v.type.dtype in _NARROW
               for v in inputs)


def unshared(dyn, donate):
    """Arguments with each donated one copied when the same array is also another
    argument (two shared variables holding one array): XLA cannot donate it then."""
    if len(set(map(id, dyn))) == len(dyn):  # no array given twice: the common case
        return dyn
    ids = collections.Counter(id(x) for x in dyn)
    if all(ids[id(dyn[d])] == 1 for d, _, _ in donate):
        return dyn
    dyn = list(dyn)
    for d, _, _ in donate:
        if ids[id(dyn[d])] > 1:
            dyn[d] = jnp.copy(dyn[d])
    return dyn
