"""The 2-layer LSTM language model of scan_bench.py case 4 and training_runs.py, as source.

One text per library, pasted into the scripts that run in fresh processes (cold-start
timings): the theanine one ends with `cost`, `params` and `grads`; the JAX one with
`params` and `loss(params, tok, tgt)`. Both use `np` and `rng` = default_rng(0), so the
two draw the same weights.
"""

THEANINE = """\
B, TT, H, V = 16, 50, 128, 1000
rng = np.random.default_rng(0)
def p(*s):
    return theano.shared((rng.normal(size=s) * 0.1).astype("float32"))
emb = p(V, H)
layers = [(p(H, 4 * H), p(H, 4 * H), p(4 * H)) for _ in range(2)]
Wo, bo = p(H, V), p(V)
tok = T.imatrix("tok"); tgt = T.imatrix("tgt")
x = emb[tok]  # (TT, B, H)
def lstm(xs, W, U, b):
    def step(xt, h, c):
        z = T.dot(xt, W) + T.dot(h, U) + b
        i, f, o = (T.nnet.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
        g = T.tanh(z[:, 3 * H:])
        c = f * c + i * g
        return o * T.tanh(c), c
    h0 = T.zeros((xs.shape[1], H), dtype="float32")
    (hs, _), _ = theano.scan(step, sequences=xs, outputs_info=[h0, h0])
    return hs
for W, U, b in layers:
    x = lstm(x, W, U, b)
logits = T.dot(x.reshape((TT * B, H)), Wo) + bo
cost = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), tgt.flatten()).mean()
params = [emb, Wo, bo] + [v for l in layers for v in l]
grads = theano.grad(cost, params)
"""

JAX = """\
B, TT, H, V = 16, 50, 128, 1000
rng = np.random.default_rng(0)
def p(*s):
    return jnp.asarray((rng.normal(size=s) * 0.1).astype("float32"))
params = {"emb": p(V, H), "Wo": p(H, V), "bo": p(V),
          "layers": [(p(H, 4 * H), p(H, 4 * H), p(4 * H)) for _ in range(2)]}
def lstm(xs, W, U, b):
    def step(carry, xt):
        h, c = carry
        z = xt @ W + h @ U + b
        i, f, o = (jax.nn.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
        g = jnp.tanh(z[:, 3 * H:])
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (h, c), h
    h0 = jnp.zeros((xs.shape[1], H), jnp.float32)
    return jax.lax.scan(step, (h0, h0), xs)[1]
def loss(params, tok, tgt):
    x = params["emb"][tok]
    for W, U, b in params["layers"]:
        x = lstm(x, W, U, b)
    logits = x.reshape(TT * B, H) @ params["Wo"] + params["bo"]
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, tgt.reshape(-1, 1), axis=1))
"""
