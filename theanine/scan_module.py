"""Theano's ``theano.scan_module`` names."""

from .scan import OrderedUpdates, Scan, foldl, foldr, map, reduce, scan, scan_checkpoints, until

__all__ = ["OrderedUpdates", "Scan", "foldl", "foldr", "map", "reduce", "scan",
           "scan_checkpoints", "until"]
