"""Profiling of compiled functions: ProfileStats (theanine/graph/profiling.py, re-exported
here: Theano's theano.compile.profiling.ProfileStats) and the summaries printed at exit.

Functions compiled while ``config.profile`` is True print their summary when the
process exits, as Theano did.
"""

from __future__ import annotations

import atexit
import sys

from theanine.graph.profiling import ProfileStats  # noqa: F401 - re-exported

_AT_EXIT = []


def register_atexit(stats):
    """Print `stats`' summary at interpreter exit (config.profile); returns `stats`."""
    if not _AT_EXIT:
        atexit.register(_print_all)
    _AT_EXIT.append(stats)
    return stats


def _print_all():
    for stats in _AT_EXIT:
        if stats.calls:
            stats.summary(file=sys.stderr)
