"""Compile kernels in background processes, several at once, largest first.

The main process keeps running (on NumPy implementations) while workers
(``python -m theanine.backends.numba.worker``, see its docstring for the
protocol and their lifetime) compile the requested kernels into the disk cache;
a kernel's glue checks ``done(kernel)`` on its next call and then loads the
compiled code from the cache (milliseconds).

Scheduling (invariants):
- Up to ``max_workers()`` workers run at once ($THEANINE_NUMBA_WORKERS, default
  the number of CPUs this process may use, at most MAX_WORKERS), never more
  than there are unfinished jobs.
- Every job goes to every live worker; each worker takes the largest job whose
  kernel nobody is compiling (the kernel's lock), so the longest compile starts
  first and a kernel is compiled once (longest-first on parallel machines).
- A job is finished when one worker reports it, or when no worker is left to do
  it (a worker that died); ``done`` is then True and the glue loads the kernel
  from disk, or compiles it itself if asked to (a failed worker changes nothing
  on disk).
- Workers outlive this process only as long as the worker docstring says: they
  finish what they hold within a bound, keeping it in the cache, so a short
  script's compile work is not lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from theanine import cache

MAX_WORKERS = 4

_lock = threading.RLock()
_workers = []  # live _Worker objects
_jobs = {}  # key -> job dict (requested, not finished)
_finished = set()  # keys finished (ok, failed or abandoned)
_failed = {}  # key -> message from the worker


def max_workers():
    env = os.environ.get("THEANINE_NUMBA_WORKERS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, n))


class _Worker:
    def __init__(self, nice=0):
        self.root = cache.cache_root()  # the cache it compiles into
        self.proc = _spawn(nice, subprocess.PIPE)
        self.alive = True
        threading.Thread(target=self._listen, daemon=True).start()

    def send(self, jobs):
        try:
            self.proc.stdin.write((json.dumps(jobs) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    def _listen(self):
        """Record each job the worker reports; when it exits, reap it."""
        for line in self.proc.stdout:
            key, _, status = line.decode(errors="replace").strip().partition(" ")
            with _lock:
                if self not in _workers:  # dropped (another cache): its work is not ours
                    continue
                _jobs.pop(key, None)
                _finished.add(key)
                if status == "failed":
                    _failed[key] = status
        self.proc.wait()
        with _lock:
            self.alive = False
            if self in _workers:
                _workers.remove(self)
            if not _workers:  # nobody left to do them: the glue decides
                _finished.update(_jobs)
                _jobs.clear()
        _start_more()


def _spawn(nice, stdout):
    env = dict(os.environ)
    env["THEANINE_NUMBA_WORKER_NICE"] = str(nice)
    env["THEANINE_CACHE_DIR"] = cache.cache_root()
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(v, "1")
    return subprocess.Popen([sys.executable, "-m", "theanine.backends.numba.worker"],
                            stdin=subprocess.PIPE, stdout=stdout,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)


def _job(kernel, spec):
    """The worker's job for `kernel` (its module written where the worker reads it), or
    None if the module cannot be written."""
    try:
        kernel.write_module()
    except OSError:
        return None
    return {"key": kernel.key, "path": kernel.paths()[1], "sig": spec,
            "size": len(kernel.text)}


def request(kernel, spec):
    request_all([(kernel, spec)])


def request_all(pairs, nice=0):
    """Compile (kernel, signature spec) pairs in the background, largest kernel
    first; a spec lists [dtype, ndim, layout, read-only] per array argument
    (linker.sig_spec). Workers started for them run at niceness `nice` (lower
    priority than this process: the jax interim tier, compile/interim.py, keeps
    its core while they compile)."""
    new = []
    with _lock:
        for kernel, spec in pairs:
            if kernel.key in _jobs:
                continue
            _finished.discard(kernel.key)
            job = _job(kernel, spec)
            if job is None:
                _finished.add(kernel.key)
                continue
            _jobs[kernel.key] = job
            new.append(job)
        if not new:
            return
        new.sort(key=lambda j: -j["size"])
        _drop_other_roots()
        for w in list(_workers):
            if not w.send(new):
                w.alive = False
    _start_more(nice)


def request_detached(pairs, nice=0):
    """Compile (kernel, spec) pairs in workers that this process does not wait for or
    hear from: they get the jobs and an end of input at once, so they work detached
    (the worker's lifetime bound) and leave what they finish in the cache, for the
    next process (compile/interim.py, at exit). No thread is started: this runs at
    interpreter exit."""
    jobs = [job for job in (_job(kernel, spec) for kernel, spec in pairs
                            if kernel.key not in _jobs) if job is not None]
    jobs.sort(key=lambda j: -j["size"])
    for _ in range(min(max_workers(), len(jobs))):
        try:
            proc = _spawn(nice, subprocess.DEVNULL)
            proc.stdin.write((json.dumps(jobs) + "\n").encode())
            proc.stdin.close()
        except (OSError, ValueError):
            break


def _drop_other_roots():
    """Forget the workers of another cache directory ($THEANINE_CACHE_DIR changed in
    this process): they get no more jobs and end detached (their input closed),
    finishing what they hold into their own cache; their reports are ignored (a
    kernel with the same key here is not compiled by them)."""
    root = cache.cache_root()
    for w in [w for w in _workers if w.root != root]:
        _workers.remove(w)
        try:
            w.proc.stdin.close()
        except (OSError, ValueError):
            pass


def _start_more(nice=0):
    """Start workers up to max_workers() (and the number of jobs), at niceness
    `nice`; send them every unfinished job."""
    with _lock:
        _drop_other_roots()
        live = [w for w in _workers if w.alive]
        want = min(max_workers(), len(_jobs)) - len(live)
        if want <= 0 or not _jobs:
            return
        jobs = sorted(_jobs.values(), key=lambda j: -j["size"])
        for _ in range(want):
            try:
                w = _Worker(nice)
            except (OSError, ValueError):
                break
            _workers.append(w)
            w.send(jobs)
        if not _workers:  # no worker could start: the glue compiles when asked
            _finished.update(_jobs)
            _jobs.clear()


def done(kernel):
    """True once `kernel`'s background compile has finished (or cannot happen)."""
    return kernel.key in _finished


def failure(kernel):
    """The worker's failure report for `kernel` ('failed'), or None."""
    return _failed.get(kernel.key)


def pending():
    """Keys requested and not finished."""
    with _lock:
        return set(_jobs)


def wait(timeout=None):
    """Block until every requested kernel is finished (for tests and benchmarks);
    False if `timeout` seconds passed first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _lock:
            if not _jobs:
                return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.01)
