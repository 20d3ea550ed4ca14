"""theanine's opt-in `theano` alias for plain `python script.py` (never installed).

Put the folder that holds this package on PYTHONPATH, explicitly, and an unmodified
Theano script runs on theanine:

    PYTHONPATH=/path/to/theanine/theano_shim python script.py

`import theano` then gives the `theanine` module itself, `theano.tensor` gives
`theanine.tensor`, and so on. When a real Theano is importable from elsewhere on the
path, importing this package raises ImportError instead of shadowing it.
`python -m theanine run script.py` does the same without touching PYTHONPATH.
"""

import os as _os
import sys as _sys

__theanine_alias__ = True  # marks this file as theanine's shim, not a real Theano


def _activate():
    from importlib.machinery import PathFinder

    here = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    for entry in _sys.path:
        if _os.path.abspath(entry or _os.getcwd()) == here:
            continue
        spec = PathFinder.find_spec("theano", [entry or _os.getcwd()])
        if spec is None or spec.origin is None or not _os.path.isfile(spec.origin):
            continue
        with open(spec.origin, encoding="utf-8", errors="replace") as f:
            if "__theanine_alias__" in f.read():
                continue
        from theanine.__main__ import refusal_message

        raise ImportError(refusal_message(spec.origin))

    from theanine.__main__ import install_theano_alias

    install_theano_alias()  # replaces this module with theanine in sys.modules


_activate()
