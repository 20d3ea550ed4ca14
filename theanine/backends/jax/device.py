"""Values on the device: shared variables between calls, 64-bit types, the GPU.

Shared variables live on the device. ``DeviceIO`` is how a compiled Function
moves them (see compile/calling.py): ``read`` puts a container's host value on
the device once and keeps it there (the container then holds the device array,
with a way back to NumPy for ``get_value``); ``write`` stores an update's device
array; ``to_host`` converts an output to NumPy. A random generator's state
(numpy RandomState or Generator) becomes a JAX key on the device, derived from
the generator deterministically, and comes back as a RandomState seeded from
the key.

float64: theanine's dtypes are the graph's, and JAX computes in 32 bits unless
x64 is enabled. Every trace, device transfer and call of this backend runs inside
``jax.enable_x64(True)`` (a thread-local context, about 1 us per call), so the user's
JAX configuration outside theanine is not changed; the one exception is the call of
a compiled executable whose inputs are all 32-bit or narrower (entry.py), whose
types were fixed under x64 when it was compiled.
"""

from __future__ import annotations

import functools
import re
import warnings

import jax
import numpy as np

from theanine.config import config
from theanine.tensor.random import RandomStateType, copy_generator, unwrap_generator

try:
    x64 = jax.enable_x64  # a thread-local context manager (recent JAX)
except AttributeError:  # older JAX: the same context manager under experimental
    from jax.experimental import enable_x64 as x64

_warned = []


def key_from_generator(rng):
    """The jax backend's generator state (uint32[4]: a threefry key and a 64-bit counter,
    random.py) determined by a NumPy generator's state; the generator is not advanced.
    The inverse of ``generator_from_key`` on its results, so a state that went to the
    host (get_value, pickling) comes back unchanged."""
    g = unwrap_generator(rng)
    words = _words_of(g)
    if words is not None:
        return words
    g = copy_generator(g)
    if isinstance(g, np.random.Generator):
        words = g.integers(0, 2**32, size=2, dtype=np.uint32)
    else:
        words = g.randint(0, 2**32, size=2, dtype=np.uint32)
    return np.concatenate([np.asarray(words, dtype=np.uint32), np.zeros(2, np.uint32)])


def generator_from_key(key):
    """A numpy RandomState standing for a jax generator state (4 words): the MT19937
    state of RandomState(the key's 2 words) with its first 4 words replaced by the
    state's (a valid state; drawing from it on another backend gives numbers determined
    by the jax state)."""
    words = np.asarray(key, dtype=np.uint32).reshape(4)
    state = _seeded_state(words[:2])
    state[:4] = words
    rs = np.random.RandomState()
    rs.set_state(("MT19937", state, 624, 0, 0.0))
    return rs


def _seeded_state(words):
    return np.random.RandomState(words).get_state()[1].copy()


def _words_of(g):
    """The jax state words of a generator made by generator_from_key and not drawn from
    since."""
    if type(g) is not np.random.RandomState:
        return None
    name, state, pos = g.get_state()[:3]
    if name != "MT19937" or pos != 624:
        return None
    words = np.asarray(state[:4], dtype=np.uint32)
    return words if np.array_equal(state[4:], _seeded_state(words[:2])[4:]) else None


_HOST = (np.ndarray, np.generic)  # a tuple: isinstance is quicker than with a union


def _array_to_host(v):
    return np.asarray(v)


@functools.cache
def _array_class():
    return type(jax.numpy.zeros((), "float32"))


class DeviceIO:
    """The protocol between a compiled Function's containers and this backend.

    ``inline``: the generated caller (compile/calling.py) may do the common case of
    ``read`` and ``write`` itself: a value on the device is read as
    ``container.raw``, and an update that is a device array (``array_class``) of a
    tensor is stored with ``container.store_device(value, to_host_array)``."""

    inline = True
    to_host_array = staticmethod(_array_to_host)

    def __init__(self, device=None):
        self.device = device

    @property
    def array_class(self):
        """The class of the arrays a jitted function returns."""
        return _array_class()

    def put(self, value):
        with x64(True):
            return jax.device_put(value, self.device)

    def read(self, container, slot=None):
        """The container's value on the device (moved there on first use); `slot`: its
        position among the function's shared variables."""
        if container.on_device:
            return container.raw
        value = container.raw
        if isinstance(container.type, RandomStateType):
            dev = self.put(key_from_generator(value))
            container.store_device(dev, generator_from_key, host=value)
        else:
            dev = self.put(value)
            container.store_device(dev, _array_to_host, host=value)
        return dev

    def write(self, container, value):
        if value is container.raw:
            return  # an identity update: the value, and its host copy, are unchanged
        if isinstance(value, _HOST):
            # a host value (an input passed through as an update, w <- x): copied, since
            # JAX may keep an aligned NumPy array without copying it, and the caller's
            # array, changed later, would change the shared value
            value = self.put(np.array(value, copy=True))
        if isinstance(container.type, RandomStateType):
            container.store_device(value, generator_from_key)
        else:
            container.store_device(value, _array_to_host)

    def restore(self, exc, containers, n_inputs):
        """After a failed call: write back the shared values whose memory the call
        consumed (``exc.restored``: {input position: the unchanged value})."""
        for pos, value in getattr(exc, "restored", {}).items():
            containers[pos - n_inputs].rebuffer(value)

    @staticmethod
    def to_host(value):
        return value if isinstance(value, np.ndarray) else np.asarray(value)

    # An output that is not a NumPy array (a device array, a NumPy scalar) as a NumPy
    # array the caller owns: one copy into a fresh writable array (a device array's
    # host view is read-only). The generated call (compile/calling.py) passes NumPy
    # arrays (host values) as they are, so its checks see whether they are an input
    # or a constant.
    owned = staticmethod(np.array)


def default_device():
    """The device config.device names: 'cuda', 'gpu', 'cudaN', 'gpuN' select a GPU
    (the first, or number N); anything else JAX's default. Without a GPU, one warning
    says so and JAX's default (the CPU) is used."""
    m = re.fullmatch(r"(cuda|gpu)(\d*)", str(config.device).strip().lower())
    if m is None:
        return None
    index = int(m.group(2) or 0)
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if index < len(gpus):
        return gpus[index]
    if not _warned:
        _warned.append(True)
        seen = ", ".join(sorted({d.platform for d in jax.devices()}))
        warnings.warn(f"theanine: device={config.device} asks for a GPU, but JAX sees none "
                      f"(JAX platforms: {seen}); the jax backend runs on the CPU. Install "
                      "JAX with GPU support (pip install 'jax[cuda12]') to use the GPU.",
                      stacklevel=3)
    return None
