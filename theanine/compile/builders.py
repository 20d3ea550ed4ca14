"""Theano's ``theano.compile.builders`` path (the op lives in theanine/builders.py)."""

from theanine.builders import OpFromGraph

__all__ = ["OpFromGraph"]
