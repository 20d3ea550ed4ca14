"""Where a model's numba compile time goes, kernel by kernel (issue 14).

    python benchmarks/compile_profile.py [--model lstm_lm|rnn256|char_lstm] [--opt N]

Builds the model of training_runs.py (the function only: nothing runs), then
compiles each of its distinct kernels in this process, largest first, as a
background worker does, with an empty cache (a temporary directory). Per kernel:
generated lines, CPU seconds, and how they split between numba's front end
(bytecode, type inference, rewrites: Python) and lowering to LLVM IR plus LLVM's
own work (function and module passes, machine code), from numba's compiler events
and its code library's finalisation. ``--opt`` sets numba's LLVM optimisation level
for the whole run (``NUMBA_OPT``, read when numba starts).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def build(model):
    """The model's training function, built under the 'auto' policy (no compile)."""
    from benchmarks import training_runs as tr

    src = tr.SCRIPTS[model][0]
    src = src[:src.index("from theanine.backends.numba import background")]
    env = {"__name__": "model"}
    os.environ.setdefault("ROOT", ROOT)
    sys.argv = [sys.argv[0], "1"]
    exec(compile(src, f"<{model}>", "exec"), env)
    return env["train"]


class Timer:
    """CPU seconds spent in numba's front end and in LLVM during a compile."""

    def __init__(self):
        from numba.core import codegen, event

        self.event = event
        self.llvm = 0.0
        self.lowering = 0.0
        self.front = 0.0
        self._depth = 0
        lib = codegen.JITCodeLibrary
        for meth in ("_optimize_functions", "_optimize_final_module", "_finalize_specific"):
            self._wrap(lib, meth)

    def _wrap(self, cls, meth):
        orig = getattr(cls, meth)
        timer = self

        def timed(self, *a, **k):
            t0 = time.process_time()
            try:
                return orig(self, *a, **k)
            finally:
                timer.llvm += time.process_time() - t0

        setattr(cls, meth, timed)

    def listener(self):
        timer = self
        stack = []

        class Passes(self.event.Listener):
            def on_start(self, e):
                stack.append([e.data["name"], time.process_time(), 0.0])

            def on_end(self, e):
                name, t0, child = stack.pop()
                dt = time.process_time() - t0
                own = dt - child
                if name.startswith("native_lowering"):
                    timer.lowering += own
                else:
                    timer.front += own
                if stack:
                    stack[-1][2] += dt

        return self.event.install_listener("numba:run_pass", Passes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lstm_lm")
    ap.add_argument("--opt", type=int, default=None)
    ap.add_argument("--part-lines", type=int, default=None,
                    help="codegen.PART_LINES (split loop bodies longer than this)")
    a = ap.parse_args()
    if a.part_lines is not None:
        from theanine.backends.numba import codegen

        codegen.PART_LINES = a.part_lines
    if a.opt is not None:
        os.environ["NUMBA_OPT"] = str(a.opt)
    os.environ["THEANINE_CACHE_DIR"] = tempfile.mkdtemp(prefix="theanine-profile-")
    train = build(a.model)
    kernels = train.fn.kernels
    distinct = collections.OrderedDict()
    for nk in sorted(kernels, key=lambda nk: -len(nk.kernel.text)):
        distinct.setdefault(nk.kernel.key, nk)
    import numba  # noqa: F401 - started before the first timing

    from theanine.backends.numba import linker

    timer = Timer()
    print(f"{a.model}: {len(kernels)} kernels, {len(distinct)} distinct; NUMBA_OPT="
          f"{os.environ.get('NUMBA_OPT', 'default (3)')}; load {os.getloadavg()[0]:.1f}\n")
    print("| kernel | lines | functions | CPU s | front end | lowering + LLVM | LLVM |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = collections.Counter()
    for nk in distinct.values():
        text = nk.kernel.text
        lines = text.count("\n")
        funcs = len(re.findall(r"^def ", text, flags=re.M))
        before = (timer.front, timer.lowering, timer.llvm)
        t0 = time.process_time()
        with timer.listener():
            nk.kernel.compile(linker.expected_sig(nk.node))
        cpu = time.process_time() - t0
        front = timer.front - before[0]
        llvm = timer.llvm - before[2]
        lowering = timer.lowering - before[1]
        name = type(nk.node.op).__name__
        print(f"| {name} | {lines} | {funcs} | {cpu:.2f} | {front:.2f} | {lowering:.2f} "
              f"| {llvm:.2f} |", flush=True)
        total.update(cpu=cpu, front=front, lowering=lowering, llvm=llvm, lines=lines)
    print(f"| **all {len(distinct)}** | {total['lines']} | | {total['cpu']:.2f} | "
          f"{total['front']:.2f} | {total['lowering']:.2f} | {total['llvm']:.2f} |")


if __name__ == "__main__":
    main()
