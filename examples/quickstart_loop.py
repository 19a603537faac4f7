"""PyTorch-style training loop on the digits: forward, loss.backward(), optimizer.step()."""

import numpy as np

import gradstep as gs
from gradstep import nn, optim
from gradstep.data import DataLoader, Standardize, load_digits, stratified_split

ds = load_digits()
x_tr, x_te, y_tr, y_te = stratified_split(ds.x, ds.y, 0.2, generator=np.random.default_rng(0))
scale = Standardize().fit(x_tr)
x_tr, x_te = scale.transform(x_tr), scale.transform(x_te)

rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(64, 128, generator=rng), nn.ReLU(),
                      nn.Linear(128, 10, generator=rng))
loss_fn = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loader = DataLoader((x_tr, y_tr), batch_size=32, shuffle=True, generator=np.random.default_rng(0))

for epoch in range(10):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(gs.tensor(xb)), yb)
        loss.backward()
        optimizer.step()
    with gs.no_grad():
        acc = gs.metrics.accuracy(model(gs.tensor(x_te)).data, y_te)
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}  test accuracy {acc:.4f}")
