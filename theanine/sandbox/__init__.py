"""Theano's sandbox namespace: ``theano.sandbox.rng_mrg.MRG_RandomStreams``."""

from . import rng_mrg  # noqa: F401
