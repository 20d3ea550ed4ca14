"""Background compile worker (``python -m theanine.backends.numba.worker``).

Protocol: the parent writes JSON lines on stdin, each a list of jobs
``{key, path, sig, size}``; the worker compiles each kernel into the disk cache
(store.Kernel.compile, under the kernel's lock) and writes one line per job on
stdout: ``<key> ok``, ``<key> failed``, or ``<key> stale`` (the library's files
changed since the parent read them: the kernel has another key here).

Several workers share one list (the parent sends every job to every worker):
each takes the largest job whose kernel lock is free, so they split the work
without talking to each other, and a kernel is compiled once. A job whose lock
is held (a sibling is compiling it) waits until the rest is done, then loads
what the sibling wrote.

Lifetime (invariants):
- While the parent lives, the worker waits for more jobs; IDLE_SECONDS without
  any, it exits.
- When the parent exits (stdin reaches end of file), the worker is *detached*:
  it finishes the jobs it holds, then exits; it is stopped after
  $THEANINE_NUMBA_DETACHED_SECONDS (default DETACHED_SECONDS) in all. Every kernel
  finished before then stays in the cache; one cut short leaves nothing (numba
  writes its cache files after compiling, the manifest after them).
- It runs in its own session, so a Ctrl-C in the parent's terminal does not cut
  a compile short; it never outlives the bound above.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading

import numba
import numpy as np
from numba import types

from . import store

try:
    import fcntl
except ImportError:  # not POSIX: no claims, workers may compile a kernel twice
    fcntl = None

IDLE_SECONDS = 20.0
DETACHED_SECONDS = 120.0


def detached_bound():
    try:
        return max(0.0, float(os.environ.get("THEANINE_NUMBA_DETACHED_SECONDS",
                                             DETACHED_SECONDS)))
    except ValueError:
        return DETACHED_SECONDS


def _read_jobs(inbox):
    """Reader thread: parse job lines from stdin into `inbox`. At end of file (the
    parent is gone) start the detached bound at once, even mid-compile, and put None."""
    for line in sys.stdin:
        line = line.strip()
        if line:
            try:
                inbox.put(json.loads(line))
            except ValueError:
                continue
    _stop_after(detached_bound())
    inbox.put(None)


def _claim(job):
    """Try to claim `job` for this worker: an exclusive lock on the kernel's `claim`
    file, held until the compile ends (an fd, or None when a sibling holds it).
    Not the kernel's own lock, which the compile takes: a sibling that has not
    reached its compile yet (importing numba) must already see the job taken."""
    if fcntl is None:
        return -1
    try:
        fd = os.open(os.path.join(os.path.dirname(job["path"]), "claim"),
                     os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _release(fd):
    if fd is not None and fd >= 0:
        os.close(fd)  # closing the only descriptor releases the flock


def _compile(job):
    with open(job["path"], encoding="utf-8") as f:
        text = f.read()
    k = store.get(text)
    if k.key != job["key"]:  # the library changed since the parent started
        raise _Stale
    sig = tuple(types.Array(numba.from_dtype(np.dtype(dt)), nd, layout, readonly=readonly)
                for dt, nd, layout, readonly in job["sig"])
    k.compile(sig)


class _Stale(Exception):
    """The job's kernel has another key in this process: not compiled here (the
    parent compiles it itself if it needs it), and not a failure."""


def _report(key, status):
    try:
        sys.stdout.write(f"{key} {status}\n")
        sys.stdout.flush()
    except (OSError, ValueError):  # the parent is gone: nobody to tell
        pass


def _lower_priority():
    """Run at the niceness the parent asked for ($THEANINE_NUMBA_WORKER_NICE,
    background.request_all), so that its own work keeps its core."""
    try:
        nice = int(os.environ.get("THEANINE_NUMBA_WORKER_NICE", "0"))
        if nice > 0:
            os.nice(nice)
    except (ValueError, OSError):
        pass


def main():
    _lower_priority()
    inbox = queue.Queue()
    threading.Thread(target=_read_jobs, args=(inbox,), daemon=True).start()
    pending, done = {}, set()
    detached = False
    failed = 0
    while True:
        try:
            batch = inbox.get(timeout=0 if pending else IDLE_SECONDS)
        except queue.Empty:
            if pending:
                batch = []
            else:
                return 1 if failed else 0  # idle: exit (the parent starts another)
        if batch is None:
            detached = True
            batch = []
        for job in batch:
            if job["key"] not in done:
                pending[job["key"]] = job
        if not pending:
            if detached:
                return 1 if failed else 0
            continue
        # the largest job no sibling has claimed, else the largest (its compile waits
        # on the kernel's lock, then loads what the sibling wrote)
        order = sorted(pending.values(), key=lambda j: -j.get("size", 0))
        job, claim = order[0], None
        for j in order:
            claim = _claim(j)
            if claim is not None:
                job = j
                break
        del pending[job["key"]]
        done.add(job["key"])
        try:
            _compile(job)
        except _Stale:
            _report(job["key"], "stale")
        except Exception:  # noqa: BLE001 - the main process falls back or compiles itself
            failed += 1
            _report(job["key"], "failed")
        else:
            _report(job["key"], "ok")
        finally:
            _release(claim)


def _stop_after(seconds):
    """Exit the process `seconds` from now (detached: the parent is gone)."""
    t = threading.Timer(seconds, os._exit, args=(3,))
    t.daemon = True
    t.start()


if __name__ == "__main__":
    sys.exit(main())
