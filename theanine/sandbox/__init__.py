"""Theano's sandbox namespace: ``theano.sandbox.rng_mrg.MRG_RandomStreams``."""
