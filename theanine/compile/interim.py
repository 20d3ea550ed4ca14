"""A cold numba function on JAX while numba's kernels are not compiled (issue 14).

Under the numba backend's default policy ('auto') a kernel missing from the disk
cache runs its NumPy implementation until numba has compiled it in background
processes: seconds for a small loop, but ~10 s of CPU for an LSTM language model
with its gradient, during which a training step runs at NumPy's speed (3x slower)
and the compile takes the cores the training needs. XLA compiles such a function
whole in ~1.5 s and runs it at about numba's speed. So where JAX is installed
(``pip install theanine[jax]``), a function whose missing kernels are expected
(``compile_estimate``) to take longer than INTERIM_SECONDS to compile runs on the
jax backend, on the CPU: its first call runs on NumPy (asking numba for nothing);
then a thread imports JAX, links the function and compiles it for the first call's
values (by running it on them); the second call waits for the thread (at most
JAX_WAIT), and every call from it on runs on JAX, while numba compiles the kernels:

- when the process exits (detached workers, for at most their lifetime bound:
  backends/numba/worker.py), so that the next run of the script loads them from
  the disk cache in under a second and never starts JAX; or
- once the function has spent PREFETCH_SECONDS in its JAX calls (a long run: the
  compile then costs a small part of it), in background processes at low priority;
  when they are done the function switches to numba's kernels for good.

Values: the jax backend is tested against py like numba is; the two differ by
floating-point rounding only (XLA fuses and reorders differently), as numba's
NumPy and compiled tiers do.

Why in this order: JAX's import and the link hold Python's lock, so the first
call run beside them took twice its time and delayed them as much; and a NumPy
call beside XLA's compile slowed the compile (NumPy's BLAS takes both cores) by
more than its progress was worth (a step on XLA is 3-8x faster). Run one after the
other, the first result comes as fast as NumPy gives it and XLA runs as early as
when the first call waited for it (benchmarks/RESULTS.md, "Stop 23": cold LSTM LM,
first result 0.44 s from the graph's construction against 1.57 s with the first call
beside the import, 2.1 s waiting for XLA; 100 training steps 0.83-0.93x
hand-written JAX's time on the LSTM LM and the char-LSTM demo, against 0.97-1.18x
before).

Not used (the NumPy tier as before) when ``config.numba_interim`` is 'numpy'
(``THEANO_FLAGS=numba_interim=numpy``), JAX is not installed, the numba policy is
not 'auto', the function is profiled, monitored or sharded, or its graph holds
something that would not run alike on JAX (python_ops.host_only: a user's Python
op or Print, which must run exactly where and as often as the graph says, or a
RandomStreams draw, whose generator differs there; ``runs_alike``: an op with no
lowering). A call that fails on JAX runs again
on numba, which gives the error (or the result) and runs every later call: JAX
donates nothing here and the call wrote nothing, so running it again is safe.

Invariant: the callable takes and returns what the numba function does (host
values, NumPy arrays), so the Function's call path does not change at the switch.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
import time
import warnings
import weakref

import numpy as np

from theanine import backends
from theanine.config import config
from theanine.tensor.python_ops import host_only

INTERIM_SECONDS = 3.0  # expected numba compile work above which JAX runs meanwhile
JAX_WAIT = 30.0  # the most the second call waits for the thread (then numba runs it)
PREFETCH_SECONDS = 60.0  # JAX call time after which numba compiles in this process
WORKER_NICE = 19  # the compile workers yield the cores to the JAX calls

_live = weakref.WeakSet()  # Interims whose kernels are not requested yet


def wrap(fn, fgraph, options):
    """`fn` (the numba backend's function of `fgraph`, linked with `options`) or an
    Interim that runs it on JAX until numba has compiled it (see module doc)."""
    if (config.numba_interim != "jax" or options.get("profile") is not None
            or options.get("monitor") is not None or options.get("shard")
            or getattr(fn, "policy", None) != "auto"
            or importlib.util.find_spec("jax") is None):
        return fn
    if (host_only(fgraph) is not None
            or fn.cold_estimate(at_least=INTERIM_SECONDS) <= INTERIM_SECONDS):
        return fn
    return Interim(fn, fgraph)


class Interim:
    """fn(*inputs, *shared values) -> outputs + updates: the first call on NumPy
    (numba's NumPy tier, asking for no compile), then on JAX until numba's kernels
    are compiled, then on numba (``numba_fn``). ``kernels``,
    ``ready``, ``compile_now`` are numba's (compile_now also switches to numba now)."""

    def __init__(self, numba_fn, fgraph):
        self.numba_fn, self.fgraph = numba_fn, fgraph
        self.kernels = numba_fn.kernels
        self.jax_fn = None
        self.jax_seconds = 0.0  # time spent in calls run on JAX
        self.requested = False
        self._args = None  # the first call's values, for the thread's compile
        self._called = threading.Event()  # the first call is done: the thread starts
        self._prepared = threading.Event()
        numba_fn.hold(True)
        self._run = self._first
        threading.Thread(target=_prepare, args=(weakref.ref(self), self._called),
                         daemon=True).start()

    def __call__(self, *args):
        return self._run(*args)

    @property
    def on_jax(self):
        return self._run == self._on_jax

    def _first(self, *args):
        """Run the call on NumPy, then let the thread import JAX and compile the
        function for this call's values (their types and shapes). A call that
        raises leaves the next one first."""
        values = [np.array(a) if isinstance(a, np.ndarray) else a for a in args]
        outs = self.numba_fn(*args)
        self._args, self._run = values, self._second
        self._called.set()
        return outs

    def _second(self, *args):
        """Wait for the thread (at most JAX_WAIT), then run on JAX, or on numba if
        JAX cannot run this graph or is not ready."""
        if self._prepared.wait(JAX_WAIT) and self.jax_fn is not None:
            self._run = self._on_jax
            _live.add(self)
            return self._on_jax(*args)
        self._use_numba()
        return self.numba_fn(*args)

    def prepared(self, timeout=None):
        """Wait (at most `timeout` s) for the thread preparing JAX; whether JAX runs the
        calls from the next one on (for tests and benchmarks)."""
        return self._prepared.wait(timeout) and self.jax_fn is not None

    def _on_jax(self, *args):
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():  # the jax backend's notes (a node planned
                warnings.simplefilter("ignore")  # on the host) are not this user's
                outs = self.jax_fn(*args)
        except Exception:  # noqa: BLE001 - numba runs it and gives its own error
            self._use_numba()
            return self.numba_fn(*args)
        outs = tuple(o if isinstance(o, np.ndarray) else np.array(o) for o in outs)
        self.jax_seconds += time.perf_counter() - t0
        if not self.requested:
            if self.jax_seconds > PREFETCH_SECONDS:
                self.request()
        elif self.numba_fn.fetched():
            self.compile_now()  # loads what the workers wrote; later calls run numba
        return outs

    def _use_numba(self):
        """numba runs every later call, with its own tiers."""
        self._run = self.numba_fn
        self.numba_fn.hold(False)
        _live.discard(self)

    def request(self, detached=False):
        """Compile numba's missing kernels in background processes (`detached`: ones
        that outlive this process, which does not wait for them)."""
        self.requested = True
        _live.discard(self)
        self.numba_fn.prefetch(nice=WORKER_NICE, detached=detached)

    def compile_now(self):
        """Compile (or load) numba's kernels now; later calls run on numba."""
        self._use_numba()
        return self.numba_fn.compile_now()

    def ready(self):
        return self.numba_fn.ready()

    def full_speed(self):
        """Every call runs compiled code: JAX's, or numba's kernels that run."""
        return self.on_jax or self.numba_fn.full_speed()

    def locate(self, exc):
        return self.numba_fn.locate(exc)


def _prepare(ref, called):
    """(thread) Once the first call of Interim `ref()` is done: import JAX, link its
    jax function and compile it by running it on that call's values (the result is
    dropped: JAX donates nothing here, nothing is written). Its ``jax_fn`` stays None
    if the graph would not run alike on JAX or JAX fails on it. Holds no reference to
    the Interim while waiting: a function never called is freed, and this thread
    ends."""
    while not called.wait(1.0):
        if ref() is None:
            return
    f = ref()
    if f is None:
        return
    try:
        jax = backends.load("jax")
        if jax.runs_alike(f.fgraph) is None:
            fn = jax.link(f.fgraph, device="cpu")
            fn(*f._args)
            f.jax_fn = fn
    except Exception:  # noqa: BLE001 - JAX is an optimisation here; numba runs it
        pass
    finally:
        f._args = None
        f._prepared.set()


@atexit.register
def _at_exit():
    """The kernels of functions that ran on JAX and were not compiled yet: compiled
    by detached workers, for the next process."""
    for f in list(_live):
        try:
            f.request(detached=True)
        except Exception:  # noqa: BLE001 - never fail the user's exit
            pass
