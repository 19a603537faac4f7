"""gradstep.fit / evaluate / predict: accumulation, resume, callbacks, non-finite guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gradstep as gs
from gradstep import models, nn, optim
from gradstep.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
)
from gradstep.data import ArrayDataset, DataLoader
from gradstep.train import History, evaluate, fit, predict

SRC = str(Path(gs.__file__).resolve().parents[1])


def _blobs(n=60, d=5, c=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    centers = rng.standard_normal((c, d)) * 3
    x = (centers[y] + rng.standard_normal((n, d))).astype(dtype)
    return x, y


def _model(d=5, c=3, dtype=None, dropout=0.0, seed=1):
    return models.mlp(d, [8], c, dropout=dropout, generator=seed, dtype=dtype)


def _weights(m):
    return {k: v.copy() for k, v in m.state_dict().items()}


def _assert_bitwise(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype
        assert np.array_equal(a[k], b[k]), k


# --------------------------------------------------------------------------- basics


def test_fit_learns_and_reports(capsys):
    x, y = _blobs(120)
    m = _model()
    h = fit(
        m,
        (x, y),
        optimizer=optim.Adam(m.parameters(), lr=0.05),
        epochs=15,
        val=(x[:30], y[:30]),
        verbose=2,
    )
    assert isinstance(h, History)
    assert h.epoch == list(range(1, 16))
    assert h["loss"][-1] < h["loss"][0]
    assert h["accuracy"][-1] > 0.9 and h["val_accuracy"][-1] > 0.9
    assert set(h.keys()) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert len(h.steps["loss"]) == 15 * 4 and len(h.steps["lr"]) == 15 * 4
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 15 and out[0].startswith("epoch 1/15") and "val_accuracy" in out[0]
    res = evaluate(m, (x, y))
    assert res["accuracy"] == pytest.approx(gs.metrics.accuracy(predict(m, x), y))
    assert m.training  # evaluate/predict restore the mode


def test_verbose_zero_prints_nothing(capsys):
    x, y = _blobs()
    m = _model()
    fit(m, (x, y), optimizer=optim.SGD(m.parameters(), lr=0.1), epochs=2, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_inputs_tuple_dataset_and_loader_agree():
    x, y = _blobs()
    results = []
    for data in (
        (x, y),
        ArrayDataset(x, y),
        DataLoader(ArrayDataset(x, y), batch_size=16, shuffle=True,
                   generator=np.random.default_rng(3)),
    ):
        m = _model()
        fit(
            m,
            data,
            optimizer=optim.SGD(m.parameters(), lr=0.1),
            epochs=2,
            batch_size=16,
            seed=3,
            verbose=0,
        )
        results.append(_weights(m))
    _assert_bitwise(results[0], results[1])
    _assert_bitwise(results[0], results[2])


@pytest.mark.parametrize("batch_size", [1, 7, "full", None])
def test_batch_sizes(batch_size):
    x, y = _blobs(20)
    m = _model()
    h = fit(
        m,
        (x, y),
        optimizer=optim.SGD(m.parameters(), lr=0.05),
        epochs=1,
        batch_size=batch_size,
        verbose=0,
    )
    expected = {1: 20, 7: 3, "full": 1, None: 1}[batch_size]
    assert len(h.steps["loss"]) == expected


def test_regression_with_mse_and_string_losses():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32) + 0.1).astype(np.float32)
    m = models.linear(3, 1, generator=0)
    h = fit(
        m,
        (x, y),
        loss="mse",
        optimizer=optim.SGD(m.parameters(), lr=0.1),
        epochs=30,
        batch_size=16,
        verbose=0,
    )
    assert "mae" in h and h["loss"][-1] < 1e-3
    r = evaluate(m, (x, y), loss=nn.MSELoss(), metrics=["mse", "mae"])
    assert r["mse"] == pytest.approx(r["loss"], rel=1e-5)


def test_bad_arguments():
    x, y = _blobs()
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="accumulate"):
        fit(m, (x, y), optimizer=opt, epochs=1, accumulate=0)
    with pytest.raises(ValueError, match="epochs"):
        fit(m, (x, y), optimizer=opt, epochs=-1)
    with pytest.raises(ValueError, match="on_nonfinite"):
        fit(m, (x, y), optimizer=opt, epochs=1, on_nonfinite="ignore")
    with pytest.raises(ValueError, match="unknown loss"):
        fit(m, (x, y), loss="hinge", optimizer=opt, epochs=1)
    with pytest.raises(TypeError, match="bare array"):
        fit(m, x, optimizer=opt, epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        fit(m, (x, y), optimizer=opt, epochs=1, batch_size=0)


# ------------------------------------------------------------------- accumulation


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize(("n", "b", "k"), [(50, 4, 3), (48, 4, 3), (10, 3, 4), (9, 1, 9)])
def test_accumulation_is_exact(n, b, k, flat):
    """accumulate=k with batch b == one batch of k*b (float64), short last group included."""
    x, y = _blobs(n, dtype=np.float64)
    states = []
    for bs, acc in ((b * k, 1), (b, k)):
        m = _model(dtype=np.float64)
        opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        if flat:
            opt.flatten()
        h = fit(m, (x, y), optimizer=opt, epochs=2, batch_size=bs, accumulate=acc, verbose=0)
        states.append((_weights(m), h))
    (wa, ha), (wb, hb) = states
    assert len(ha.steps["loss"]) == len(hb.steps["loss"]) == 2 * -(-n // (b * k))
    np.testing.assert_allclose(ha.steps["loss"], hb.steps["loss"], rtol=1e-13)
    for key in wa:
        np.testing.assert_allclose(wa[key], wb[key], rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- resume


RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, json
    import numpy as np
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    from gradstep import models, optim
    from gradstep.callbacks import ModelCheckpoint
    from gradstep.train import fit

    mode, ckdir, out = sys.argv[1], sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 70)
    x = (rng.standard_normal((3, 5))[y] * 3 + rng.standard_normal((70, 5))).astype(np.float32)
    model = models.mlp(5, [16, 8], 3, dropout=0.3, generator=7)
    opt = optim.Adam(model.parameters(), lr=0.01)
    from gradstep.optim.lr_scheduler import StepLR
    sched = StepLR(opt, step_size=1, gamma=0.7)
    kw = dict(optimizer=opt, scheduler=sched, batch_size=8, val=(x[:20], y[:20]), verbose=0)
    if mode == "full":
        h = fit(model, (x, y), epochs=4, **kw)
    elif mode == "first":
        h = fit(model, (x, y), epochs=2, callbacks=[ModelCheckpoint(ckdir)], **kw)
    else:
        h = fit(model, (x, y), epochs=4, resume=ckdir + "/last.safetensors", **kw)
    np.savez(out, **model.state_dict())
    with open(out + ".json", "w") as f:
        json.dump({"loss": h["loss"], "lr": h.steps["lr"], "epochs": h.epoch}, f)
    """
)


def _run(script: Path, *args: str) -> None:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr


def test_resume_in_new_process_is_bit_identical(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    ck = tmp_path / "ck"
    _run(script, "full", str(ck), str(tmp_path / "full.npz"))
    _run(script, "first", str(ck), str(tmp_path / "first.npz"))
    _run(script, "resume", str(ck), str(tmp_path / "resumed.npz"))
    full = dict(np.load(tmp_path / "full.npz"))
    resumed = dict(np.load(tmp_path / "resumed.npz"))
    first = dict(np.load(tmp_path / "first.npz"))
    _assert_bitwise(full, resumed)
    assert any(not np.array_equal(full[k], first[k]) for k in full)
    hf = json.loads((tmp_path / "full.npz.json").read_text())
    hr = json.loads((tmp_path / "resumed.npz.json").read_text())
    assert hf == hr  # the history carries over, lr schedule included


class _CrashAt(Callback):
    """Save a resumable checkpoint after a given step, then simulate a crash."""

    def __init__(self, step, path):
        self.at, self.path = step, path

    def on_batch_end(self, trainer, step, logs):
        if step == self.at:
            trainer.save(self.path)
            raise KeyboardInterrupt


@pytest.mark.parametrize("accumulate", [1, 2])
def test_mid_epoch_resume_is_bit_identical(tmp_path, accumulate):
    x, y = _blobs(70)

    def setup():
        m = _model(dropout=0.2)
        return m, optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    m, opt = setup()
    h_full = fit(m, (x, y), optimizer=opt, epochs=3, batch_size=8, accumulate=accumulate, verbose=0)
    full = _weights(m)

    m, opt = setup()
    p = tmp_path / "mid.safetensors"
    with pytest.raises(KeyboardInterrupt):
        fit(
            m,
            (x, y),
            optimizer=opt,
            epochs=3,
            batch_size=8,
            accumulate=accumulate,
            callbacks=[_CrashAt(7, p)],
            verbose=0,
        )
    m, opt = setup()
    h = fit(
        m, (x, y), optimizer=opt, epochs=3, batch_size=8, accumulate=accumulate, resume=p, verbose=0
    )
    _assert_bitwise(full, _weights(m))
    assert h["loss"] == h_full["loss"]
    assert h.steps["loss"] == h_full.steps["loss"]


def test_resume_errors(tmp_path):
    x, y = _blobs()
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(gs.CheckpointError, match="cannot open"):
        fit(m, (x, y), optimizer=opt, epochs=1, resume=tmp_path / "none.safetensors")
    plain = tmp_path / "plain.safetensors"
    gs.save_checkpoint(plain, m, opt)
    with pytest.raises(gs.CheckpointError, match="no training state"):
        fit(m, (x, y), optimizer=opt, epochs=1, resume=plain)
    ck = tmp_path / "ck"
    fit(m, (x, y), optimizer=opt, epochs=1, callbacks=[ModelCheckpoint(ck)], verbose=0)
    other = _model(d=5, c=4)
    with pytest.raises(gs.CheckpointError, match="does not fit"):
        fit(
            other,
            (x, y),
            optimizer=optim.SGD(other.parameters(), lr=0.1),
            epochs=2,
            resume=ck / "last.safetensors",
        )


# ------------------------------------------------------------------------ callbacks


def test_early_stopping_restores_best():
    x, y = _blobs(60)
    m = _model()
    es = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    # lr so large that the validation loss soon gets worse
    h = fit(
        m,
        (x, y),
        optimizer=optim.SGD(m.parameters(), lr=3.0),
        epochs=50,
        val=(x, y),
        callbacks=[es],
        verbose=0,
        on_nonfinite="skip",
    )
    assert es.stopped_epoch is not None and len(h.epoch) < 50
    assert evaluate(m, (x, y))["loss"] == pytest.approx(es.best, rel=1e-5)


def test_early_stopping_patience_counts():
    es = EarlyStopping(monitor="loss", patience=2)

    class T:
        stop_training = False

    t = T()
    for e, v in enumerate([1.0, 0.9, 0.95, 0.91, 0.92]):
        es.on_epoch_end(t, e, {"loss": v})
    assert t.stop_training and es.best == 0.9 and es.stopped_epoch == 4
    with pytest.raises(KeyError, match="not in the epoch logs"):
        EarlyStopping(monitor="val_auc").on_epoch_end(t, 0, {"loss": 1.0})


def test_model_checkpoint_and_csv_logger(tmp_path):
    x, y = _blobs(60)
    m = _model()
    opt = optim.Adam(m.parameters(), lr=0.05)
    mc = ModelCheckpoint(tmp_path / "ck", monitor="val_accuracy")
    h = fit(
        m,
        (x, y),
        optimizer=opt,
        epochs=4,
        val=(x[:20], y[:20]),
        callbacks=[mc, CSVLogger(tmp_path / "log.csv")],
        verbose=0,
    )
    last = gs.load_checkpoint(tmp_path / "ck" / "last.safetensors")
    _assert_bitwise(last.model_state, m.state_dict())
    assert last["trainer"]["epoch"] == 4
    assert last.model is not None  # rebuilt from the stored config
    best_epoch = int(np.argmax(h["val_accuracy"]))
    best = gs.load_checkpoint(tmp_path / "ck" / "best.safetensors", build=False)
    assert best["trainer"]["epoch"] == best_epoch + 1
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,lr")
    assert len(rows) == 5 and rows[4].startswith("4,")


def test_callback_hook_order():
    x, y = _blobs(20)
    m = _model()
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda t: calls.append("train_begin"),
        on_epoch_begin=lambda t, e: calls.append(f"epoch_begin{e}"),
        on_before_step=lambda t: calls.append("before_step"),
        on_batch_end=lambda t, s, logs: calls.append(f"batch{s}"),
        on_epoch_end=lambda t, e, logs: calls.append(f"epoch_end{e}"),
        on_train_end=lambda t, logs: calls.append("train_end"),
    )
    fit(
        m,
        (x, y),
        optimizer=optim.SGD(m.parameters(), lr=0.1),
        epochs=2,
        batch_size=10,
        callbacks=[cb],
        verbose=0,
    )
    assert calls == [
        "train_begin",
        "epoch_begin0",
        "before_step",
        "batch1",
        "before_step",
        "batch2",
        "epoch_end0",
        "epoch_begin1",
        "before_step",
        "batch3",
        "before_step",
        "batch4",
        "epoch_end1",
        "train_end",
    ]
    with pytest.raises(TypeError, match="unknown hook"):
        LambdaCallback(on_step=print)


def test_lr_scheduler_callback_per_step_and_epoch():
    class Halve:
        def __init__(self, opt):
            self.opt = opt

        def step(self):
            for g in self.opt.param_groups:
                g["lr"] *= 0.5

        def state_dict(self):
            return {}

        def load_state_dict(self, s):
            pass

    x, y = _blobs(20)
    m = _model()
    opt = optim.SGD(m.parameters(), lr=1.0)
    h = fit(
        m,
        (x, y),
        optimizer=opt,
        epochs=2,
        batch_size=10,
        scheduler=Halve(opt),
        scheduler_interval="step",
        verbose=0,
    )
    assert h.steps["lr"] == [1.0, 0.5, 0.25, 0.125]
    m = _model()
    opt = optim.SGD(m.parameters(), lr=1.0)
    h = fit(m, (x, y), optimizer=opt, epochs=2, batch_size=10, scheduler=Halve(opt), verbose=0)
    assert h.steps["lr"] == [1.0, 1.0, 0.5, 0.5] and h["lr"] == [1.0, 0.5]
    with pytest.raises(ValueError, match="interval"):
        LRSchedulerCallback(Halve(opt), interval="batch")


def test_grad_clip_limits_update():
    x, y = _blobs(20)
    m = _model()
    before = _weights(m)
    fit(
        m,
        (x, y),
        optimizer=optim.SGD(m.parameters(), lr=1.0),
        epochs=1,
        batch_size="full",
        grad_clip=1e-3,
        verbose=0,
    )
    delta = np.sqrt(sum(((m.state_dict()[k] - before[k]) ** 2).sum() for k in before))
    assert delta == pytest.approx(1e-3, rel=1e-3)


# ----------------------------------------------------------------- non-finite guard


class _PoisonAt(Callback):
    """Put a NaN into a parameter's gradient at a given step (before the update)."""

    def __init__(self, step, value=np.nan):
        self.at, self.value, self.seen = step, value, 0

    def on_before_step(self, trainer):
        self.seen += 1
        if self.seen == self.at:
            p = next(iter(trainer.model.parameters()))
            p._grad[0, 0] = self.value


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nonfinite_loss_raises_and_keeps_checkpoint(tmp_path):
    x, y = _blobs(40)
    x_bad = x.copy()
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    ck = tmp_path / "ck"
    fit(
        m,
        (x, y),
        optimizer=opt,
        epochs=1,
        batch_size=10,
        callbacks=[ModelCheckpoint(ck)],
        verbose=0,
        shuffle=False,
    )
    good = (ck / "last.safetensors").read_bytes()
    weights = _weights(m)
    x_bad[25, 0] = np.inf
    with pytest.raises(gs.NonFiniteError, match=r"non-finite loss \(nan\) at epoch 1, step 3") as e:
        fit(
            m,
            (x_bad, y),
            optimizer=opt,
            epochs=2,
            batch_size=10,
            callbacks=[ModelCheckpoint(ck)],
            verbose=0,
            shuffle=False,
        )
    # this run's ModelCheckpoint has written nothing yet (it fails in its first epoch)
    assert e.value.checkpoint is None and "last good checkpoint" not in str(e.value)
    assert e.value.epoch == 1 and e.value.step == 3
    assert (ck / "last.safetensors").read_bytes() == good
    # steps 1 and 2 were applied, the bad one not
    assert any(not np.array_equal(weights[k], m.state_dict()[k]) for k in weights)
    assert all(np.isfinite(v).all() for v in m.state_dict().values())


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_gradient_names_parameter(value, flat):
    x, y = _blobs(40)
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    if flat:
        opt.flatten()
    with pytest.raises(
        gs.NonFiniteError, match=r"gradient at epoch 2, step 6: parameter '1.weight'"
    ):
        fit(
            m,
            (x, y),
            optimizer=opt,
            epochs=3,
            batch_size=10,
            callbacks=[_PoisonAt(6, value)],
            verbose=0,
        )
    assert all(np.isfinite(v).all() for v in m.state_dict().values())


def test_nonfinite_skip():
    x, y = _blobs(40)
    m = _model()
    h = fit(
        m,
        (x, y),
        optimizer=optim.SGD(m.parameters(), lr=0.1),
        epochs=2,
        batch_size=10,
        callbacks=[_PoisonAt(3)],
        on_nonfinite="skip",
        verbose=0,
    )
    assert np.isnan(h.steps["loss"][2]) and np.isfinite(h.steps["loss"][3])
    assert h["skipped"] == [1.0, 0.0]
    assert all(np.isfinite(v).all() for v in m.state_dict().values())


def test_large_finite_gradients_are_not_flagged():
    """A gradient whose sum overflows float32 but whose entries are finite is fine."""
    x, y = _blobs(40)
    m = _model()

    class Huge(Callback):
        def on_before_step(self, trainer):
            for p in trainer.model.parameters():
                p._grad[...] = 3e38

    h = fit(
        m,
        (x, y),
        optimizer=optim.SGD(m.parameters(), lr=0.0),
        epochs=1,
        batch_size=40,
        callbacks=[Huge()],
        verbose=0,
    )
    assert np.isfinite(h.steps["loss"][0])


def test_history_files(tmp_path):
    x, y = _blobs(20)
    m = _model()
    h = fit(m, (x, y), optimizer=optim.SGD(m.parameters(), lr=0.1), epochs=3, verbose=0)
    h.to_csv(tmp_path / "h.csv")
    h.to_json(tmp_path / "h.json")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].split(",")[:3] == ["epoch", "loss", "accuracy"]
    d = json.loads((tmp_path / "h.json").read_text())
    assert d["epoch"] == [1, 2, 3] and len(d["steps"]["loss"]) == len(h.steps["loss"])


def test_checkpoint_round_trip_real_objects(tmp_path):
    """Model + flat Adam + StepLR + mid-epoch DataLoader position survive save/load exactly."""
    from gradstep.optim.lr_scheduler import StepLR

    x, y = _blobs(50)

    def setup():
        m = _model(dropout=0.1)
        opt = optim.Adam(m.parameters(), lr=0.01, flat=True)
        sched = StepLR(opt, step_size=1, gamma=0.5)
        loader = DataLoader((x, y), batch_size=8, shuffle=True, generator=np.random.default_rng(5))
        return m, opt, sched, loader

    m, opt, sched, loader = setup()
    fit(m, loader, optimizer=opt, scheduler=sched, epochs=1, verbose=0)
    it = iter(loader)
    next(it)
    next(it)
    p = tmp_path / "c.safetensors"
    gs.save_checkpoint(p, m, opt, sched, loader=loader.state_dict(), epoch=1, step=9)

    m2, opt2, sched2, loader2 = setup()
    ck = gs.load_checkpoint(p, m2, opt2, sched2)
    loader2.load_state_dict(ck["loader"])
    _assert_bitwise(m.state_dict(), m2.state_dict())
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k in s1["state"]:
        for name, v in s1["state"][k].items():
            assert np.array_equal(v, s2["state"][k][name])
    assert sched.state_dict() == sched2.state_dict()
    assert ck.epoch == 1 and ck.step == 9
    rest_a, rest_b = list(it), list(iter(loader2))  # the rest of the epoch, identical
    assert len(rest_a) == len(rest_b) == len(loader) - 2
    for (xa, ya), (xb, yb) in zip(rest_a, rest_b):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
