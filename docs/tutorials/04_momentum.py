# %% [markdown]
# # 4. Momentum, in both conventions
#
# Plain gradient descent forgets: each step uses only the current gradient. On a long,
# narrow valley that makes it zig-zag across the valley while creeping along it.
# Momentum keeps a running sum of past gradients, a velocity, so that directions the
# gradients agree on build up speed and directions where they alternate cancel out.
#
# Two ways of writing momentum are in common use, and gradstep implements both
# (`optim.SGD(..., momentum_form=...)`). With gradient $g$, momentum $\mu$ and learning
# rate $\eta$:
#
# $$
# \begin{aligned}
# \text{PyTorch, optax (default):}\quad & b \leftarrow \mu b + g, & p &\leftarrow p - \eta\, b
#   \qquad (b = g \text{ on the first step})\\
# \text{Sutskever et al. 2013, Keras, scikit-learn:}\quad & v \leftarrow \mu v - \eta\, g,
#   & p &\leftarrow p + v \qquad (v = 0 \text{ at the start})
# \end{aligned}
# $$
#
# While the learning rate is constant the two are the same algorithm: $v = -\eta b$
# at every step. They part ways when the learning rate changes, because the Sutskever
# buffer $v$ has the old learning rate baked into it while the PyTorch buffer $b$ holds
# raw gradients and meets the new rate at the next step.

# %% [markdown]
# ## The worked case
#
# Start at $p = 0$, let the gradient be $g = 1$ at every step, $\mu = 0.9$, and drop the
# learning rate from 0.1 to 0.01 after the first step. By hand:
#
# * PyTorch form: step 1: $b = 1$, $p = -0.1$; step 2: $b = 0.9 + 1 = 1.9$,
#   $p = -0.1 - 0.01 \cdot 1.9 = -0.119$.
# * Sutskever form: step 1: $v = -0.1$, $p = -0.1$; step 2: $v = 0.9 \cdot (-0.1) -
#   0.01 = -0.1$, $p = -0.2$.
#
# gradstep's `SGD` gives the same numbers. The loss $L(p) = p$ has gradient 1
# everywhere, and the learning rate is changed through `param_groups`, as a scheduler
# does:

# %%
import numpy as np

import gradstep as gs
from gradstep import optim


def two_steps(form):
    p = gs.zeros(1, dtype=np.float64, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, momentum_form=form)
    trace = []
    for lr in (0.1, 0.01):
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        p.sum().backward()              # dL/dp = 1
        opt.step()
        trace.append(p.item())
    return trace


for form in ("pytorch", "sutskever"):
    print(f"{form:10s} p after step 1: {two_steps(form)[0]:+.3f}   "
          f"after step 2: {two_steps(form)[1]:+.3f}")

# %% [markdown]
# Neither is wrong; they are different algorithms once a schedule changes the rate, and
# a recipe tuned with one (a learning-rate drop at epoch 30, say) behaves differently
# with the other. When porting a training recipe, use the form it was written for.
#
# ## Paths on 2-D surfaces
#
# `gradstep.viz.run_paths` runs real `gradstep.optim` optimizers on a two-parameter
# function written with gradstep ops, from the same start. First an ill-conditioned
# bowl $f(x, y) = \tfrac12 (x^2 + \kappa y^2)$ with condition number $\kappa = 100$:
# steep across the valley ($y$), shallow along it ($x$). Plain SGD is stable only for
# $\eta < 2/\kappa = 0.02$ (the steep direction), and at $\eta = 0.01$ the shallow
# direction shrinks by just 1% per step; momentum accumulates speed along the valley.

# %%
from gradstep.viz import plot_paths, run_paths

specs = ["sgd:lr=0.01@SGD", "sgd:lr=0.01,momentum=0.9@momentum 0.9 (PyTorch form)",
         "sgd:lr=0.01,momentum=0.9,momentum_form=sutskever@momentum 0.9 (Sutskever form)",
         "sgd:lr=0.01,momentum=0.9,nesterov=True@Nesterov"]
bowl = run_paths("quadratic", specs, steps=100, condition=100.0)
for t in bowl.trajectories:
    print(f"{t.label:34s} f after 20 steps {t.loss[20]:9.2e}   after 100 steps {t.loss[-1]:9.2e}")
plot_paths(bowl)

# %% [markdown]
# With a constant learning rate the two momentum forms draw the same path (the curves lie
# on top of each other); the printed losses agree to rounding. Nesterov momentum looks
# ahead along the velocity before taking the gradient, which damps the overshoot.
#
# The Rosenbrock function $f(x, y) = (1 - x)^2 + 100 (y - x^2)^2$ has a curved, flat
# valley. Adam, which scales each coordinate's step by a running estimate of that
# coordinate's gradient size, is shown for comparison.

# %%
specs = ["sgd:lr=0.001@SGD", "sgd:lr=0.001,momentum=0.9@momentum 0.9",
         "sgd:lr=0.001,momentum=0.9,nesterov=True@Nesterov", "adam:lr=0.05@Adam"]
banana = run_paths("rosenbrock", specs, steps=400)
for t in banana.trajectories:
    x, y = t.xy[-1]
    print(f"{t.label:16s} after {t.steps} steps at ({x:+.3f}, {y:+.3f}), f = {t.loss[-1]:.2e}")
plot_paths(banana)

# %% [markdown]
# ## The learning-rate change on a real problem
#
# A step schedule that divides the rate by 10 halfway is where the two forms differ.
# The same network trained on the digits with each form, same initial weights and
# batches; the loss of every step just after the drop:

# %%
from gradstep import models
from gradstep.data import Standardize, stratified_split
from gradstep.datasets import load_digits

digits = load_digits()
x_tr, x_te, y_tr, y_te = stratified_split(digits.x, digits.y, 0.2,
                                          generator=np.random.default_rng(0))
scale = Standardize().fit(x_tr)
x_tr, x_te = scale.transform(x_tr), scale.transform(x_te)

hists = {}
for form in ("pytorch", "sutskever"):
    model = models.mlp(64, [32], 10, generator=0)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, momentum_form=form)
    sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)
    hists[form] = gs.fit(model, (x_tr, y_tr), optimizer=opt, scheduler=sched, epochs=6,
                         batch_size=32, val=(x_te, y_te), verbose=0)
steps_per_epoch = len(hists["pytorch"].steps["loss"]) // 6
drop = 3 * steps_per_epoch
for form, h in hists.items():
    after = h.steps["loss"][drop:drop + 5]
    same = np.allclose(h.steps["loss"][:drop], hists["pytorch"].steps["loss"][:drop],
                       rtol=1e-5)
    print(f"{form:10s} identical to the PyTorch form before the drop: {same}; "
          f"5 steps after: {np.round(after, 4).tolist()}; final val acc "
          f"{h['val_accuracy'][-1]:.2%}")
