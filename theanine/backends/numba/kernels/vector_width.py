"""`wide_vectors()`: a call at the top of a kernel asks LLVM to vectorise that kernel's
loops with the widest vectors the CPU has (512 bits on AVX-512), where by default it
stops at 256 bits on Intel's AVX-512 cores (LLVM's ``prefer-256-bit`` tuning, chosen
for the clock drop of heavy 512-bit work on the first AVX-512 Xeons).

The recurrence kernels (recurrence_kernels.py, ops_fused_recurrence.py) call it: their
loops compute exps and sigmoid pairs (kernels/vecmath.py), which take half the
instructions at 512 bits. Measured on an AVX-512 Xeon (family 6 model 167), float64:
800,000 sigmoid pairs 1.39-1.47 -> 1.04-1.11 ms; the forward of the gated recurrence of
width 8 (benchmarks/linear_recurrence.py case 2, alone) 1.16-1.29 -> 1.01-1.03 ms. On a
CPU without AVX-512 it changes nothing (no wider registers).

One kernel asks for 256 bits instead (`vectors_256()`): the forward `window` of a
recurrence with one decay for every step, whose vector loop reads back, one vector
later, the vector it has just stored (out[t] from out[t - 8]). On AMD's Zen 4 (AVX-512
on 256-bit units) it runs 0.52-0.57 ns a step at 256 bits against 0.66-1.07 at 512
(10^6 float64 steps; the slowest with the output 16 bytes past a 64-byte line), where
the descending `window_rev` runs 0.51-0.61 at 512 against 0.78-0.86 at 256; on the
Xeon the window ran at the speed of a copy at 256 bits (benchmarks/RESULTS.md, "Stop
25").

The attribute is LLVM's per-function ``"prefer-vector-width"``; it goes on the function
being compiled (the kernel whose body makes the call). ``THEANINE_NUMBA_VECTOR_WIDTH``
(bits, read once at import) sets one width for every kernel, both calls included; 0
leaves LLVM's choice. The width is part of the kernel store's key (store.version_tag),
so a changed setting compiles anew.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import os

from numba import types
from numba.extending import intrinsic

__all__ = ["vectors_256", "wide_vectors"]


def _setting():
    """The setting's width in bits, None when it is not set."""
    text = os.environ.get("THEANINE_NUMBA_VECTOR_WIDTH", "").strip()
    if not text:
        return None
    try:
        bits = int(text)
    except ValueError:
        bits = -1
    if bits not in (0, 128, 256, 512):
        raise ValueError("THEANINE_NUMBA_VECTOR_WIDTH: expected 0, 128, 256 or 512 "
                         f"(bits), got {text!r}")
    return bits


SETTING = _setting()
WIDTH = 512 if SETTING is None else SETTING      # wide_vectors()
WIDTH_256 = 256 if SETTING is None else SETTING  # vectors_256()


def _codegen(bits):
    def codegen(context, builder, sig, args):
        if bits:
            # llvmlite's FunctionAttributes accepts LLVM's enum attributes only, and
            # writes each entry as is: a string attribute goes in past its check.
            set.add(builder.function.attributes, f'"prefer-vector-width"="{bits}"')
        return context.get_dummy_value()

    return codegen


@intrinsic
def wide_vectors(typingctx):
    """Give the calling kernel the attribute "prefer-vector-width"="WIDTH" (nothing
    when WIDTH is 0). No code is emitted."""
    return types.none(), _codegen(WIDTH)


@intrinsic
def vectors_256(typingctx):
    """As wide_vectors, with WIDTH_256 (256 unless the setting says otherwise)."""
    return types.none(), _codegen(WIDTH_256)
