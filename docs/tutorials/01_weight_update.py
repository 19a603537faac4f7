# %% [markdown]
# # 1. The weight update by hand
#
# Gradient descent changes every weight of a network a little against its gradient:
#
# $$ w \leftarrow w - \eta \, \frac{\partial L}{\partial w} $$
#
# where $L$ is the loss and $\eta$ the learning rate. This tutorial does that for the
# smallest network there is, one neuron, first with pencil-and-paper calculus and then
# with gradstep's `backward()`, and checks that both give the same numbers.
#
# The neuron takes one input $x$, has one weight $w$ and one bias $b$, and squashes its
# weighted input $z$ with the sigmoid $\sigma(z) = 1 / (1 + e^{-z})$. The loss compares
# its output $a$ with the target $y$ by the squared error:
#
# $$ z = w x + b, \qquad a = \sigma(z), \qquad L = \tfrac12 (a - y)^2 . $$

# %%
import math

import numpy as np

import gradstep as gs

x, y = 1.5, 0.0          # one training example: input and target
w, b = 0.8, 0.2          # the neuron's starting weight and bias
lr = 0.5                 # the learning rate, eta

z = w * x + b
a = 1 / (1 + math.exp(-z))
loss = 0.5 * (a - y) ** 2
print(f"z = {z:.6f}   a = {a:.6f}   L = {loss:.6f}")

# %% [markdown]
# ## The gradient by the chain rule
#
# $L$ depends on $w$ only through $z$ and $a$, so the chain rule multiplies the three
# local derivatives along that path:
#
# $$ \frac{\partial L}{\partial w}
#    = \frac{\partial L}{\partial a}\,\frac{\partial a}{\partial z}\,\frac{\partial z}{\partial w}
#    = (a - y)\cdot \sigma(z)\,(1 - \sigma(z)) \cdot x ,
# \qquad
# \frac{\partial L}{\partial b} = (a - y)\cdot \sigma(z)\,(1 - \sigma(z)) \cdot 1 . $$
#
# The product of the first two factors, $\delta = \partial L / \partial z$, is the
# neuron's *error*; backpropagation passes exactly this quantity from layer to layer.

# %%
delta = (a - y) * a * (1 - a)     # dL/dz
grad_w = delta * x                # dL/dw
grad_b = delta                    # dL/db
print(f"delta = dL/dz = {delta:.6f}")
print(f"dL/dw = {grad_w:.6f}   dL/db = {grad_b:.6f}")

# %% [markdown]
# ## The same gradient from `backward()`
#
# gradstep records the operations on tensors that have `requires_grad=True` and walks
# them backwards, applying the same chain rule mechanically. We compute in float64 so
# that the two results can be compared to the last digits.

# %%
wt = gs.tensor(w, dtype=np.float64, requires_grad=True)
bt = gs.tensor(b, dtype=np.float64, requires_grad=True)
a_t = (wt * x + bt).sigmoid()
loss_t = 0.5 * (a_t - y) ** 2
loss_t.backward()
print(f"backward(): dL/dw = {wt.grad.item():.6f}   dL/db = {bt.grad.item():.6f}")
print("agree with the chain rule:",
      math.isclose(wt.grad.item(), grad_w, rel_tol=1e-12),
      math.isclose(bt.grad.item(), grad_b, rel_tol=1e-12))

# %% [markdown]
# ## One step of gradient descent
#
# The update moves each parameter against its gradient, scaled by the learning rate.
# Both gradients are positive here (the output is too large for the target 0), so both
# parameters decrease, and the loss after the step is smaller.

# %%
w_new = w - lr * grad_w
b_new = b - lr * grad_b
a_new = 1 / (1 + math.exp(-(w_new * x + b_new)))
print(f"w: {w:.6f} -> {w_new:.6f}    b: {b:.6f} -> {b_new:.6f}")
print(f"loss before {loss:.6f}, after one step {0.5 * (a_new - y) ** 2:.6f}")

# %% [markdown]
# gradstep's optimizer does the same update. `optim.SGD` without momentum is exactly
# $p \leftarrow p - \eta\, g$ for every parameter $p$ it was given; it reads the
# gradients that `backward()` left in `.grad`:

# %%
from gradstep import optim

opt = optim.SGD([wt, bt], lr=lr)
opt.step()
print(f"optim.SGD: w = {wt.item():.6f}   b = {bt.item():.6f}")
print("same as by hand:", math.isclose(wt.item(), w_new, rel_tol=1e-12),
      math.isclose(bt.item(), b_new, rel_tol=1e-12))

# %% [markdown]
# ## Many steps
#
# Repeating forward pass, backward pass and update is all that training is. Gradients
# *accumulate* in `.grad` across `backward()` calls (as in PyTorch), so every step starts
# by zeroing them. The loss falls quickly at first and then slowly: near the target the
# sigmoid's output saturates and its derivative $\sigma(1-\sigma)$, a factor of every
# gradient, gets small.

# %%
import matplotlib.pyplot as plt

losses = []
for _ in range(60):
    opt.zero_grad()
    loss_t = 0.5 * ((wt * x + bt).sigmoid() - y) ** 2
    loss_t.backward()
    opt.step()
    losses.append(loss_t.item())
print(f"after {len(losses) + 1} steps: w = {wt.item():.4f}, b = {bt.item():.4f}, "
      f"loss = {losses[-1]:.6f}")

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(range(2, len(losses) + 2), losses, marker="o", markersize=3)
ax.set_xlabel("step")
ax.set_ylabel("loss L")
ax.set_yscale("log")
ax.set_title("One neuron, gradient descent with lr = 0.5")
fig.tight_layout()
