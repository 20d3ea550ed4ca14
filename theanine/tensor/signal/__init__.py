"""theanine.tensor.signal (Theano's ``theano.tensor.signal``): pooling (``signal.pool``)."""

from . import pool  # noqa: F401
