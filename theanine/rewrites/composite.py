"""Composite lives in theanine/tensor/composite.py; this is its old import path."""

from theanine.tensor.composite import Composite  # noqa: F401
