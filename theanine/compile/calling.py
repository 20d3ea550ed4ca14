"""The per-function call path, generated as straight-line Python.

For a function with inputs x, y, one shared variable w (updated) and one
output, ``make_caller`` writes (the fast path of every check inline)::

    def call(a0, a1):
        if not (a0.__class__ is _nd and a0.dtype is _d0 and a0.ndim == 1):
            a0 = _filter(0, a0)
        ...
        s0 = _c0.value
        try:
            _r = _fn(a0, a1, s0)
        except Exception as _e:
            raise _explain(_e, (a0, a1, s0))
        u0 = _r[1]                      # new value of w
        if u0.__class__ is _nd and u0.dtype is _t1 and u0.base is None and u0 is not a0 ...:
            k1 = u0
        else:
            u0, k1 = _secure(1, u0, (a0, a1, k1...), s0)
        o0 = _r[0]
        ...
        _c0.value = u0                  # writes only after everything succeeded
        return o0

A backend that keeps values on a device gives its callable a ``device_io``
(backends/jax/device.py): shared values are then read with ``_rd(_c0)`` (moved
to the device once, then kept there; where the protocol is ``inline``, a value
already there is read as ``_c0.raw`` and a device array update stored directly),
updates are written with ``_wr`` without
a copy (device arrays are immutable), outputs that are not NumPy arrays are
converted with ``_own`` (a fresh NumPy array the caller owns, which the fast path
accepts as is; ``_host``, a host view, for Out(borrow=True)), the callable may
replace itself by a quicker entry point (``on_fast``: ``_fn`` is rebound), and
a failing call lets the backend ``_restore`` any shared value whose memory it
consumed (donated) before the error was known. A backend with a ``retry(exc, args)``
is asked first to make a call its current entry refused (the jax backend's entry
may be an XLA executable, which refuses arguments of other shapes with a TypeError
before anything runs); ``retry`` re-raises what it cannot make.

Invariants:
- Nothing is written (shared containers, In defaults) before every output
  and update value has been computed and secured, so a failing call leaves
  all state unchanged.
- A returned value (unless Out(borrow=True)) and a stored update never share
  memory with an input, another shared value, a constant of the graph, or
  another returned or stored value. An Out(borrow=True) value may be internal
  storage, but never shares memory with an input not given as In(borrow=True)
  (Theano's guarantee). The fast path accepts only a fresh array
  (``base is None``) that is none of those objects; anything else goes
  through ``_secure``, which copies on any possible overlap. ``k*`` names
  hold each accepted value's memory owner, so a later value is checked
  against the owner, not just the object.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from theanine.tensor.type import TensorType

_INLINE_LIMIT = 8  # above this many values to compare against, use a set of ids


def make_caller(f):
    """Generate the positional call function of Function `f` (see module doc)."""
    n_in = len(f.ins)
    dev = getattr(f.fn, "device_io", None)
    env = {"_nd": np.ndarray, "_fn": f.fn, "_filter": f._filter_input,
           "_explain": f._explain, "_secure": f._secure, "_defaults": f.defaults,
           "_cids": f._const_ids, "_profile": f.profile, "_time": time.perf_counter}
    args = [f"a{k}" for k in range(n_in)]
    lines = [f"def call({', '.join(args)}):"]
    if f.profile is not None:
        lines.append("    _t0 = _time()")
    if not f.trust_input:
        for k, i in enumerate(f.ins):
            lines += _input_check(k, i.variable.type, env)
    olds, inline = [], False
    if dev is not None:
        env.update(_rd=dev.read, _wr=dev.write, _host=dev.to_host, _own=dev.owned,
                   _restore=dev.restore)
        inline = getattr(dev, "inline", False)
        if inline:
            env.update(_darr=dev.array_class, _toh=dev.to_host_array)
        if hasattr(f.fn, "on_fast"):  # the backend's current entry point (see there)
            f.fn.on_fast(lambda entry: env.__setitem__("_fn", entry))
    for j, c in enumerate(f.containers):
        env[f"_c{j}"] = c
        if dev is None:
            lines.append(f"    s{j} = _c{j}.value")
        elif inline:  # the device value as it is, else the backend moves it there
            lines.append(f"    s{j} = _c{j}.raw if _c{j}.on_device else _rd(_c{j}, {j})")
        else:
            lines.append(f"    s{j} = _rd(_c{j}, {j})")
        olds.append(f"s{j}")
    everything = _tuple(args + olds)
    lines += ["    try:", f"        _r = _fn{everything}", "    except Exception as _e:"]
    pad = "        "
    if hasattr(f.fn, "retry"):  # the entry may refuse a call that the backend then makes
        env["_retry"] = f.fn.retry
        lines += [f"{pad}try:", f"{pad}    _r = _retry(_e, {everything})",
                  f"{pad}except Exception as _e:"]
        pad += "    "
    if dev is not None:  # restore what the call consumed; explain with host values
        conts = _tuple([f"_c{j}" for j in range(len(f.containers))])
        lines.append(f"{pad}_restore(_e, {conts}, {n_in})")
        everything = _tuple(args + [f"_c{j}.value" for j in range(len(f.containers))])
    lines.append(f"{pad}raise _explain(_e, {everything})")
    pool = args + olds
    use_set = len(pool) + len(f.results) > _INLINE_LIMIT
    if use_set:  # one list of the values so far, grown in place: linear in results
        lines.append(f"    _pool = [{', '.join(pool)}]")
        lines.append("    _seen = set(_cids); _seen.update(map(id, _pool))")
    writes = []
    # a borrowed output may be internal storage, but never a caller's input that
    # was not lent with In(borrow=True)
    owned = [a for a, i in zip(args, f.ins) if not i.borrow]
    for idx, spec in enumerate(f.results):
        x, k = spec.local, f"k{idx}"
        exempt = f"s{spec.slot}" if spec.kind == "update" else None
        env[f"_t{idx}"] = spec.dtype
        if dev is not None and spec.kind == "update":
            lines.append(f"    {x} = _r[{spec.position}]")
            if inline and isinstance(spec.type, TensorType):  # a device array: stored
                writes += [f"    if {x}.__class__ is _darr and {x} is not s{spec.slot}:",
                           f"        _c{spec.slot}.store_device({x}, _toh)", "    else:",
                           f"        _wr(_c{spec.slot}, {x})"]
            else:
                writes.append(f"    _wr(_c{spec.slot}, {x})")
            continue
        if dev is not None:  # a borrowed output may stay a view of device storage
            if spec.borrow:
                lines.append(f"    {x} = _host(_r[{spec.position}])")
            else:  # a host array as it is (the checks below see what it is)
                lines += [f"    {x} = _r[{spec.position}]", f"    if {x}.__class__ is not _nd:",
                          f"        {x} = _own({x})"]
        else:
            lines.append(f"    {x} = _r[{spec.position}]")
        against = owned if spec.borrow else pool
        grown = use_set and not spec.borrow  # a borrowed output is checked against inputs
        cond = _fast_condition(x, idx, spec, against, exempt, grown, bool(f._const_ids))
        given = "_pool" if grown else _tuple(against)
        lines += [f"    if {cond}:", f"        {k} = {x}", "    else:",
                  f"        {x}, {k} = _secure({idx}, {x}, {given}, {exempt})"]
        if use_set:
            lines.append(f"    _seen.add(id({k})); _pool.append({k})")
        pool.append(k)
        if spec.kind == "update":
            writes.append(f"    _c{spec.slot}.value = {x}")
        elif spec.kind == "in_update":
            writes.append(f"    _defaults[{spec.slot}] = {x}")
    lines += writes
    if f.profile is not None:
        lines.append("    _profile.record_call(_time() - _t0)")
    outs = [s.local for s in f.results if s.kind == "output"]
    if f.output_keys is not None:
        env["_keys"] = f.output_keys
        lines.append(f"    return dict(zip(_keys, {_tuple(outs)}))")
    elif f.single:
        lines.append(f"    return {outs[0]}")
    else:
        lines.append(f"    return [{', '.join(outs)}]")
    src = "\n".join(lines) + "\n"
    exec(compile(src, f"<theanine call of {f._label()}>", "exec"), env)
    call = env["call"]
    call.source = src
    return call


def _tuple(names):
    return f"({', '.join(names)}{',' if len(names) == 1 else ''})"


def _input_check(k, t, env):
    """Lines accepting an exact-dtype ndarray inline and filtering anything else."""
    if not isinstance(t, TensorType):
        return [f"    a{k} = _filter({k}, a{k})"]
    env[f"_d{k}"] = t.numpy_dtype
    cond = f"a{k}.__class__ is _nd and a{k}.dtype is _d{k} and a{k}.ndim == {t.ndim}"
    for i, b in enumerate(t.broadcastable):
        if b:
            cond += f" and a{k}.shape[{i}] == 1"
    return [f"    if not ({cond}):", f"        a{k} = _filter({k}, a{k})"]


def _fast_condition(x, idx, spec, pool, exempt, use_set, has_consts):
    if use_set:
        ident = [f"id({x}) not in _seen"]
        if exempt:
            ident = [f"({x} is {exempt} or id({x}) not in _seen)"]
    else:
        ident = [f"{x} is not {p}" for p in pool if p != exempt]
        if has_consts:
            ident.append(f"id({x}) not in _cids")
    if spec.dtype is None:  # not a tensor: only identity matters
        return " and ".join(ident) or "True"
    if spec.borrow:
        ident = [f"{x} is not {p}" for p in pool]
        return " and ".join([f"{x}.__class__ is _nd", f"({x}.base is None"
                             f"{' and ' if ident else ''}{' and '.join(ident)})"])
    cond = [f"{x}.__class__ is _nd", f"{x}.dtype is _t{idx}", f"{x}.base is None"]
    return " and ".join(cond + ident)


class ResultSpec:
    """One value the graph returns: an output, a shared update or an In update.

    position: index in the graph's outputs; slot: container index (update) or
    input index (in_update); dtype: numpy dtype for tensors, else None."""

    __slots__ = ("kind", "position", "slot", "dtype", "borrow", "local", "type")

    def __init__(self, kind, position, slot, type, borrow, local):
        self.kind, self.position, self.slot, self.type = kind, position, slot, type
        self.dtype = type.numpy_dtype if isinstance(type, TensorType) else None
        self.borrow, self.local = borrow, local


def secure(spec, value, pool, exempt, const_arrays, label):
    """Slow path: convert `value` to its type and copy it if it may share
    memory with anything in `pool` (other than being `exempt` itself).

    Returns (value, memory owner of value)."""
    if spec.dtype is None:
        if value is not exempt and any(value is p for p in pool):
            value = copy.deepcopy(value)
        return value, value
    if not (type(value) is np.ndarray and value.dtype == spec.dtype):
        # a NumPy scalar or Python number converts to a new array, which shares
        # memory with nothing: no overlap checks (they cost O(pool) per value)
        fresh = not isinstance(value, np.ndarray)
        if spec.kind == "output":
            value = np.asarray(value)
            if value.dtype != spec.dtype:
                value = value.astype(spec.dtype)
        else:
            value = spec.type.filter(value, allow_downcast=True, arg=label)
        if fresh and value is not exempt and isinstance(value, np.ndarray):
            return value, value
    if spec.borrow:  # `pool` holds the inputs it must not alias (In(borrow=False))
        # a read-only value (a host view of a device array) is copied: the caller may
        # write to a borrowed output, as to any other
        if not value.flags.writeable or _may_share(value, pool):
            value = value.copy()
        return value, _owner(value)
    if value is exempt:
        return value, _owner(value)
    for p in pool:
        if value is p:  # the common slow case (an input or state returned as is)
            value = value.copy()
            return value, value
    if (not value.flags.writeable or _may_share(value, pool)
            or _may_share(value, const_arrays)):
        value = value.copy()
    return value, _owner(value)


def _owner(a):
    return a if a.base is None else a.base


def _may_share(a, pool):
    for p in pool:
        if p is a:
            return True
        if isinstance(p, np.ndarray) and np.may_share_memory(a, p):
            return True
    return False
