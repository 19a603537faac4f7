# %% [markdown]
# # 3. Per-example, mini-batch and full-batch gradient descent
#
# The loss of a network is an average over the training set, $L = \frac1n \sum_i
# \ell_i$, and so is its gradient. Gradient descent can estimate that average from
#
# * **one example** per step (stochastic gradient descent, `batch_size=1`): $n$ cheap,
#   noisy steps per epoch;
# * **a mini-batch** of $B$ examples (`batch_size=B`): $n/B$ steps, each with the
#   gradient averaged over the batch;
# * **the whole set** (`batch_size="full"`): one exact, expensive step per epoch.
#
# This tutorial trains the same network from the same initial weights on the same data
# in all three ways and looks at the noise of each step, the progress per epoch and the
# progress per second.

# %%

import numpy as np

import gradstep as gs
from gradstep import models, optim
from gradstep.data import Standardize, stratified_split
from gradstep.datasets import load_digits

digits = load_digits()
x_tr, x_te, y_tr, y_te = stratified_split(digits.x, digits.y, 0.2,
                                          generator=np.random.default_rng(0))
scale = Standardize().fit(x_tr)
x_tr, x_te = scale.transform(x_tr), scale.transform(x_te)
print(f"training set {x_tr.shape}, test set {x_te.shape}")


def new_model():
    return models.mlp(64, [32], 10, generator=0)   # same initial weights every time

# %% [markdown]
# ## How noisy is a mini-batch gradient?
#
# Before any training, compare the gradient of random batches of $B$ examples with the
# full gradient $g$. The relative error $e_B = \lVert g_B - g\rVert / \lVert g\rVert$
# of an average of $B$ independent samples falls like $1/\sqrt{B}$: four times the
# batch, half the noise. For one example the noise is several times larger than the
# gradient itself.

# %%
from gradstep import nn

loss_fn = nn.CrossEntropyLoss()


def gradient(model, idx):
    model.zero_grad()
    loss_fn(model(gs.tensor(x_tr[idx])), y_tr[idx]).backward()
    return np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])


model = new_model()
g_full = gradient(model, np.arange(len(x_tr)))
rng = np.random.default_rng(1)
print("  B    e_B    e_1 / sqrt(B)")
for B in (1, 4, 16, 64, 256):
    errs = [np.linalg.norm(gradient(model, rng.choice(len(x_tr), B, replace=False)) - g_full)
            for _ in range(40)]
    e_B = np.mean(errs) / np.linalg.norm(g_full)
    if B == 1:
        e_1 = e_B
    print(f"{B:4d}  {e_B:6.3f}  {e_1 / np.sqrt(B):10.3f}")

# %% [markdown]
# ## Training three ways
#
# The same learning rate (0.02, plain SGD) for each mode, and roughly the same amount of
# computing time: 4 epochs with one example per step, 60 with batches of 32, 300 with
# the full batch. `gs.fit` keeps the loss of every step (`history.steps["loss"]`) and,
# per epoch, the validation loss and the time the epoch took.

# %%
runs = {}
for label, batch_size, epochs in (("batch 1", 1, 4), ("batch 32", 32, 60),
                                  ("full batch", "full", 300)):
    model = new_model()
    opt = optim.SGD(model.parameters(), lr=0.02)
    hist = gs.fit(model, (x_tr, y_tr), optimizer=opt, epochs=epochs, batch_size=batch_size,
                  val=(x_te, y_te), verbose=0, seed=0)
    runs[label] = hist

print(f"{'mode':12s} {'epochs':>6s} {'steps/epoch':>11s} {'s/epoch':>8s} {'examples/s':>11s} "
      f"{'val loss':>9s} {'val acc':>8s}")
for label, h in runs.items():
    steps = len(h.steps["loss"]) // len(h["loss"])
    print(f"{label:12s} {len(h['loss']):6d} {steps:11d} {np.mean(h['time']):8.3f} "
          f"{len(x_tr) / np.mean(h['time']):11,.0f} {h['val_loss'][-1]:9.3f} "
          f"{h['val_accuracy'][-1]:8.2%}")

# %% [markdown]
# ## The stumbling of small batches
#
# The loss of each step is the loss of the batch the step used. With one example per
# step it jumps between almost zero (an easy example) and several units (a hard one);
# the step that follows points wherever that one example pulls. Averaging 32 examples
# smooths the estimate, and the full batch has no noise at all. The thick lines are
# running means over 50 steps.

# %%
import matplotlib.pyplot as plt


def running_mean(v, k=50):
    v = np.asarray(v)
    return np.convolve(v, np.ones(k) / k, mode="valid")


fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for ax, label in zip(axes, ("batch 1", "batch 32")):
    steps = runs[label].steps["loss"][:1500]
    ax.plot(steps, lw=0.5, alpha=0.4, label="loss of each step")
    ax.plot(np.arange(49, len(steps)), running_mean(steps), lw=2, label="running mean")
    ax.set_title(f"{label}: first {len(steps)} steps")
    ax.set_xlabel("step")
    ax.set_yscale("log")
axes[0].set_ylabel("batch loss")
axes[0].legend()
fig.suptitle("Loss of every optimizer step")
fig.tight_layout()

# %% [markdown]
# ## Progress per epoch and per second
#
# Per epoch, per-example SGD makes by far the most progress: it takes 1,437 steps where
# the full batch takes one. Per second the picture changes: a step on 32 examples costs
# little more than a step on one, because the work is a few matrix products whose cost
# at these sizes is mostly fixed per-call overhead, so the mini-batch run gets through
# the data many times faster (the examples/s column above). Full-batch descent takes one
# exact but small step per epoch and needs hundreds of epochs to get going. Mini-batches
# sit in between: enough steps per epoch to make progress, enough examples per step to
# use the hardware well, and moderate noise. (The epoch axis is logarithmic.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
styles = {"batch 1": "o-", "batch 32": "s--", "full batch": "^:"}
for label, h in runs.items():
    epochs = np.arange(1, len(h["val_loss"]) + 1)
    axes[0].plot(epochs, h["val_loss"], styles[label], label=label, markersize=4)
    axes[1].plot(np.cumsum(h["time"]), h["val_loss"], styles[label], label=label,
                 markersize=4)
axes[0].set_xscale("log")
axes[0].set_xlabel("epoch")
axes[1].set_xlabel("training time (s) on the machine that built this page")
axes[0].set_ylabel("validation loss")
axes[0].set_title("per epoch")
axes[1].set_title("per second")
axes[0].legend()
fig.tight_layout()

# %% [markdown]
# Which mode had the lowest validation loss at a few fixed time budgets (the times
# depend on the machine, so this may come out differently on yours):

# %%
for budget in (0.25, 0.5, 1.0, 2.0):
    best = {}
    for label, h in runs.items():
        t = np.cumsum(h["time"])
        done = [v for v, s in zip(h["val_loss"], t) if s <= budget]
        if done:
            best[label] = done[-1]
    winner = min(best, key=best.get) if best else "none finished an epoch"
    print(f"after {budget:4.2f} s: " + ", ".join(f"{k} {v:.3f}" for k, v in best.items())
          + f"  -> lowest: {winner}")

# %% [markdown]
# ## Why mini-batches win in practice
#
# * **Throughput.** The examples/s column: a batch of 32 is processed in little more
#   time than one example, so an epoch of mini-batches costs a small fraction of an
#   epoch of single examples.
# * **Noise.** The gradient of a batch of $B$ is $\sqrt{B}$ times less noisy than one
#   example's. A noisy step needs a small learning rate to stay stable; a cleaner one
#   tolerates a larger rate (a common rule of thumb scales the learning rate with $B$).
#   Here all three runs used the same rate, which favours the per-example run in
#   progress per step.
# * **Cost per step.** The full batch's step costs a pass over all $n$ examples. On
#   these 1,437 digits that pass is cheap, which is why full-batch descent is not
#   hopeless here; on a data set of millions of examples each of its steps is a pass over
#   millions of examples, while a mini-batch step costs the same whatever $n$ is.
#
# Some noise may even help: large-batch training has been observed to settle in sharper
# minima that generalise worse (Keskar et al., 2017, "On Large-Batch Training for Deep
# Learning: Generalization Gap and Sharp Minima", ICLR).
