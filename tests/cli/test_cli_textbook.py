"""``gradstep train`` options that express Nielsen's networks (issue 16), and input scaling.

The two textbook commands (README, docs/cli.md) must parse into the intended objects:
sigmoid hidden layer, N(0, 1) or N(0, 1/n_in) initialisation, the quadratic cost with a
sigmoid output or cross-entropy, weight decay on weights only, the last 10,000 training
images held out. The losses are checked against PyTorch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gradstep import models
from gradstep.cli import _setup, build_parser, main, resolve_train_config

CH1 = ["--dataset", "mnist", "--model", "mlp:30", "--activation", "sigmoid", "--loss", "mse",
       "--init", "normal", "--batch-size", "10", "--lr", "3.0", "--epochs", "30",
       "--val-split", "10000", "--optimizer", "sgd"]
CH3 = ["--dataset", "mnist", "--model", "mlp:30", "--activation", "sigmoid", "--loss",
       "cross-entropy", "--init", "normal-scaled", "--weight-decay", "1e-4",
       "--weight-decay-on", "weights", "--lr", "0.5", "--batch-size", "10", "--epochs", "30",
       "--val-split", "10000", "--optimizer", "sgd"]


def _cfg(argv):
    return resolve_train_config(build_parser().parse_args(["train", *argv]))


def _prepared(n=200, d=784, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    from gradstep.data.prep import Preprocessor

    prep = Preprocessor.fit(x, y, task="classification", scale="unit")
    return _setup.Prepared(prep, prep.x(x), y, prep.x(x[:10]), y[:10], None, classes, True)


def test_ch1_command_builds_the_textbook_network():
    cfg = _cfg(CH1)
    assert cfg["val_split"] == 10000 and isinstance(cfg["val_split"], int)
    model = _setup.build_model(cfg, _prepared())
    kinds = [type(m).__name__ for m in model.children()]
    assert kinds == ["Flatten", "Linear", "Sigmoid", "Linear", "Sigmoid"]
    w = model.state_dict()
    big = np.concatenate([np.ravel(v) for v in w.values()])
    assert abs(big.std() - 1.0) < 0.05  # N(0, 1) weights and biases
    loss, _ = _setup.loss_for(cfg, True)
    assert loss.__name__ == "quadratic_cost"
    z = np.random.default_rng(0).normal(size=(4, 10))
    import gradstep as gs

    assert float(loss(gs.tensor(z), np.arange(4)).item()) == float(
        models.quadratic_cost(gs.tensor(z), np.arange(4)).item())
    opt = _setup.build_optimizer(cfg, model)
    assert type(opt).__name__ == "SGD" and opt.param_groups[0]["lr"] == 3.0


def test_ch3_command_decays_weights_only_and_scales_the_init():
    cfg = _cfg(CH3)
    model = _setup.build_model(cfg, _prepared())
    kinds = [type(m).__name__ for m in model.children()]
    assert kinds == ["Flatten", "Linear", "Sigmoid", "Linear"]  # softmax is in the loss
    first = model.state_dict()
    w1 = np.asarray(first[[k for k in first if k.endswith("weight")][0]])
    assert abs(w1.std() - 1 / math.sqrt(784)) < 0.1 / math.sqrt(784)
    opt = _setup.build_optimizer(cfg, model)
    groups = opt.param_groups
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert all(len(p.shape) == 2 for p in groups[0]["params"])
    assert all(len(p.shape) == 1 for p in groups[1]["params"])


def test_textbook_costs_match_pytorch():
    torch = pytest.importorskip("torch")
    import gradstep as gs

    rng = np.random.default_rng(4)
    z = rng.normal(size=(7, 10))
    y = rng.integers(0, 10, 7)
    hot = torch.nn.functional.one_hot(torch.tensor(y), 10).double()
    for ours, ref in (
        (models.quadratic_cost, lambda t: torch.nn.MSELoss()(t, hot) * 10 / 2),
        (models.one_hot_bce, lambda t: torch.nn.BCEWithLogitsLoss()(t, hot) * 10),
    ):
        a = gs.tensor(z, requires_grad=True)
        loss = ours(a, y)
        loss.backward()
        t = torch.tensor(z, requires_grad=True)
        lt = ref(t)
        lt.backward()
        np.testing.assert_allclose(float(loss.item()), lt.item(), rtol=1e-12)
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-15)
        s = ours(gs.tensor(z), y, reduction="sum")
        np.testing.assert_allclose(float(s.item()), lt.item() * 7, rtol=1e-12)


def test_init_and_activation_options_of_models():
    from gradstep.errors import ConfigError

    for init in models.INITS:
        m = models.mlp(20, [16], 3, activation="tanh", init=init, generator=1)
        assert type(list(m.children())[2]).__name__ == "Tanh"
        w = dict(m.state_dict())
        if init in ("xavier", "he"):
            assert all(not np.any(v) for k, v in w.items() if k.endswith("bias"))
    he = models.mlp(400, [300], 3, init="he", generator=0).state_dict()
    w = np.asarray(next(v for k, v in he.items() if k.endswith("weight")))
    assert abs(w.std() - math.sqrt(2 / 400)) < 0.05 * math.sqrt(2 / 400)
    with pytest.raises(ConfigError, match="init"):
        models.mlp(4, [4], 2, init="bogus")
    with pytest.raises(ConfigError, match="activation"):
        models.build("mlp:4", (4,), 2, activation="gelu")


@pytest.mark.parametrize("argv", [CH1, CH3], ids=["ch1", "ch3"])
def test_textbook_commands_run_on_mnist(argv, tmp_path, capsys):
    """One short epoch of each command on a 3,000-image slice: they run end to end and
    learn (the full 30-epoch figures are in the README, measured, not asserted here)."""
    from gradstep.data import load_mnist
    from gradstep.errors import DataError

    try:
        load_mnist()
    except DataError:
        pytest.skip("MNIST is not available (set GRADSTEP_DATA)")
    import gradstep.cli._setup as setup_mod

    real = setup_mod.load_dataset

    def small(*a, **k):
        from dataclasses import replace

        ds = real(*a, **k)
        return replace(ds, x=ds.x[:3000], y=ds.y[:3000], x_test=ds.x_test[:1000],
                       y_test=ds.y_test[:1000])

    setup_mod.load_dataset = small
    try:
        args = [a if a != "10000" else "500" for a in argv]
        args[args.index("--epochs") + 1] = "2"
        rc = main(["train", *args, "--out", str(tmp_path / "run"), "-q"])
    finally:
        setup_mod.load_dataset = real
    assert rc == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["scale"] == "unit"
    assert res["test"]["accuracy"] > 0.5  # chance is 0.1
    assert res["best_epoch"]["epoch"] in (1, 2)
    assert "best epoch:" in capsys.readouterr().out


def test_tabular_scaling_is_recorded_and_exported(tmp_path):
    from gradstep import load_checkpoint

    assert main(["train", "--dataset", "iris", "--scale", "global", "--epochs", "1", "--out",
                 str(tmp_path / "r"), "-q"]) == 0
    pre = load_checkpoint(Path(tmp_path / "r" / "last.safetensors")).meta["preprocess"]
    assert pre["scale"] == "global"
    assert len(set(np.ravel(pre["std"]).tolist())) == 1  # one std for every feature


def test_csv_task_is_inferred_and_printed_or_forced(tmp_path, capsys):
    rows = ["a,b,target"] + [f"{i % 7},{(i * 3) % 5},{i % 3}" for i in range(60)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    assert main(["train", "--dataset", f"csv:{tmp_path / 'd.csv'}", "--epochs", "1",
                 "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "target column read as classification (3 classes)" in err
    assert main(["train", "--dataset", f"csv:{tmp_path / 'd.csv'}", "--task", "regression",
                 "--epochs", "1", "--out", str(tmp_path / "b"), "-q"]) == 0
    assert "test MSE" in capsys.readouterr().out


def test_missing_mnist_names_the_cli_options(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSTEP_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    rc = main(["train", "--dataset", "mnist", "--data-root", str(tmp_path / "empty")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "--download" in err[0] and "--data-root" in err[0]
    assert "load_mnist(" not in err[0]
