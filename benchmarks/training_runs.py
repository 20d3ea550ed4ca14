"""Training runs from a cold start, for scan_bench.py case 6: what a user waits for.

Each model trains for N steps in a fresh process, timed from the first line of the
script (process start, after the interpreter) to the last step; the script prints one
JSON line with the times at each checkpoint step and, for theanine, when every kernel
that runs was compiled code ("full_speed"). One script per system and model:

- ``lstm_lm``: the case-4 model (2-layer LSTM language model, B=16, T=50, H=128,
  vocabulary 1000), mean cross-entropy, SGD on all 9 parameters;
- ``rnn256``: the case-3 RNN (B=32, T=100, D=64, H=256), cost sum(h_T ** 2),
  SGD on W, U, b;
- ``char_lstm``: the char-LSTM demo's model (examples/char_lm.py: LSTM 128, 32
  streams of 64 characters, Adam, gradient clipping, state carried between
  batches), on its bundled text.

theanine runs its default mode (FAST_RUN: kernels compiled in the background; until
then a function whose kernels take long to compile runs on JAX when it is installed,
compile/interim.py, else on NumPy; THEANINE_FLAGS=numba_interim=numpy for the latter);
JAX runs ``jax.jit`` of the whole step. One BLAS / XLA thread.
"""

from __future__ import annotations

import os
import textwrap
import time

from benchmarks import lstm_lm

CHECKPOINTS = (1, 10, 100, 1000)

COMMON = textwrap.dedent("""
    import json, os, sys, time
    t0 = time.perf_counter()
    STEPS = int(sys.argv[1])
    marks = {}
    def mark(step):
        if step in (1, 10, 100, 1000) or step == STEPS:
            marks[str(step)] = round(time.perf_counter() - t0, 3)
""")

THEANINE_LSTM_LM = COMMON + textwrap.dedent("""
    import numpy as np
    import theanine as theano, theanine.tensor as T
""") + lstm_lm.THEANINE + textwrap.dedent("""
    train = theano.function([tok, tgt], cost,
                            updates=[(q, q - np.float32(0.1) * g) for q, g in zip(params, grads)])
    data = rng.integers(0, V, size=(TT + 1, B)).astype("int32")
    args = (data[:-1], data[1:])
""")

THEANINE_RNN256 = COMMON + textwrap.dedent("""
    import numpy as np
    import theanine as theano, theanine.tensor as T
    B, TT, D, H = 32, 100, 64, 256
    rng = np.random.default_rng(0)
    W = theano.shared((rng.normal(size=(D, H)) / np.sqrt(D)).astype("float32"))
    U = theano.shared((rng.normal(size=(H, H)) / np.sqrt(H)).astype("float32"))
    b = theano.shared(np.zeros(H, "float32"))
    X, h0 = T.ftensor3("X"), T.fmatrix("h0")
    hs, _ = theano.scan(lambda xt, h: T.tanh(T.dot(xt, W) + T.dot(h, U) + b), sequences=X,
                        outputs_info=h0)
    cost = (hs[-1] ** 2).sum()
    grads = theano.grad(cost, [W, U, b])
    train = theano.function([X, h0], cost, updates=[(q, q - np.float32(1e-4) * g)
                                                    for q, g in zip([W, U, b], grads)])
    args = (rng.normal(size=(TT, B, D)).astype("float32"), np.zeros((B, H), "float32"))
""")

THEANINE_CHAR_LSTM = COMMON + textwrap.dedent("""
    sys.path.insert(0, os.path.join(os.environ["ROOT"], "examples"))
    import numpy as np
    import char_lm
    import theanine as theano
    corpus = char_lm.Corpus(char_lm.DATA.read_text(encoding="utf-8"))
    with theano.config.change_flags(floatX="float32"):  # as the demo trains
        model = char_lm.CharModel("lstm", corpus.vocab_size, 128, 32, seed=0)
        train = model.compile_train(3e-3, 5.0, -1)
    data = char_lm.batches(corpus.streams(corpus.train, 32), 64)
    first = next(data)
    args = first[:2]
""")

THEANINE_LOOP = textwrap.dedent("""
    from theanine.backends.numba import background
    fn = getattr(train, "fn", None)
    # "every kernel that runs is compiled": full_speed() where the checkout has it,
    # else (older code) every kernel compiled, ready()
    done = getattr(fn, "full_speed", None) or getattr(fn, "ready", None)
    full = None
    ends = []
    for step in range(1, STEPS + 1):
        train(*args)
        mark(step)
        ends.append(time.perf_counter() - t0)
        if full is None and done is not None and done():
            full = round(ends[-1], 3)
    t = time.perf_counter(); train(*args); last = time.perf_counter() - t
    print(json.dumps({"marks": marks, "full_speed": full, "step_s": last,
                      "steady": steady(ends)}), flush=True)
    background.wait(600)  # (not timed) the next run starts from a complete cache
""")

# From which moment (seconds from process start) the steps run at their final speed,
# whatever the code reports: the end of the last 10-step window whose median step
# time is above 1.5x the median of the last 100 steps (0 if none). Judged by the
# clock alone, so it compares checkouts that report compiled kernels differently.
STEADY = textwrap.dedent("""
    def steady(ends):
        d = [b - a for a, b in zip([0.0] + ends[:-1], ends)]
        if len(d) < 120:
            return None
        base = sorted(d[-100:])[50]
        at = 0.0
        for k in range(0, len(d) - 100, 10):
            w = sorted(d[k:k + 10])
            if w[5] > 1.5 * base:
                at = ends[min(k + 9, len(ends) - 1)]
        return round(at, 3)
""")

JAX_LSTM_LM = COMMON + textwrap.dedent("""
    import numpy as np
    import jax, jax.numpy as jnp
""") + lstm_lm.JAX + textwrap.dedent("""
    @jax.jit
    def train(params, tok, tgt):
        v, g = jax.value_and_grad(loss)(params, tok, tgt)
        return v, jax.tree_util.tree_map(lambda q, d: q - 0.1 * d, params, g)
    data = rng.integers(0, V, size=(TT + 1, B)).astype("int32")
    args = (jnp.asarray(data[:-1]), jnp.asarray(data[1:]))
""")

JAX_RNN256 = COMMON + textwrap.dedent("""
    import numpy as np
    import jax, jax.numpy as jnp
    B, TT, D, H = 32, 100, 64, 256
    rng = np.random.default_rng(0)
    params = [jnp.asarray((rng.normal(size=(D, H)) / np.sqrt(D)).astype("float32")),
              jnp.asarray((rng.normal(size=(H, H)) / np.sqrt(H)).astype("float32")),
              jnp.zeros(H, jnp.float32)]
    def loss(params, X, h0):
        W, U, b = params
        def step(h, xt):
            return jnp.tanh(xt @ W + h @ U + b), None
        return jnp.sum(jax.lax.scan(step, h0, X)[0] ** 2)
    @jax.jit
    def train(params, X, h0):
        v, g = jax.value_and_grad(loss)(params, X, h0)
        return v, [q - 1e-4 * d for q, d in zip(params, g)]
    args = (jnp.asarray(rng.normal(size=(TT, B, D)).astype("float32")),
            jnp.zeros((B, H), jnp.float32))
""")

JAX_CHAR_LSTM = COMMON + textwrap.dedent("""
    sys.path.insert(0, os.path.join(os.environ["ROOT"], "examples"))
    import numpy as np
    import jax, jax.numpy as jnp
    import char_lm
    corpus = char_lm.Corpus(char_lm.DATA.read_text(encoding="utf-8"))
    Vc, H, Bc, L = corpus.vocab_size, 128, 32, 64
    rng = np.random.default_rng(0)
    def glorot(shape):
        bound = np.sqrt(6.0 / (shape[0] + shape[-1]))
        return jnp.asarray(rng.uniform(-bound, bound, size=shape).astype("float32"))
    U = np.concatenate([np.linalg.qr(rng.standard_normal((H, H)))[0] for _ in range(4)], 1)
    bias = np.zeros(4 * H, "float32"); bias[H:2 * H] = 1.0
    params = {"W": glorot((Vc, 4 * H)), "U": jnp.asarray(U.astype("float32")),
              "b": jnp.asarray(bias), "Wo": glorot((H, Vc)), "bo": jnp.zeros(Vc, jnp.float32)}
    def loss(params, x, y, h, c):
        xp = params["W"][x] + params["b"]
        def step(carry, xt):
            h, c = carry
            z = xt + h @ params["U"]
            ifo = jax.nn.sigmoid(z[:, :3 * H])
            c = ifo[:, H:2 * H] * c + ifo[:, :H] * jnp.tanh(z[:, 3 * H:])
            h = ifo[:, 2 * H:] * jnp.tanh(c)
            return (h, c), h
        (hT, cT), hs = jax.lax.scan(step, (h, c), xp)
        logits = hs.reshape(-1, H) @ params["Wo"] + params["bo"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y.reshape(-1, 1), axis=1)), (hT, cT)
    def adam(params, grads, m, v, t, lr=3e-3, b1=0.9, b2=0.999, eps=1e-8):
        t = t + 1.0
        step = lr * jnp.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
        params = jax.tree_util.tree_map(lambda q, a, b: q - step * a / (jnp.sqrt(b) + eps),
                                        params, m, v)
        return params, m, v, t
    @jax.jit
    def train(state, x, y):
        params, m, v, t, h, c = state
        (cost, (h, c)), g = jax.value_and_grad(loss, has_aux=True)(params, x, y, h, c)
        norm = jnp.sqrt(sum(jnp.sum(d ** 2) for d in jax.tree_util.tree_leaves(g)))
        scale = jnp.minimum(1.0, 5.0 / (norm + 1e-8))
        g = jax.tree_util.tree_map(lambda d: d * scale, g)
        params, m, v, t = adam(params, g, m, v, t)
        return cost, (params, m, v, t, h, c)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    h0 = jnp.zeros((Bc, H), jnp.float32)
    params = (params, zeros, zeros, jnp.float32(0.0), h0, h0)
    data = char_lm.batches(corpus.streams(corpus.train, Bc), L)
    first = next(data)
    args = (jnp.asarray(first[0]), jnp.asarray(first[1]))
""")

JAX_LOOP = textwrap.dedent("""
    state = params
    for step in range(1, STEPS + 1):
        cost, state = train(state, *args)
        jax.block_until_ready(state)
        mark(step)
    t = time.perf_counter()
    jax.block_until_ready(train(state, *args))
    last = time.perf_counter() - t
    print(json.dumps({"marks": marks, "step_s": last}), flush=True)
""")

SCRIPTS = {
    "lstm_lm": (THEANINE_LSTM_LM + STEADY + THEANINE_LOOP, JAX_LSTM_LM + JAX_LOOP),
    "rnn256": (THEANINE_RNN256 + STEADY + THEANINE_LOOP, JAX_RNN256 + JAX_LOOP),
    "char_lstm": (THEANINE_CHAR_LSTM + STEADY + THEANINE_LOOP, JAX_CHAR_LSTM + JAX_LOOP),
}

TITLES = {
    "lstm_lm": "2-layer LSTM LM (case 4 model), SGD",
    "rnn256": "RNN H=256 (case 3 model), SGD",
    "char_lstm": "char-LSTM demo (examples/char_lm.py), Adam",
}


def wait_detached(cache_dir, timeout=300):
    """Wait until no process works for `cache_dir` (detached compile workers)."""
    tag = f"THEANINE_CACHE_DIR={cache_dir}".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    busy = tag in fh.read().split(b"\0")
            except (OSError, ValueError):
                continue
            if busy:
                break
        if not busy:
            return
        time.sleep(0.5)
