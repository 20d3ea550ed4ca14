"""map, reduce, foldl, foldr: scan with fixed roles (as Theano's scan_module views)."""

from __future__ import annotations

from .api import scan


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False,
        mode=None, name=None):
    """Apply fn to each element of the sequences; returns (outputs, updates)."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode,
                name=name)


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None,
           name=None):
    """Fold fn over the sequences; returns (final states, updates)."""
    return scan(fn, sequences=sequences, outputs_info=outputs_info,
                non_sequences=non_sequences, go_backwards=go_backwards, mode=mode, name=name,
                _finals=True)


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the first element to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, False, mode, name)


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the last element to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences, True, mode, name)
