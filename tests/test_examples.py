"""The runnable examples train and evaluate, in their quick (CI) mode."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
