"""Theano's ``theano.compile.monitormode`` names (the mode lives in mode.py)."""

from .mode import MonitorMode

__all__ = ["MonitorMode"]
