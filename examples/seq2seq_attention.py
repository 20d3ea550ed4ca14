"""An encoder-decoder with attention that learns to reverse sequences of digits.

    python examples/seq2seq_attention.py                  # about half a minute
    python examples/seq2seq_attention.py --quick          # a few seconds, for CI
    python examples/seq2seq_attention.py --plot attn.png  # losses and an attention map

The toy task of chapters 8 and 9 of Deep Learning with Theano, on generated data:
the input is a random string of digits, the output the same string reversed. The
encoder is a bidirectional GRU (two scans, one with ``go_backwards=True``); the
decoder is a GRU in a scan that, at every step, attends over all encoder states
(additive attention: a softmax over source positions) and reads their weighted
mean. Training feeds the true previous digit (teacher forcing); decoding is a
second scan that feeds back its own greedy choice. A model that has learnt the task
attends to the mirror position: the attention map is an anti-diagonal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the examples' shared helpers
import common  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402

N_DIGITS = 10
BOS = N_DIGITS          # the decoder's first input
VOCAB = N_DIGITS + 1


def make_batch(rng, batch_size, length):
    """Random digit strings (time, batch) and their reversals."""
    src = rng.integers(0, N_DIGITS, (length, batch_size))
    return src, src[::-1].copy()


class Seq2Seq:
    def __init__(self, n_embed, n_hidden, n_attn, seed=0):
        rng = np.random.default_rng(seed)
        H = n_hidden
        self.src_embed = theano.shared(common.floatx(0.3 * rng.standard_normal((VOCAB, n_embed))),
                                       name="src_embed")
        self.tgt_embed = theano.shared(common.floatx(0.3 * rng.standard_normal((VOCAB, n_embed))),
                                       name="tgt_embed")
        self.enc_fwd = common.Recurrent("gru", n_embed, H, rng, name="enc_fwd")
        self.enc_bwd = common.Recurrent("gru", n_embed, H, rng, name="enc_bwd")
        self.dec = common.Recurrent("gru", n_embed + 2 * H, H, rng, name="dec")
        self.W_init = common.glorot(rng, (2 * H, H), "W_init")
        self.U_att = common.glorot(rng, (2 * H, n_attn), "U_att")   # encoder states
        self.W_att = common.glorot(rng, (H, n_attn), "W_att")       # decoder state
        self.v_att = common.glorot(rng, (n_attn, 1), "v_att")
        self.W_out = common.glorot(rng, (H + 2 * H, VOCAB), "W_out")
        self.b_out = common.zeros((VOCAB,), "b_out")
        self.params = ([self.src_embed, self.tgt_embed] + self.enc_fwd.params +
                       self.enc_bwd.params + self.dec.params +
                       [self.W_init, self.U_att, self.W_att, self.v_att, self.W_out, self.b_out])

    def encode(self, src):
        """src (L, batch) ids -> encoder states (L, batch, 2H), their projection, s0."""
        x = self.src_embed[src]
        fwd, _ = self.enc_fwd(x)
        bwd, _ = self.enc_bwd(x, go_backwards=True)  # bwd[t] has read src[L-1-t:]
        enc = T.concatenate([fwd, bwd[::-1]], axis=2)
        s0 = T.tanh(T.dot(T.mean(enc, axis=0), self.W_init))
        return enc, T.dot(enc, self.U_att), s0

    def decoder_step(self, y_emb, s_prev, enc, enc_proj):
        """Attend, update the state; returns (new state, logits (batch, V), weights (L, batch))."""
        scores = T.dot(T.tanh(enc_proj + T.dot(s_prev, self.W_att)), self.v_att)[:, :, 0]
        alpha = T.nnet.softmax(scores, axis=0)               # over source positions
        context = T.sum(alpha.dimshuffle(0, 1, "x") * enc, axis=0)
        inp = T.concatenate([y_emb, context], axis=1)
        (s,) = self.dec.step(self.dec.project(inp), s_prev)
        logits = T.dot(T.concatenate([s, context], axis=1), self.W_out) + self.b_out
        return s, logits, alpha

    def compile(self, lr, clip):
        src, tgt = T.lmatrix("src"), T.lmatrix("tgt")
        enc, enc_proj, s0 = self.encode(src)
        # teacher forcing: the decoder reads BOS, then the true previous digits
        prev = T.concatenate([T.zeros_like(tgt[:1]) + BOS, tgt[:-1]], axis=0)

        def step(y_emb, s_prev, enc, enc_proj):
            return self.decoder_step(y_emb, s_prev, enc, enc_proj)

        (_, logits, _), _ = theano.scan(step, sequences=[self.tgt_embed[prev]],
                                        outputs_info=[s0, None, None],
                                        non_sequences=[enc, enc_proj], name="decoder")
        probs = T.nnet.softmax(logits.reshape((-1, VOCAB)))
        cost = T.mean(T.nnet.categorical_crossentropy(probs, tgt.flatten()))
        grads, _ = common.clip_by_global_norm(T.grad(cost, self.params), clip)
        train = theano.function([src, tgt], cost, updates=common.adam(self.params, grads, lr),
                                name="train")

        def greedy(s_prev, y_prev, enc, enc_proj):
            s, logits, alpha = self.decoder_step(self.tgt_embed[y_prev], s_prev, enc, enc_proj)
            return s, T.argmax(logits, axis=1), alpha

        y0 = T.zeros_like(src[0]) + BOS
        (_, out, alphas), _ = theano.scan(greedy, outputs_info=[s0, y0, None],
                                          non_sequences=[enc, enc_proj], n_steps=src.shape[0],
                                          name="greedy_decoder")
        decode = theano.function([src], [out, alphas], name="decode")
        return train, decode


def accuracy(decode, src, tgt):
    out, alphas = decode(src)
    return float(np.mean(out == tgt)), float(np.mean(np.all(out == tgt, axis=0))), alphas


def train(steps=400, length=8, n_embed=16, n_hidden=48, n_attn=32, batch_size=32, lr=5e-3,
          clip=5.0, seed=0, progress=True, floatX="float32"):
    with theano.config.change_flags(floatX=floatX):
        clock = common.Timer()
        model = Seq2Seq(n_embed, n_hidden, n_attn, seed)
        train_step, decode = model.compile(lr, clip)
        rng = np.random.default_rng(seed + 1)
        test_src, test_tgt = make_batch(np.random.default_rng(seed + 2), 500, length)
        losses = []
        with common.single_threaded_blas():
            initial_tok, _, _ = accuracy(decode, test_src, test_tgt)
            with common.progress(steps, "seq2seq + attention", progress) as bar:
                for step in range(steps):
                    losses.append(float(train_step(*make_batch(rng, batch_size, length))))
                    bar.update(1)
                    if (step + 1) % 10 == 0:
                        bar.set_postfix(loss=f"{np.mean(losses[-10:]):.4f}", refresh=False)
            tok, seq, alphas = accuracy(decode, test_src, test_tgt)
        return {
            "losses": losses, "initial_loss": losses[0], "final_loss": float(np.mean(losses[-20:])),
            "initial_token_accuracy": initial_tok, "token_accuracy": tok,
            "sequence_accuracy": seq, "example": (test_src[:, 0], decode(test_src[:, :1])[0][:, 0]),
            "attention": alphas[:, :, 0], "seconds": clock(),
        }


def plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(res["losses"], lw=0.6, label="minibatch")
    a1.plot(common.smooth(res["losses"]), lw=1.2, label="running mean")
    a1.set_yscale("log")
    a1.set_xlabel("training step")
    a1.set_ylabel("cross-entropy per digit")
    a1.legend(fontsize=8)
    a2.imshow(res["attention"], cmap="viridis")
    a2.set_xlabel("source position")
    a2.set_ylabel("output step")
    a2.set_title("attention weights (one test sequence)", fontsize=9)
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--length", type=int, default=8, help="digits per sequence")
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few steps (CI)")
    ap.add_argument("--plot", metavar="PNG", help="save the losses and an attention map")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    common.add_mode_argument(ap)
    args = ap.parse_args(argv)
    kw = dict(steps=args.steps, length=args.length, n_hidden=args.hidden,
              batch_size=args.batch_size, lr=args.lr, seed=args.seed,
              progress=not args.no_progress)
    if args.quick:
        kw.update(steps=30, length=5, n_hidden=16, n_attn=16, lr=1e-2)
    with common.use_mode(args.mode):
        res = train(**kw)
    src, out = res["example"]
    print(f"trained {len(res['losses'])} steps; total {res['seconds']:.1f} s")
    print(f"training loss:   {res['initial_loss']:.4f} -> {res['final_loss']:.4f}")
    print(f"held-out digits reversed correctly: {100 * res['initial_token_accuracy']:.1f} % "
          f"-> {100 * res['token_accuracy']:.1f} % (chance 10 %); whole sequences "
          f"{100 * res['sequence_accuracy']:.1f} %")
    print(f"example: {''.join(map(str, src))} -> {''.join(map(str, out))}")
    if args.plot:
        plot(res, args.plot)
        print(f"plot written to {args.plot}")
    return res


if __name__ == "__main__":
    main()
