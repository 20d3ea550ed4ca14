"""Compile kernels in a background process, one batch at a time.

The main process keeps running (on NumPy implementations) while a worker
(``python -m theanine.backends.numba.worker``) compiles the requested kernels
into the disk cache; a kernel's glue checks ``done(kernel)`` on its next call
and then loads the compiled code from the cache (milliseconds). Requests made
while a worker runs wait for the next batch. A worker that fails leaves the
kernels uncompiled on disk; the process then compiles them itself when asked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from theanine import cache

_lock = threading.Lock()
_queue = []  # (kernel, signature) not yet sent
_running = {"proc": None, "keys": set()}
_finished = set()  # keys whose worker exited


def _sig_spec(sig):
    """The signature as JSON: the worker compiles exactly the types the glue calls
    with (layout and read-only flag included)."""
    return [[str(t.dtype), t.ndim, t.layout, not t.mutable] for t in sig]


def request(kernel, sig):
    with _lock:
        if kernel.key in _running["keys"] or any(k.key == kernel.key for k, _ in _queue):
            return
        _finished.discard(kernel.key)
        _queue.append((kernel, sig))
    _pump()


def _pump():
    with _lock:
        proc = _running["proc"]
        if proc is not None:
            if proc.poll() is None:
                return
            _finished.update(_running["keys"])
            _running["proc"], _running["keys"] = None, set()
        if not _queue:
            return
        batch, _queue[:] = list(_queue), []
        jobs = []
        for k, sig in batch:
            k.write_module()
            jobs.append({"key": k.key, "path": k.paths()[1], "sig": _sig_spec(sig)})
        env = dict(os.environ)
        env["THEANINE_CACHE_DIR"] = cache.cache_root()
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            proc = subprocess.Popen([sys.executable, "-m", "theanine.backends.numba.worker"],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=env)
            proc.stdin.write(json.dumps(jobs).encode())
            proc.stdin.close()
        except (OSError, ValueError):
            _finished.update(k.key for k, _ in batch)
            return
        _running["proc"], _running["keys"] = proc, {k.key for k, _ in batch}
    threading.Thread(target=_reap, args=(proc,), daemon=True).start()


def _reap(proc):
    """Wait for the worker (no zombie), record its kernels, start the next batch."""
    proc.wait()
    _pump()


def done(kernel):
    """True once the worker that compiled `kernel` has exited."""
    _pump()
    return kernel.key in _finished


def wait(timeout=None):
    """Block until no background compile is running (for tests and benchmarks)."""
    while True:
        _pump()
        with _lock:
            proc = _running["proc"]
            if proc is None and not _queue:
                return
        if proc is not None:
            proc.wait(timeout)
