# %% [markdown]
# # 7. Training on several processes with MPI
#
# Mini-batch gradient descent parallelises naturally. The gradient of a batch is the
# average of its examples' gradients, so $K$ workers can each take a share of the batch,
# compute the gradient of their share, and add the results up:
#
# $$ g = \frac{1}{B}\sum_{i=1}^{B} \nabla \ell_i
#      = \frac{1}{B}\sum_{k=1}^{K}
#        \underbrace{\sum_{i \in \text{shard}_k} \nabla \ell_i}_{\text{worker } k} . $$
#
# With the summed gradient every worker applies the same update to the same weights, so
# all copies of the model stay identical. The adding-up is one MPI `Allreduce` per step.
# gradstep does this through mpi4py: `gs.fit` detects that it was started by `mpiexec`,
# and every rank takes a disjoint shard of each global batch (`batch_size` is per rank).
#
# The training script, `_mpi_train.py`, is an ordinary `fit` script:
#
# ```python
# --8<-- "tutorials/_mpi_train.py"
# ```

# %% [markdown]
# ## Two ranks against one process
#
# Two ranks with 16 examples each take exactly the steps of one process with batches of
# 32: the same permutation, the same global batches, the same update. The script trains
# in float64 so that the comparison can be tight (only the order in which the
# gradients are summed differs). The page runs `mpiexec -n 2` from the Python
# environment's own MPI (the `mpich` wheel that `pip install "gradstep[mpi]"` installs).

# %%
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import gradstep as gs
from gradstep import models

worker = str(Path(__file__).with_name("_mpi_train.py"))
mpiexec = Path(sys.executable).with_name("mpiexec")
mpiexec = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401
except ImportError:
    mpiexec = None
env = dict(os.environ, OMP_NUM_THREADS="1")
tmp = Path(tempfile.mkdtemp())

if mpiexec is None:
    print("MPI is not installed where this page was built, so nothing ran here. The "
          "command is:\n  OMP_NUM_THREADS=1 mpiexec -n 2 python -m mpi4py _mpi_train.py 16 "
          "two_ranks.safetensors")
else:
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", worker, "16",
           str(tmp / "two_ranks.safetensors")]
    print("$ mpiexec -n 2 python -m mpi4py _mpi_train.py 16 two_ranks.safetensors")
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    print(run.stdout.strip() or run.stderr.strip())
    run.check_returncode()

    cmd = [sys.executable, worker, "32", str(tmp / "one_process.safetensors")]
    print("\n$ python _mpi_train.py 32 one_process.safetensors")
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    print(run.stdout.strip() or run.stderr.strip())
    run.check_returncode()

# %% [markdown]
# The two runs end with the same weights, up to the rounding of a sum taken in a
# different order:

# %%
if mpiexec is not None:
    weights = {}
    for name in ("two_ranks", "one_process"):
        model = models.mlp(64, [64], 10, generator=0, dtype=np.float64)
        gs.load_weights(tmp / f"{name}.safetensors", model)
        weights[name] = model.state_dict()
    for key, w in weights["one_process"].items():
        rel = np.abs(weights["two_ranks"][key] - w).max() / np.abs(w).max()
        print(f"{key:9s} largest relative difference {rel:.1e}")

# %% [markdown]
# ## When it pays
#
# Each step now costs the forward and backward pass on $B/K$ examples plus one
# `Allreduce` of the whole gradient (here 4,810 numbers; for a large model, millions).
# Data parallelism pays when the pass on a shard takes much longer than the
# communication: big batches, big models, one otherwise idle core (or machine) per rank.
# On a network this small, and on a machine whose cores are shared, two ranks are often
# no faster than one; the [distributed-training guide](../distributed.md) has
# measurements. The examples/s
# figures above are from the machine named at the top of this page.
#
# The same script runs on a cluster: `mpiexec -f hosts -n 32 python -m mpi4py
# train_script.py` with a host file, or `srun --mpi=pmix python -m mpi4py
# train_script.py` under Slurm, with mpi4py built against the site's MPI (see the
# guide). `python -m mpi4py` makes an exception on any rank abort the whole job instead
# of leaving the others waiting.
