"""The numba source of each scalar function (the ScalarOps that Elemwise and
Composite apply), as data.

``SCALAR[op class]`` is a template, or {variant: template} where the variant
depends on the dtypes (the first that applies, in VARIANT_ORDER, else ""):

    "bool"             every input is bool (NumPy's logical meaning: + is or)
    "to_bool"          the output is bool (Cast)
    "complex_to_real"  a complex input, a real output (Cast)
    "int"              the output is an integer (IntDiv, Mod: NumPy's floor rules)
    "complex"          the first input is complex (Real, Imag, Angle)
    "f32", "f64"       the computation is in float32 / float64 (the vectorisable
                       kernels of kernels/vecmath.py)

A template is formatted with the argument expressions (``{0}``, ``{1}``, ...), or
is an ``Nary`` (one operator between all the arguments). Names in templates are
NumPy, math, or the kernels' functions (runtime.py). ``scalar_expr`` returns the
expression before its cast to the node's output dtype (the emitter casts, so
numba's own promotion never changes a dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theanine.tensor import scalar_ops as S

from .codegen import np_dtype
from .registry import Unsupported

# Scalar ops (by class name) whose cost is arithmetic, not memory: NumPy's SIMD kernels
# beat ours on large arrays of them (linker._numpy_when_large).
TRANSCENDENTAL = ("Exp", "Log", "Tanh", "Sigmoid", "Sin", "Cos", "Tan", "Log1p", "Expm1",
                  "Softplus", "Exp2", "Log2", "Log10", "ArcTan", "Sinh", "Cosh", "Erf")
# ... except these, whose NumPy implementation has no SIMD loop: scipy.special.expit
# takes 2.9 ns a float32 element where our kernel (kernels/vecmath.py) takes 0.9 ns
# (NumPy's tanh 0.32 against ours 0.79, exp 0.57 against 0.86). A lone node of one
# is compiled at the top level too (ops_elemwise), and a fused kernel holding one
# runs compiled whatever its size.
NUMPY_SLOWER = ("Sigmoid",)


@dataclass(frozen=True)
class Nary:
    """`op` between all the arguments, each parenthesised."""

    op: str

    def format(self, *args):
        return "(" + f" {self.op} ".join(f"({a})" for a in args) + ")"


def _call(fn):
    return fn + "({0})"


SCALAR = {
    # arithmetic
    S.Add: {"": Nary("+"), "bool": Nary("or")},
    S.Mul: {"": Nary("*"), "bool": Nary("and")},
    S.Sub: {"": "(({0}) - ({1}))", "bool": "(np.int8({0}) - np.int8({1}))"},
    S.TrueDiv: "(({0}) / ({1}))",
    S.IntDiv: {"": "(({0}) // ({1}))", "int": "np.floor_divide({0}, {1})"},
    S.Mod: {"": "(({0}) % ({1}))", "int": "np.mod({0}, {1})"},
    S.Pow: {"": "(({0}) ** ({1}))", "bool": "(({0}) or not ({1}))"},
    S.Neg: "(-({0}))",
    S.Abs: "np.abs({0})",
    S.Sgn: {"": "sign_of({0})", "bool": "{0}"},
    S.Sqr: "(({0}) * ({0}))",
    S.Inv: "(1 / ({0}))",
    S.Identity: "{0}",
    S.Maximum: {"": "nan_max({0}, {1})", "bool": "({0} or {1})"},
    S.Minimum: {"": "nan_min({0}, {1})", "bool": "({0} and {1})"},
    S.Clip: "nan_min(nan_max({0}, {1}), {2})",
    # selection and casts
    S.Switch: "(({1}) if ({0}) else ({2}))",
    S.Second: "{1}",
    S.Cast: {"": "{0}", "to_bool": "(({0}) != 0)", "complex_to_real": "({0}).real"},
    # comparisons and logic
    S.EQ: "(({0}) == ({1}))",
    S.NEQ: "(({0}) != ({1}))",
    S.LT: "(({0}) < ({1}))",
    S.LE: "(({0}) <= ({1}))",
    S.GT: "(({0}) > ({1}))",
    S.GE: "(({0}) >= ({1}))",
    S.AND: {"": "(({0}) & ({1}))", "bool": "(({0}) and ({1}))"},
    S.OR: {"": "(({0}) | ({1}))", "bool": "(({0}) or ({1}))"},
    S.XOR: {"": "(({0}) ^ ({1}))", "bool": "(({0}) != ({1}))"},
    S.Invert: {"": "(~({0}))", "bool": "(not ({0}))"},
    S.IsNan: _call("np.isnan"),
    S.IsInf: _call("np.isinf"),
    # rounding
    S.Floor: _call("np.floor"),
    S.Ceil: _call("np.ceil"),
    S.Trunc: _call("np.trunc"),
    S.RoundHalfToEven: _call("round_half_even"),
    S.RoundHalfAwayFromZero: ("(np.trunc({0}) + np.sign({0}) * "
                              "(np.abs({0} - np.trunc({0})) >= 0.5))"),  # as py: exact
    # exp and log (vectorisable kernels for float32 / float64)
    S.Exp: {"": "np.exp({0})", "f32": "exp_f32({0})", "f64": "exp_f64({0})"},
    S.Log: {"": "np.log({0})", "f32": "log_f32({0})", "f64": "log_f64({0})"},
    S.Exp2: _call("np.exp2"),
    S.Expm1: _call("np.expm1"),
    S.Log1p: _call("np.log1p"),
    S.Log2: _call("np.log2"),
    S.Log10: _call("np.log10"),
    S.Sqrt: _call("np.sqrt"),
    # trigonometric and hyperbolic
    S.Sin: _call("np.sin"),
    S.Cos: _call("np.cos"),
    S.Tan: _call("np.tan"),
    S.ArcSin: _call("np.arcsin"),
    S.ArcCos: _call("np.arccos"),
    S.ArcTan: _call("np.arctan"),
    S.ArcTan2: "np.arctan2({0}, {1})",
    S.Sinh: _call("np.sinh"),
    S.Cosh: _call("np.cosh"),
    S.Tanh: {"": "np.tanh({0})", "f32": "tanh_f32({0})", "f64": "tanh_f64({0})"},
    S.ArcSinh: _call("np.arcsinh"),
    S.ArcCosh: _call("np.arccosh"),
    S.ArcTanh: _call("np.arctanh"),
    S.Deg2Rad: _call("np.deg2rad"),
    S.Rad2Deg: _call("np.rad2deg"),
    # special functions (kernels/special.py: as scipy.special at the special points)
    S.Sigmoid: {"": "(1.0 / (1.0 + np.exp(-{0})))", "f32": "sigmoid_f32({0})",
                "f64": "sigmoid_f64({0})"},
    S.Softplus: _call("softplus"),
    S.Erf: "math.erf(np.float64({0}))",  # in double precision, as SciPy's float32 loops
    S.Erfc: "math.erfc(np.float64({0}))",
    S.Erfinv: _call("erfinv_f64"),
    S.Erfcx: _call("erfcx_f64"),
    S.Gamma: "math.gamma(np.float64({0}))",
    S.GammaLn: "gammaln_f64(np.float64({0}))",
    S.Psi: "psi_f64(np.float64({0}))",
    S.TriGamma: "trigamma_f64(np.float64({0}))",
    # complex parts
    S.Conj: _call("np.conj"),
    S.Real: {"": "{0}", "complex": "({0}).real"},
    S.Imag: {"": "0", "complex": "({0}).imag"},
    S.Angle: {"": "np.arctan2(0.0, {0})", "complex": "angle_of({0})"},  # pi at -0.0, as NumPy
}

VARIANT_ORDER = ("bool", "to_bool", "complex_to_real", "int", "complex", "f32", "f64")

# NumPy computes these in the result dtype (numba would compute float32 ** int64 in
# float32, for one): float and complex arguments are cast to it first
_IN_OUT_DTYPE = (S.Add, S.Mul, S.Sub, S.Pow, S.IntDiv, S.Mod, S.Maximum, S.Minimum, S.Clip)


def _variants(sop, in_dtypes, out_dtype):
    """The variants (VARIANT_ORDER) that apply to these dtypes."""
    kinds = [np.dtype(d).kind for d in in_dtypes]
    out_kind = np.dtype(out_dtype).kind
    work = np.dtype(out_dtype if sop.cast_inputs else in_dtypes[0]).name
    return {"bool": all(d == "bool" for d in in_dtypes),
            "to_bool": out_dtype == "bool",
            "complex_to_real": kinds[0] == "c" and out_kind != "c",
            "int": out_kind in "iu",
            "complex": kinds[0] == "c",
            "f32": work == "float32",
            "f64": work == "float64"}


def scalar_expr(sop, args, in_dtypes, out_dtype):
    """Source of sop applied to scalar expressions `args` (before the final cast)."""
    entry = SCALAR.get(type(sop))
    if entry is None:
        raise Unsupported(f"scalar op {sop} in compiled code")
    if sop.cast_inputs:  # integer arguments of float functions become floats first
        args = [f"{np_dtype(out_dtype)}({a})" if np.dtype(d).kind in "biu" else a
                for a, d in zip(args, in_dtypes)]
    elif type(sop) in _IN_OUT_DTYPE and np.dtype(out_dtype).kind in "fc":
        args = [a if d == out_dtype else f"{np_dtype(out_dtype)}({a})"
                for a, d in zip(args, in_dtypes)]
    if isinstance(entry, dict):
        applies = _variants(sop, in_dtypes, out_dtype)
        key = next((v for v in VARIANT_ORDER if v in entry and applies[v]), "")
        entry = entry[key]
    return entry.format(*args)
