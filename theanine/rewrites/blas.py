"""Gemm lives in theanine/tensor/blas.py; this is its old import path."""

from theanine.tensor.blas import Gemm, gemm  # noqa: F401
