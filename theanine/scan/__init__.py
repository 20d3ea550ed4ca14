"""theano.scan: loops inside the graph (see README.md in this folder)."""

from .api import scan
from .checkpoints import scan_checkpoints
from .op import Scan
from .utils import OrderedUpdates, until
from .views import foldl, foldr, map, reduce

__all__ = ["scan", "scan_checkpoints", "Scan", "OrderedUpdates", "until", "foldl", "foldr",
           "map", "reduce"]
