"""ifelse chains and the book's chapter 10 models (reduced): build, compile and run
time, against a baseline checkout of theanine (the implementation before ifelse took
its branches as inputs, whose chains grew exponentially).

    python benchmarks/ifelse_bench.py                       # this checkout only
    python benchmarks/ifelse_bench.py --baseline /work/main # and a baseline checkout

Cases (each in its own process, PYTHONPATH set to the checkout, so one theanine is
imported; a case past --timeout seconds, or past --mem-gb of address space (the old
chains take gigabytes), is reported as such):
- chain k: s = tanh(ifelse(c, s * 2, s)) + s repeated k times, compiled and called
  once for each branch (py backend);
- grad k: the gradient of k levels of tanh(ifelse(c, s * 2, s)) (py);
- ch10 lstm / rhn: tests/compat/ch10_model.py's 3-layer LSTM and recurrent highway
  network (3 micro-layers) with ifelse dropout, trained with givens={is_training: 1}:
  build = graph and gradient, compile = theano.function, run = one training call
  (3 x 5 x 6 batch), on py and on numba (kernels compiled at link, disk cache cold).
nodes: of the compiled graph, those inside ifelse branches and loop bodies included.
Times are single runs (compile times do not repeat; the machine: 2 shared cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASE = r"""
import json, sys, time
sys.path.insert(0, {model_dir!r})
import numpy as np
import theanine as theano
import theanine.tensor as T
from theanine.ifelse import ifelse
kind, arg, linker = {kind!r}, {arg!r}, {linker!r}
mode = theano.Mode(linker=linker)
if linker == "numba":
    from theanine.backends.numba import linker as nl
    nl.set_policy("sync")
t0 = time.perf_counter()
if kind == "chain":
    c, x = T.iscalar("c"), T.dscalar("x")
    s = x
    for _ in range(arg):
        s = T.tanh(ifelse(c, s * 2.0, s)) + s
    outs, ins, args = [s], [c, x], [(1, 0.01), (0, 0.01)]
elif kind == "grad":
    c, x = T.iscalar("c"), T.dscalar("x")
    s = x
    for _ in range(arg):
        s = T.tanh(ifelse(c, s * 2.0, s))
    outs, ins, args = [T.grad(s, x)], [c, x], [(1, 0.01), (0, 0.01)]
else:
    from ch10_model import build
    ins, cost, params, updates, is_training = build(arg)
    grads = T.grad(cost, params)
    updates = dict(updates)
    updates.update((p, p - 0.1 * g) for p, g in zip(params, grads))
    outs = [cost]
    rng = np.random.default_rng(0)
    args = [tuple(rng.normal(size=(5, 3, 6)) for _ in range(2))]
t1 = time.perf_counter()
if kind == "ch10":
    f = theano.function(ins, outs, updates=updates, givens={{is_training: np.int32(1)}},
                        mode=mode)
else:
    f = theano.function(ins, outs, mode=mode)
t2 = time.perf_counter()
for a in args:
    f(*a)
t3 = time.perf_counter()
assert theano.__file__.startswith({checkout!r}), theano.__file__


def count_nodes(outputs, stop):  # inner graphs (branches, loop bodies) included
    seen, stack, total = set(id(v) for v in stop), list(outputs), 0
    while stack:
        v = stack.pop()
        if id(v) in seen or v.owner is None:
            continue
        node = v.owner
        seen.update(id(o) for o in node.outputs)
        total += 1
        stack.extend(node.inputs)
        op = node.op
        inner = getattr(op, "inner_outputs", None) or (
            list(getattr(op, "then_outs", [])) + list(getattr(op, "else_outs", [])))
        if inner:
            total += count_nodes(inner, op.inner_inputs)
    return total


print(json.dumps({{"build": t1 - t0, "compile": t2 - t1, "run": t3 - t2,
                  "nodes": count_nodes(f.maker.fgraph.outputs, f.maker.fgraph.inputs)}}))
"""


def _limit_memory(gb):
    def limit():
        n = int(gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (n, n))
    return limit


def run_case(checkout, kind, arg, linker, timeout, mem_gb):
    env = {k: v for k, v in os.environ.items() if not k.startswith("THEANO")}
    env["PYTHONPATH"] = checkout
    cache = tempfile.mkdtemp(prefix="theanine-ifelse-bench-")
    env["THEANINE_CACHE_DIR"] = cache  # a cold cache: compile time as a new user sees it
    code = CASE.format(model_dir=os.path.join(ROOT, "tests", "compat"), kind=kind, arg=arg,
                       linker=linker, checkout=os.path.abspath(checkout))
    try:
        # run outside any checkout: `python -c` puts the working directory first
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=timeout, cwd=cache,
                           preexec_fn=_limit_memory(mem_gb))
    except subprocess.TimeoutExpired:
        return None
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["killed"])[-1]
        return {"error": "memory" if "MemoryError" in last else last}
    return json.loads(r.stdout.strip().splitlines()[-1])


def cell(res, key, timeout):
    if res is None:
        return f"> {timeout} s"
    if "error" in res:
        return "> mem limit" if res["error"] == "memory" else "error"
    return f"{res[key]:.2f}" if key != "nodes" else str(res[key])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", help="another theanine checkout to compare with")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--mem-gb", type=float, default=6.0)
    ap.add_argument("--cases", default="chain,grad,ch10", help="kinds to run")
    opts = ap.parse_args()
    kinds = opts.cases.split(",")
    cases = [("chain", k, "py") for k in (10, 12, 14, 20) if "chain" in kinds]
    cases += [("grad", k, "py") for k in (4, 6, 8) if "grad" in kinds]
    cases += [("ch10", m, lk) for m in ("lstm", "rhn") for lk in ("py", "numba")
              if "ch10" in kinds]
    checkouts = [("this", ROOT)] + ([("baseline", opts.baseline)] if opts.baseline else [])
    head = "| case | backend |"
    for name, _ in checkouts:
        head += f" {name} build s | {name} compile s | {name} run s | {name} nodes |"
    print(head)
    print("|" + "---|" * (2 + 4 * len(checkouts)))
    for kind, arg, linker in cases:
        row = f"| {kind} {arg} | {linker} |"
        for _, path in checkouts:
            res = run_case(path, kind, arg, linker, opts.timeout, opts.mem_gb)
            row += "".join(f" {cell(res, k, opts.timeout)} |"
                           for k in ("build", "compile", "run", "nodes"))
        print(row, flush=True)


if __name__ == "__main__":
    main()
