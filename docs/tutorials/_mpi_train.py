"""Train an MLP on the digits with gs.fit: `python _mpi_train.py BATCH OUT.safetensors`.

Under `mpiexec -n K` every rank runs this same script; fit sees the MPI launch, shards
each global batch of K * BATCH examples across the ranks, sums the gradients with one
Allreduce per step, and lets only rank 0 print and write files.
"""

import sys

import numpy as np

import gradstep as gs
from gradstep import distributed, models, optim
from gradstep.data import Standardize, stratified_split
from gradstep.datasets import load_digits

batch_size, out = int(sys.argv[1]), sys.argv[2]
digits = load_digits()
x_tr, x_te, y_tr, y_te = stratified_split(digits.x, digits.y, 0.2,
                                          generator=np.random.default_rng(0))
scale = Standardize().fit(x_tr)
x_tr, x_te = scale.transform(x_tr), scale.transform(x_te)

model = models.mlp(64, [64], 10, generator=0, dtype=np.float64)
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
history = gs.fit(model, (x_tr.astype(np.float64), y_tr), optimizer=opt, epochs=5,
                 batch_size=batch_size, val=(x_te.astype(np.float64), y_te), verbose=0)

if distributed.is_main():
    print(f"{distributed.world_size()} rank(s), batch {batch_size} per rank: "
          f"{len(history.steps['loss'])} steps, val accuracy {history['val_accuracy'][-1]:.2%}, "
          f"{history['samples_per_s'][-1]:,.0f} examples/s in the last epoch")
    gs.save_weights(out, model)
