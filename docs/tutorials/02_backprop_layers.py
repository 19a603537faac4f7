# %% [markdown]
# # 2. Backpropagation, layer by layer
#
# Tutorial 1 differentiated one neuron. A network is layers of neurons, and
# backpropagation computes the gradient of the loss for every weight of every layer in
# one sweep from the output back to the input. This tutorial writes that sweep out in
# NumPy for a small network, checks every gradient against gradstep's `backward()`, and
# then uses the same equations to explain why deep sigmoid networks learn slowly:
# the *vanishing gradient*.
#
# A fully connected layer $l$ computes $z^l = a^{l-1} W^{l\top} + b^l$ and
# $a^l = \sigma(z^l)$ for a batch of rows (PyTorch's layout: $W^l$ has one row per output
# unit). With the error $\delta^l = \partial L / \partial z^l$, the chain rule gives four
# equations (in the notation of Nielsen's *Neural Networks and Deep Learning*, ch. 2):
#
# $$
# \begin{aligned}
# \delta^L &= \frac{\partial L}{\partial a^L} \odot \sigma'(z^L)
#   && \text{the error at the output layer} \\
# \delta^{l} &= \big(\delta^{l+1} W^{l+1}\big) \odot \sigma'(z^{l})
#   && \text{the error moves one layer back} \\
# \frac{\partial L}{\partial W^l} &= \delta^{l\top} a^{l-1},\qquad
# \frac{\partial L}{\partial b^l} = \textstyle\sum_{\text{batch}} \delta^l
#   && \text{the gradients of the layer's parameters}
# \end{aligned}
# $$

# %%
import numpy as np

import gradstep as gs
from gradstep import nn

rng = np.random.default_rng(0)
sizes = [4, 5, 3, 2]                       # input, two hidden layers, output
model = nn.Sequential(
    nn.Linear(4, 5, generator=rng, dtype=np.float64), nn.Sigmoid(),
    nn.Linear(5, 3, generator=rng, dtype=np.float64), nn.Sigmoid(),
    nn.Linear(3, 2, generator=rng, dtype=np.float64), nn.Sigmoid(),
)
x = rng.standard_normal((8, 4))            # a batch of 8 examples
y = rng.uniform(size=(8, 2))               # targets in (0, 1)
print(model)

# %% [markdown]
# ## The forward pass, keeping every layer's $z$ and $a$
#
# The loss is the mean squared error over the batch, $L = \frac{1}{2N}\sum \lVert a^L -
# y\rVert^2$, so $\partial L / \partial a^L = (a^L - y) / N$.

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))

Ws = [m.weight.detach().numpy() for m in model if isinstance(m, nn.Linear)]
bs = [m.bias.detach().numpy() for m in model if isinstance(m, nn.Linear)]
N = len(x)

a, zs, acts = x, [], [x]
for W, b in zip(Ws, bs):
    z = a @ W.T + b
    a = sigmoid(z)
    zs.append(z)
    acts.append(a)
loss = 0.5 * ((a - y) ** 2).sum() / N
print(f"loss = {loss:.8f}")

# %% [markdown]
# ## The backward pass by the four equations

# %%
delta = (acts[-1] - y) / N * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
grads_W, grads_b = [None] * 3, [None] * 3
for l in (2, 1, 0):
    grads_W[l] = delta.T @ acts[l]
    grads_b[l] = delta.sum(axis=0)
    if l > 0:
        delta = (delta @ Ws[l]) * sigmoid(zs[l - 1]) * (1 - sigmoid(zs[l - 1]))
for l in range(3):
    print(f"layer {l + 1}: dL/dW shape {grads_W[l].shape}, "
          f"|dL/dW| = {np.linalg.norm(grads_W[l]):.6f}, |dL/db| = {np.linalg.norm(grads_b[l]):.6f}")

# %% [markdown]
# ## The same gradients from `backward()`
#
# gradstep's engine runs the same sweep: every operation of the forward pass left a
# node in a graph with its local derivative, and `backward()` walks the graph from the
# loss back, multiplying as it goes. The two agree to rounding error:

# %%
out = model(gs.tensor(x))
loss_t = 0.5 * ((out - gs.tensor(y)) ** 2).sum() / N
loss_t.backward()
linears = [m for m in model if isinstance(m, nn.Linear)]
for l, lin in enumerate(linears):
    dw = np.abs(lin.weight.grad.numpy() - grads_W[l]).max()
    db = np.abs(lin.bias.grad.numpy() - grads_b[l]).max()
    print(f"layer {l + 1}: largest difference dW {dw:.1e}, db {db:.1e}")

# %% [markdown]
# ## Vanishing gradients
#
# Each step back multiplies the error by a layer's weights and by $\sigma'(z)$, and the
# sigmoid's derivative is at most $1/4$ (at $z = 0$). With weights of moderate size the
# error therefore shrinks by a roughly constant factor per layer: the first layers of a
# deep sigmoid network receive gradients orders of magnitude smaller than the last ones,
# and learn correspondingly slowly. ReLU's derivative is 1 where the unit is active, and
# with He initialisation (weights scaled by $\sqrt{2 / \text{fan-in}}$) the error keeps
# its size from layer to layer.
#
# Below: two networks with 8 hidden layers of 32 units on the handwritten digits, one
# with sigmoid and PyTorch's default initialisation, one with ReLU and He
# initialisation. We measure the norm of each layer's weight gradient on one batch
# before any training.

# %%
from gradstep.datasets import load_digits


def deep_mlp(activation, depth=8, width=32, seed=0):
    gen = np.random.default_rng(seed)
    sizes = [64] + [width] * depth + [10]
    layers = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1], generator=gen)
        if activation == "relu":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu", generator=gen)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.Sigmoid() if activation == "sigmoid" else nn.ReLU())
    return nn.Sequential(*layers)


digits = load_digits()
xd, yd = digits.x / 16.0, digits.y
profile = {}
for act in ("sigmoid", "relu"):
    net = deep_mlp(act)
    nn.CrossEntropyLoss()(net(gs.tensor(xd[:256])), yd[:256]).backward()
    profile[act] = [np.linalg.norm(m.weight.grad.numpy()) for m in net
                    if isinstance(m, nn.Linear)]
print("layer   sigmoid     relu")
for i, (s, r) in enumerate(zip(profile["sigmoid"], profile["relu"]), start=1):
    print(f"{i:5d}   {s:.2e}   {r:.2e}")
print(f"first/last layer: sigmoid {profile['sigmoid'][0] / profile['sigmoid'][-1]:.1e}, "
      f"relu {profile['relu'][0] / profile['relu'][-1]:.1e}")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6.5, 3.5))
layers = np.arange(1, len(profile["sigmoid"]) + 1)
ax.semilogy(layers, profile["sigmoid"], "o-", label="sigmoid, default init")
ax.semilogy(layers, profile["relu"], "s--", label="ReLU, He init")
ax.set_xlabel("layer (1 = next to the input)")
ax.set_ylabel("||dL/dW||")
ax.set_title("Gradient norm per layer at initialisation")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## What it does to training
#
# The `LayerTracker` callback records, for every parameter and every step of `fit`, the
# gradient norm, the weight norm and the update-to-weight ratio $\lVert\Delta w\rVert /
# \lVert w\rVert$. Three epochs of SGD with momentum on the same data:

# %%
from gradstep import optim
from gradstep.viz.layers import LayerTracker, gradient_ratio

for act in ("sigmoid", "relu"):
    net = deep_mlp(act)
    opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    tracker = LayerTracker()
    hist = gs.fit(net, (xd[:1024], yd[:1024]), optimizer=opt, epochs=3, batch_size=64,
                  verbose=0, callbacks=[tracker])
    first = tracker.stats.array("update_ratio", "0.weight")[-10:].mean()
    last = tracker.stats.array("update_ratio", "16.weight")[-10:].mean()
    print(f"{act:8s} loss {hist['loss'][0]:.3f} -> {hist['loss'][-1]:.3f}   "
          f"first/last layer gradient {gradient_ratio(tracker.stats):.1e}   "
          f"update/weight: first layer {first:.1e}, last layer {last:.1e}")

# %% [markdown]
# The sigmoid network's loss hardly moves in three epochs: its first layers receive
# almost no gradient, so their weights stay where initialisation put them, and the
# layers above learn from nearly random features. The ReLU network trains at once. Deep
# networks became trainable largely through such choices (ReLU, careful initialisation,
# later normalisation layers and residual connections), all aimed at keeping $\delta^l$
# of the same size in every layer.
