# %% [markdown]
# # 6. Coming from PyTorch: the same script both ways
#
# Where gradstep and PyTorch share a name, it means what it means in PyTorch:
# `nn.Linear`, `nn.CrossEntropyLoss(label_smoothing=...)`, `optim.SGD(momentum=...,
# nesterov=..., weight_decay=...)`, `lr_scheduler.StepLR`, `zero_grad()`, `backward()`,
# `step()`, `state_dict()` with PyTorch's key names. This page trains one network twice,
# once with PyTorch and once with gradstep, from the same initial weights on the same
# batches, and compares the two runs step by step.
#
# (It needs PyTorch: `pip install torch`; gradstep's tests use it as their reference.)

# %% [markdown]
# ## The data and the batches
#
# Both runs see the same mini-batches in the same order: the handwritten digits,
# standardised, cut into batches of 32 by one seeded permutation per epoch.

# %%
import numpy as np
import torch

from gradstep.data import Standardize, stratified_split
from gradstep.datasets import load_digits

torch.set_num_threads(1)
digits = load_digits()
x_tr, x_te, y_tr, y_te = stratified_split(digits.x, digits.y, 0.2,
                                          generator=np.random.default_rng(0))
scale = Standardize().fit(x_tr)
x_tr, x_te = scale.transform(x_tr), scale.transform(x_te)
perm_rng = np.random.default_rng(0)
epochs = [np.array_split(perm_rng.permutation(len(x_tr)), len(x_tr) // 32) for _ in range(3)]
print(f"{len(x_tr)} training examples, {len(epochs[0])} batches per epoch, 3 epochs")

# %% [markdown]
# ## PyTorch

# %%
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                      weight_decay=1e-4)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

torch_losses = []
for batches in epochs:
    for idx in batches:
        opt.zero_grad()
        loss = loss_fn(model(torch.tensor(x_tr[idx])), torch.tensor(y_tr[idx]))
        loss.backward()
        opt.step()
        torch_losses.append(loss.item())
    sched.step()
torch_weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
print(f"PyTorch: loss {torch_losses[0]:.4f} -> {torch_losses[-1]:.4f}, "
      f"lr now {sched.get_last_lr()[0]}")

# %% [markdown]
# ## gradstep
#
# The same script with `torch` replaced by `gradstep`. Two lines differ in substance:
# the model starts from PyTorch's initial weights (`load_state_dict` takes PyTorch's key
# names), and inputs become tensors with `gs.tensor` (class labels may stay NumPy
# integer arrays).

# %%
import gradstep as gs
from gradstep import nn, optim

model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
model.load_state_dict(initial)
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                weight_decay=1e-4)
sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

gradstep_losses = []
for batches in epochs:
    for idx in batches:
        opt.zero_grad()
        loss = loss_fn(model(gs.tensor(x_tr[idx])), y_tr[idx])
        loss.backward()
        opt.step()
        gradstep_losses.append(loss.item())
    sched.step()
gradstep_weights = model.state_dict()
print(f"gradstep: loss {gradstep_losses[0]:.4f} -> {gradstep_losses[-1]:.4f}, "
      f"lr now {sched.get_last_lr()[0]}")

# %% [markdown]
# ## The two runs, step by step
#
# Both compute in float32. Their arithmetic is not identical (different matrix-product
# kernels sum in different orders), so they agree to float32 rounding, not bit for bit;
# over 132 steps of momentum the differences stay at that level.

# %%
diff = np.abs(np.array(torch_losses) - np.array(gradstep_losses))
print(f"loss, largest difference over {len(diff)} steps: {diff.max():.2e}")
for key in initial:
    d = np.abs(torch_weights[key] - gradstep_weights[key]).max()
    print(f"{key:9s} largest weight difference after training: {d:.2e}")
for step in (0, 1, 2, 43, 87, 131):
    print(f"step {step + 1:3d}: PyTorch {torch_losses[step]:.6f}   "
          f"gradstep {gradstep_losses[step]:.6f}")

# %% [markdown]
# ## What differs
#
# * **Randomness.** gradstep has `gs.manual_seed` like PyTorch, and every layer,
#   initialiser and loader also takes an explicit `generator=` (a NumPy
#   `Generator`), which makes a script's randomness visible where it is used.
# * **Arrays.** gradstep computes on NumPy arrays: `gs.tensor(a)` wraps one, and
#   `t.detach().numpy()` gives it back without a copy. There is no device to move to.
# * **Weights files.** `gs.save_weights` writes a safetensors file with PyTorch's names
#   and layouts, which `torch.nn.Module.load_state_dict` reads (see
#   [Interoperability](../interop.md)); a trained gradstep network also exports to ONNX.
