"""Issue 14's figures for two checkouts side by side: training from a cold start
and the compile of a loop with a large body, each run in a fresh process.

    python benchmarks/speed_compare.py --baseline /work/main [--steps 1000]
        [--models lstm_lm,rnn256,char_lstm] [--blocks 40] [--this-only-blocks 300]
        [--skip-training] [--skip-body] [--mixed] [--inproc]
        [--baseline-flags numba_interim=numpy] [--flags ...]

For each model of training_runs.py: a cold run (empty cache) and a warm run (the
cache the cold run left) of the baseline checkout and of this one, alternately,
each with its own PYTHONPATH and cache directory, then JAX once. "full speed at":
when every kernel that runs is compiled (this checkout's ``full_speed()``, the
baseline's ``ready()`` if it has no such method: every kernel compiled); "steady
from": the same judged from the step times alone (training_runs.STEADY), so both
checkouts are measured alike. `--baseline . --baseline-flags numba_interim=numpy`
compares this checkout with itself without the JAX interim tier (compile/interim.py:
a cold function then runs on JAX, and "full speed at" is its first JAX result);
each run waits for the detached compile workers it left before the next starts.

Big body: a scan whose step applies `blocks` times ``h = sigmoid(tanh(dot(h, W) +
a * c * k) * 1.01 - a) + x`` (7 graph nodes a block as the user writes it; 40
blocks: 280 nodes, 300 blocks: 2,100 nodes, issue 13 item 8's sizes), compiled
with the numba policy 'sync' (everything at build time) in a process limited to
BODY_MEMORY bytes of address space; the row gives the CPU seconds of building the
function, the peak resident memory, and whether the compiled loop agrees with
the py backend. `--mixed` draws each block's two nonlinearities from six (tanh,
sigmoid, softplus, sin, arctan, x/(1+|x|)), so that no two of the body's parts are
alike and none is compiled once for several places. A body whose compile is
expected to exceed linker.SYNC_SECONDS runs on NumPy while background processes
compile it (the row then says when it was compiled, from the build's start);
`--inproc` lifts that bound and compiles in-process. Run on 2 cores shared with
other jobs: compare the two checkouts within one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import peers  # noqa: E402
from benchmarks import training_runs as tr  # noqa: E402

BODY_MEMORY = 6 << 30

BIG_BODY = textwrap.dedent("""
    import json, resource, sys, time, warnings
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
    import numpy as np
    import theanine as theano, theanine.tensor as T
    from theanine.backends.numba import background, linker
    blocks, H = int(sys.argv[1]), 16
    MIXED = sys.argv[3] == "mixed"
    FS = [T.tanh, T.nnet.sigmoid, T.nnet.softplus, T.sin, T.arctan, lambda v: v / (1 + abs(v))]
    rng = np.random.default_rng(0)
    W = theano.shared(rng.normal(size=(H, H)) * 0.3, name="W")
    X, h0, a, c = T.dmatrix("X"), T.dvector("h0"), T.dvector("a"), T.dvector("c")
    def step(x, h, a, c):
        # mixed: each block's two nonlinearities drawn from six, so the parts differ
        pick = np.random.default_rng(1).integers(0, 6, size=(blocks, 2)) if MIXED else None
        for k in range(blocks):
            f1, f2 = (FS[pick[k, 0]], FS[pick[k, 1]]) if MIXED else (T.nnet.sigmoid, T.tanh)
            h = f1(f2(T.dot(h, W) + a * c * (k + 1)) * 1.01 - a) + x
        return h
    hs, _ = theano.scan(step, sequences=X, outputs_info=h0, non_sequences=[a, c])
    args = (rng.normal(size=(20, H)) * 0.1, np.zeros(H), rng.normal(size=H) * 0.1,
            rng.normal(size=H) * 0.1)
    ref = theano.function([X, h0, a, c], hs, mode="PY")(*args)
    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    out = {"blocks": blocks}
    linker.set_policy("sync")
    if sys.argv[4] == "inproc":  # compile in this process whatever it costs
        linker.SYNC_SECONDS = float("inf")
    c0, t0 = cpu(), time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f = theano.function([X, h0, a, c], hs)
        out["cpu_s"], out["wall_s"] = round(cpu() - c0, 1), round(time.perf_counter() - t0, 1)
        out["deferred"] = any("policy 'sync' waits" in str(w.message) for w in caught)
        scan = [n for n in f.maker.fgraph.toposort() if type(n.op).__name__ == "Scan"][0]
        out["body_nodes"] = len(theano.graph.fgraph.FunctionGraph(
            scan.op.inner_inputs, scan.op.inner_outputs).toposort())
        text = linker.kernel_text(scan)
        out["parts"] = text.count("def part")  # distinct part functions written
        out["compiled"] = bool(f.fn.ready())
        out["agrees"] = bool(np.allclose(f(*args), ref, rtol=1e-9, atol=1e-12))
        if out["deferred"]:  # ran on NumPy: wait for the background processes
            background.wait()
            out["ready_s"] = round(time.perf_counter() - t0, 1)
            out["agrees"] = out["agrees"] and bool(
                np.allclose(f(*args), ref, rtol=1e-9, atol=1e-12))
            out["compiled_after"] = bool(f.fn.ready())
    except MemoryError:
        out["error"] = "MemoryError"
        out["cpu_s"], out["wall_s"] = round(cpu() - c0, 1), round(time.perf_counter() - t0, 1)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out), flush=True)
""")


def _run(src, args, root, cache_dir, timeout=3600, flags=""):
    env = dict(os.environ, PYTHONPATH=root, ROOT=root, THEANINE_CACHE_DIR=cache_dir,
               THEANINE_FLAGS=flags)
    env.pop("THEANINE_NUMBA_COMPILE", None)
    try:
        r = subprocess.run([sys.executable, "-c", src, *map(str, args)], capture_output=True,
                           text=True, env=env, cwd=root, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    finally:  # compiles left to detached workers (numba_interim) finish before the next run
        tr.wait_detached(cache_dir)
    if r.returncode:
        return {"error": f"exit {r.returncode}: {r.stderr.strip().splitlines()[-1:]}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _table(title, header, rows):
    print(f"\n#### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if k == 0 else "---:" for k in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    sys.stdout.flush()


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def training(roots, models, steps, jax=True, flags=None):
    flags = flags or {}
    have_jax = jax and peers.installed("jax")
    for name in models:
        theanine_src, jax_src = tr.SCRIPTS[name]
        runs = []
        with tempfile.TemporaryDirectory() as d:
            caches = {label: os.path.join(d, label) for label, _ in roots}
            for state in ("cold", "warm"):
                for label, root in roots:
                    runs.append((f"{label}, {state} cache",
                                 _run(theanine_src, [steps], root, caches[label],
                                      flags=flags.get(label, ""))))
        if have_jax:
            runs.append(("JAX (jit)", _run(jax_src, [steps], ROOT, "/nonexistent")))
        jax = runs[-1][1].get("marks") if have_jax else None
        rows = []
        for label, r in runs:
            if "error" in r:
                rows.append([label, r["error"]] + ["-"] * 6)
                continue
            m = r["marks"]
            row = [label, f"{m['1']:.2f}", _fmt(r.get("full_speed"), ".1f"),
                   _fmt(r.get("steady"), ".1f"), f"{m['100']:.1f}",
                   f"{m[str(steps)]:.1f}" if steps > 100 else "-", f"{r['step_s'] * 1e3:.1f}"]
            if jax:
                row.append(" / ".join(f"{m[k] / jax[k]:.2f}x" for k in ("100", str(steps))
                                      if k in m and k in jax))
            rows.append(row)
        _table(f"{tr.TITLES[name]}: seconds from process start, {steps} training steps",
               ["run", "step 1 done", "full speed at", "steady from", "100 steps",
                f"{steps} steps", "step (ms)"] + (["vs JAX (100 / " + f"{steps})"]
                                                  if have_jax else []), rows)


def big_body(roots, blocks_list, this_only=(), mixed=False, inproc=False):
    print(f"\n#### compile of a scan with a large body{' of mixed blocks' if mixed else ''} "
          f"(numba 'sync'{', compiled in-process whatever it costs' if inproc else ''}, "
          f"address space limited to {BODY_MEMORY >> 30} GiB)\n")
    print("| checkout | blocks | body nodes, user's graph / after rewriting | CPU s | wall s "
          "| peak MB | result |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for blocks in list(blocks_list) + list(this_only):
        for label, root in roots if blocks not in this_only else roots[1:]:
            with tempfile.TemporaryDirectory() as d:
                r = _run(BIG_BODY, [blocks, BODY_MEMORY, "mixed" if mixed else "same",
                                    "inproc" if inproc else "bounded"], root, d)
            result = r.get("error") or (f"compiled {r['compiled']}, agrees {r['agrees']}, "
                                        f"{r['parts']} part functions")
            if r.get("deferred"):
                result += (f"; ran on NumPy (warned), compiled in the background by "
                           f"{r['ready_s']} s: compiled {r['compiled_after']}")
            print(f"| {label} | {blocks} | {7 * blocks} / {_fmt(r.get('body_nodes'), 'd')} "
                  f"| {_fmt(r.get('cpu_s'), '.1f')} | {_fmt(r.get('wall_s'), '.1f')} "
                  f"| {_fmt(r.get('peak_mb'), 'd')} | {result} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True, help="root of the checkout to compare with")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--models", default="lstm_lm,rnn256,char_lstm")
    ap.add_argument("--blocks", default="40")
    ap.add_argument("--this-only-blocks", default="300",
                    help="sizes run on this checkout only (the baseline was OOM-killed at "
                         "15.5 GB on a 2,000-node body, issue 13 item 8)")
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--skip-body", action="store_true")
    ap.add_argument("--mixed", action="store_true",
                    help="each block's nonlinearities drawn at random: no two parts alike")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--baseline-flags", default="",
                    help="THEANINE_FLAGS of the baseline's runs (e.g. numba_interim=numpy "
                         "with --baseline . : this checkout without the JAX interim tier)")
    ap.add_argument("--flags", default="", help="THEANINE_FLAGS of this checkout's runs")
    ap.add_argument("--inproc", action="store_true",
                    help="big body: compile in-process however long it takes (no 'sync' bound)")
    a = ap.parse_args()
    roots = [("baseline", os.path.abspath(a.baseline)), ("this", ROOT)]
    print(f"baseline {roots[0][1]}, this {ROOT}; {os.cpu_count()} cores")
    if not a.skip_body:
        big_body(roots, [int(b) for b in a.blocks.split(",") if b],
                 [int(b) for b in a.this_only_blocks.split(",") if b], a.mixed, a.inproc)
    if not a.skip_training:
        training(roots, [m for m in a.models.split(",") if m], a.steps, jax=not a.no_jax,
                 flags={"baseline": a.baseline_flags, "this": a.flags})


if __name__ == "__main__":
    main()
