"""The runnable examples train and evaluate, in their quick (CI) mode.

Each example's main() runs in-process for a few steps; the loss must go down."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from theanine import backends

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decreased(losses, k=5):
    """The mean of the last k losses is below the mean of the first k."""
    return float(np.mean(losses[-k:])) < float(np.mean(losses[:k]))


def test_digits_mlp_quick_run_learns(capsys):
    digits_mlp = _load("digits_mlp")
    res = digits_mlp.main(["--quick", "--no-progress"])
    assert res["steps"] > 0
    assert res["final_loss"] < res["initial_loss"]
    first, last = res["batch_losses"][:5], res["batch_losses"][-5:]
    assert sum(last) < sum(first)
    assert res["test_accuracy"] > 0.5
    out = capsys.readouterr().out
    assert "test accuracy" in out


def test_digits_mlp_max_steps_limits_training():
    digits_mlp = _load("digits_mlp")
    res = digits_mlp.train_model(epochs=3, max_steps=7, progress=False)
    assert res["steps"] == 7
    assert len(res["batch_losses"]) == 7


def test_char_lm_quick_run_learns_samples_and_plots(tmp_path, capsys):
    char_lm = _load("char_lm")
    png = tmp_path / "loss.png"
    res = char_lm.main(["--quick", "--no-progress", "--plot", str(png)])
    assert res["steps"] == 40
    assert _decreased(res["losses"])
    assert res["final_valid_loss"] < res["initial_valid_loss"]
    assert 2.5 < res["unigram"] < 3.5  # about 3.05 nats/char for the bundled text
    assert [step for step, _ in res["samples"]] == [0, 40]
    for _, text in res["samples"]:
        assert text.startswith("Alice was ") and len(text) == len("Alice was ") + 40
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "unigram baseline" in out and "--- sample after 40 steps ---" in out


@pytest.mark.parametrize("cell, truncate", [("gru", -1), ("rnn", 4)])
def test_char_lm_other_cells_and_truncated_gradient_learn(cell, truncate):
    char_lm = _load("char_lm")
    res = char_lm.train(cell=cell, n_hidden=24, seq_len=12, batch_size=8, steps=30,
                        truncate=truncate, lr=1e-2, n_samples=1, sample_len=10, progress=False,
                        eval_every=30)
    assert res["steps"] == 30
    assert _decreased(res["losses"])
    assert res["final_valid_loss"] < res["initial_valid_loss"]


def test_char_lm_time_limit_stops_training():
    char_lm = _load("char_lm")
    res = char_lm.train(n_hidden=8, seq_len=8, batch_size=4, steps=10_000, time_limit=0.0,
                        n_samples=1, sample_len=5, progress=False)
    assert res["steps"] == 1


def test_char_lm_corpus_and_batches():
    char_lm = _load("char_lm")
    corpus = char_lm.Corpus("abcabcabcabcabcabcabcabcabcabcab", valid_fraction=0.25)
    assert corpus.chars == ["a", "b", "c"]
    assert corpus.decode(corpus.encode("cab")) == "cab"
    with pytest.raises(ValueError, match="not in the text"):
        corpus.encode("abz")
    x, y, first = next(char_lm.batches(corpus.streams(corpus.train, 2), 3))
    assert first and x.shape == (3, 2)
    assert np.array_equal(x[1:], y[:-1])  # targets are the inputs shifted by one


def test_digits_cnn_quick_run_learns():
    digits_cnn = _load("digits_cnn")
    res = digits_cnn.main(["--quick", "--no-progress"])
    assert res["steps"] == 30
    assert _decreased(res["batch_losses"])
    assert res["final_loss"] < res["initial_loss"]
    assert res["test_accuracy"] > 0.3


def test_bilstm_sentiment_quick_run_learns():
    bilstm = _load("bilstm_sentiment")
    res = bilstm.main(["--quick", "--no-progress"])
    assert len(res["losses"]) == 60
    assert _decreased(res["losses"])
    assert res["test_loss"] < res["initial_test_loss"]
    assert res["test_accuracy"] > max(0.75, res["bag_of_words_accuracy"])  # order matters


def test_sentiment_corpus_labels_follow_the_rules():
    bilstm = _load("bilstm_sentiment")
    texts, labels = bilstm.make_corpus(300, seed=3)
    assert set(labels.tolist()) == {0, 1}
    for text, label in zip(texts, labels):
        last = text.split(" but ")[-1].split(" , ")[-1].split(" and ")[-1].split()
        positive = last[-1] in bilstm.POSITIVE
        negated = "not" in last or "never" in last
        assert label == int(positive != negated), text


def test_timeseries_lstm_quick_run_learns():
    ts = _load("timeseries_lstm")
    res = ts.main(["--quick", "--no-progress"])
    assert len(res["losses"]) == 40
    assert _decreased(res["losses"])
    assert res["test_mse"] < res["initial_test_mse"]
    assert len(res["forecast"]) == 20 and np.all(np.isfinite(res["forecast"]))


def test_rbm_quick_run_learns_with_cd_and_persistent_cd():
    rbm = _load("rbm")
    res = rbm.main(["--quick", "--no-progress"])
    assert len(res["costs"]) == 60
    assert _decreased(res["costs"])
    assert res["test_cost"] < res["initial_test_cost"]
    assert res["samples"].shape == (5, 10, 64)  # every 4 steps of a 20-step chain
    res = rbm.train(steps=30, n_hidden=16, k=2, persistent=True, chain_steps=4,
                    progress=False)
    assert _decreased(res["costs"])


def test_seq2seq_attention_quick_run_learns():
    s2s = _load("seq2seq_attention")
    res = s2s.main(["--quick", "--no-progress"])
    assert len(res["losses"]) == 30
    assert _decreased(res["losses"])
    assert res["token_accuracy"] > res["initial_token_accuracy"]
    att = res["attention"]
    assert att.shape == (5, 5)
    assert np.allclose(att.sum(axis=1), 1.0, atol=1e-4)  # a distribution over the source


# -- on the jax backend (issue 12: the examples run with --mode JAX) ---------------------

def _linked_backends(monkeypatch):
    """The backends that link the functions compiled from here on (a list that fills)."""
    seen, link = [], backends.link

    def spy(backend, fgraph, **options):
        seen.append(backend)
        return link(backend, fgraph, **options)

    monkeypatch.setattr(backends, "link", spy)
    return seen


@pytest.mark.jax
@pytest.mark.slow
@pytest.mark.parametrize("name, steps", [("char_lm", 40), ("digits_mlp", None)])
def test_examples_learn_with_mode_jax(monkeypatch, capsys, name, steps):
    """--mode JAX compiles every function of the example with the jax backend, and the
    model still learns (char_lm is the demo: LSTM scan and its gradient on XLA)."""
    pytest.importorskip("jax")
    seen = _linked_backends(monkeypatch)
    res = _load(name).main(["--quick", "--no-progress", "--mode", "JAX"])
    assert seen and set(seen) == {"jax"}
    if name == "char_lm":
        assert res["steps"] == steps and _decreased(res["losses"])
        assert res["final_valid_loss"] < res["initial_valid_loss"]
    else:
        assert res["final_loss"] < res["initial_loss"] and res["test_accuracy"] > 0.5
    assert "trained" in capsys.readouterr().out
