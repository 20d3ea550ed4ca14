"""Gradients within a memory budget: peak memory and time of a vanilla RNN's
forward + BPTT for a few budgets (config.scan_memory_budget), against no budget.

    python benchmarks/scan_memory_budget.py            # T = 10,000
    python benchmarks/scan_memory_budget.py --quick    # T = 2,000, fewer calls

h_t = tanh(x_t W + h_{t-1} U + b), B = 32, D = 64, H = 256, float32, cost sum(h_T**2),
gradients by W, U, b; mode NUMBA with every kernel compiled first. Each budget runs in
a fresh process: after a 16-step call (which pays a first call's one-off costs), the
peak resident memory (sampled every 0.5 ms) above the level before the first call at
T steps (its buffers are new to the process) and before a second call (the allocator
then reuses memory it kept, so this one reads low), and the median wall and CPU time
of the later calls.
Target (issue 15): a budget whose peak is <= 10 % of the unbudgeted peak, at <= 1.6x
its time. One state of the loop is B*H*4 = 32 KiB; the unbudgeted gradient keeps T
of them (plus, as any run, the input projections x_t W the rewrites compute at once).
The table gives the schedule the gradient chose at run time (scan/revolve.py): the
states the budget allows, the bytes a leaf keeps a step in states (its trace and the
per-step values of its gradient, scan/leaf_bytes.py), the repetitions r, and the
forward runs of each step in all (the forward loop, the schedule's advances and its
leaves: 2 + advanced / n); the peak against the budget; wall and CPU time (the
machine may be shared: CPU time is the steadier figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from theanine.config import memory_size  # noqa: E402
from theanine.scan import revolve  # noqa: E402

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time
    sys.path.insert(0, os.environ["ROOT"])
    import numpy as np
    import theanine as theano, theanine.tensor as T
    from theanine.scan import revolve
    plans, schedule = [], revolve.reverse
    def recorded(n, s, state, advance, leaf, cost=revolve.EQUAL):
        plans.append((n, s, cost))  # the schedule the gradient chose at run time
        return schedule(n, s, state, advance, leaf, cost)
    revolve.reverse = recorded
    budget, TT, calls = os.environ["BUDGET"], int(os.environ["TT"]), int(os.environ["CALLS"])
    B, D, H = 32, 64, 256
    X = T.ftensor3("X")
    W, U, b, h0 = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b"), T.fmatrix("h0")
    with theano.config.change_flags(scan_memory_budget=budget):
        hs, _ = theano.scan(lambda xt, h, W, U, b: T.tanh(T.dot(xt, W) + T.dot(h, U) + b),
                            sequences=X, outputs_info=h0, non_sequences=[W, U, b])
        cost = (hs[-1] ** 2).sum()
        f = theano.function([X, W, U, b, h0], [cost] + theano.grad(cost, [W, U, b]),
                            mode=os.environ["MODE"])
    if os.environ["MODE"] == "NUMBA":
        assert f.fn.compile_now()
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(TT, B, D)).astype("float32"),
            (rng.normal(size=(D, H)) / 8).astype("float32"),
            (rng.normal(size=(H, H)) / 16).astype("float32"),
            np.zeros(H, "float32"), np.zeros((B, H), "float32")]
    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    def measured():
        base = rss(); peak = [base]; stop = [False]
        def sample():
            while not stop[0]:
                peak[0] = max(peak[0], rss()); time.sleep(0.0005)
        th = threading.Thread(target=sample); th.start()
        res = f(*args)
        stop[0] = True; th.join()
        return res, (peak[0] - base) / 2 ** 20
    t = time.perf_counter()
    if os.environ["MODE"] == "NUMBA":
        f(args[0][:16], *args[1:])  # one-off costs of a first call (lazy set-ups), 16 steps
    else:
        f(*args)  # jax: traced and compiled for these shapes (n is static) at a first call
    first_call = time.perf_counter() - t
    out, first = measured()   # the first call at this length: its buffers are new
    _, again = measured()     # a later call: the allocator reuses what it kept
    times, cpu = [], []
    for _ in range(calls):
        t, c = time.perf_counter(), time.process_time(); f(*args)
        times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    print(json.dumps({"peak_mib": first, "again_mib": again, "seconds": float(np.median(times)),
                      "cpu": float(np.median(cpu)), "first_call": first_call,
                      "plan": plans[-1] if plans else None,
                      "grads": [float(np.abs(g).sum()) for g in out]}))
""")


def run(budget, steps, calls, mode):
    env = dict(os.environ, ROOT=ROOT, PYTHONPATH=ROOT, BUDGET=str(budget), TT=str(steps),
               CALLS=str(calls), MODE=mode)
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=3000)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budgets", default="0,64MB,16MB,4MB,1MB,256KB")
    ap.add_argument("--calls", type=int, default=None, help="timed calls per budget")
    ap.add_argument("--mode", default="NUMBA", help="NUMBA or JAX (JAX: the first call, "
                    "which traces and compiles for T steps, is timed apart and not measured)")
    args = ap.parse_args()
    steps, calls = (2000, 3) if args.quick else (10000, 5)
    calls = args.calls or calls
    print(f"\n### vanilla RNN forward + BPTT, B=32, D=64, H=256, T={steps}, float32, by "
          f"memory budget, mode {args.mode}\n")
    print(f"load average before: {os.getloadavg()}")
    print("| budget | states | leaf step (states) | r | forward runs a step "
          "| peak above baseline, 1st call (MiB) | vs budget | vs none | later call (MiB) "
          "| time (s) | vs none | CPU time (s) | vs none |"
          + (" first call, compiling (s) |" if args.mode != "NUMBA" else ""))
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
          + ("---:|" if args.mode != "NUMBA" else ""), flush=True)
    base = None
    for budget in args.budgets.split(","):
        r = run(budget, steps, calls, args.mode)
        if base is None:
            base = r
        for a, b in zip(r["grads"], base["grads"]):
            assert abs(a - b) <= 1e-4 * max(abs(b), 1), (budget, r["grads"], base["grads"])
        if r["plan"]:
            n, free, cost = r["plan"]
            advanced = revolve.counts(n, free, cost)[0]
            sched = [str(free + 1), f"{cost[1] / cost[0]:.2f}",
                     str(revolve.repetitions(n, free, cost)), f"{2 + advanced / n:.2f}"]
            vs_budget = f"{r['peak_mib'] * 2 ** 20 / memory_size(budget):.2f}x"
        else:
            sched, vs_budget = [str(steps), "-", "-", "1.00"], "-"
        row = [budget if budget != "0" else "none"] + sched + [
            f"{r['peak_mib']:.1f}", vs_budget, f"{r['peak_mib'] / base['peak_mib']:.1%}",
            f"{r['again_mib']:.1f}", f"{r['seconds']:.3f}",
            f"{r['seconds'] / base['seconds']:.2f}x", f"{r['cpu']:.3f}",
            f"{r['cpu'] / base['cpu']:.2f}x"] + (
            [f"{r['first_call']:.2f}"] if args.mode != "NUMBA" else [])
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
