"""Theano's ``theano.tensor.opt`` names that scripts import: the run-time assertion
op. (theanine's rewrites live in theanine/rewrites; see docs/rewrites.md.)"""

from .checks import Assert, assert_op

assert_ = assert_op

__all__ = ["Assert", "assert_", "assert_op"]
