"""The same network trained with gradstep.fit: callbacks, checkpoints, exact resume."""

import numpy as np

import gradstep as gs
from gradstep import callbacks, models, optim
from gradstep.data import Standardize, load_digits, stratified_split

ds = load_digits()
x_tr, x_te, y_tr, y_te = stratified_split(ds.x, ds.y, 0.2, generator=np.random.default_rng(0))
scale = Standardize().fit(x_tr)
x_tr, x_te = scale.transform(x_tr), scale.transform(x_te)

model = models.mlp(64, [128], 10, generator=0)
optimizer = optim.Adam(model.parameters(), lr=1e-3)
history = gs.fit(
    model, (x_tr, y_tr), loss="cross_entropy", optimizer=optimizer, epochs=15, batch_size=32,
    val=(x_te, y_te),
    scheduler=optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=15),
    callbacks=[callbacks.ModelCheckpoint("runs/example"), callbacks.EarlyStopping(patience=5)],
    verbose=2,
)
print("test:", gs.evaluate(model, (x_te, y_te)))
# continue the same run to 20 epochs, bit-identically to an uninterrupted 20-epoch run:
# gs.fit(model, (x_tr, y_tr), optimizer=optimizer, epochs=20,
#        resume="runs/example/last.safetensors")
