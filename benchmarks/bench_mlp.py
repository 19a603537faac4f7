"""MLP training throughput: gradstep vs PyTorch CPU vs scikit-learn vs hand-written NumPy.

Model 784-256-128-10 ReLU, softmax cross-entropy, float32, SGD lr 0.05 momentum 0.9, on a
synthetic 60,000-sample set (MNIST-like: pixels in [0, 1], a sparse template per class
plus noise; the timing does not depend on the values). One training step is: gather the batch, zero the gradients, forward,
loss, backward, update. Contenders:

* ``gradstep``: the public API, ``gradstep.nn`` model + ``CrossEntropyLoss`` +
  ``gradstep.optim.SGD`` in a PyTorch-style loop over a ``gradstep.data.DataLoader``;
* ``gradstep flat``: the same with ``SGD(..., flat=True)`` (one flat parameter buffer);
* ``gradstep fit``: ``gradstep.fit`` (flat SGD), the training loop the library ships;
* ``numpy``: a hand-written forward/backward/update with preallocated buffers (the floor
  for NumPy code; like gradstep's SGD it zeroes momentum entries below 2**-100 every 64
  steps, which keeps them out of the subnormal range where Intel CPUs are ~50x slower);
* ``torch`` (default threads) and ``torch 1thr``: ``torch.nn`` + ``torch.optim.SGD``, batches
  gathered by tensor indexing from a ``randperm`` (the fastest idiomatic PyTorch loop);
* ``sklearn``: ``MLPClassifier(solver="sgd", alpha=0, momentum=0.9,
  nesterovs_momentum=False, learning_rate_init=0.05)``, ``partial_fit`` on float32 input.

All contenders start from the same weights; before timing, each takes two steps on the same
batch and the two losses must agree with the NumPy reference (rtol 1e-4): same forward,
same gradient, same update rule. Timing: every contender trains ``block`` samples in turn
(its epochs continue from block to block), interleaved rounds, medians and min-max of
samples/s; batch 1 trains a slice (a few hundred samples) and scales, full batch one step
(= one epoch) per block. Peak RSS is measured per contender in its own child process.

    python benchmarks/bench_mlp.py [--batches 1,32,128,1024,full] [--repeats 5] [--quick]
                                   [--contenders ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

N = 60_000
SIZES = (784, 256, 128, 10)
LR, MOMENTUM = 0.05, 0.9
CONTENDERS = (
    "gradstep", "gradstep flat", "gradstep fit", "numpy", "torch", "torch 1thr", "sklearn"
)
# samples per timed block (default run / --quick)
BLOCK = {1: 400, 32: 8192, 128: 15360, 1024: 30720, N: N}
BLOCK_QUICK = {1: 200, 32: 4096, 128: 7680, 1024: 15360, N: N}


def make_data(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like synthetic data: pixels in [0, 1], a sparse template per class plus noise
    (learnable, so that SGD at lr 0.05 momentum 0.9 stays finite as on real images)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, SIZES[-1], n)
    templates = (rng.random((SIZES[-1], SIZES[0])) < 0.2).astype(np.float32)
    x = np.empty((n, SIZES[0]), dtype=np.float32)
    for s in range(0, n, 4096):  # in chunks: no data-sized temporaries in the peak RSS
        xs = x[s : s + 4096]
        rng.random(xs.shape, dtype=np.float32, out=xs)
        xs *= 0.5
        xs += 0.5
        xs *= templates[y[s : s + 4096]]
        xs += 0.1 * rng.random(xs.shape, dtype=np.float32)
    return x, y


def init_weights(seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """PyTorch-default initialisation drawn by gradstep: [(W (out, in), b (out,)), ...]."""
    from gradstep import nn

    g = np.random.default_rng(seed)
    layers = [nn.Linear(i, o, generator=g) for i, o in zip(SIZES, SIZES[1:])]
    return [
        (lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy())  # type: ignore[union-attr]
        for lin in layers
    ]


class _Stream:
    """Successive batches of shuffled epochs (index arrays), for the hand-written loops."""

    def __init__(self, n: int, b: int, seed: int) -> None:
        self.n, self.b = n, b
        self.rng = np.random.default_rng(seed)
        self.perm = self.rng.permutation(n)
        self.pos = 0

    def next(self) -> np.ndarray:
        if self.pos + self.b > self.n:
            self.perm = self.rng.permutation(self.n)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.b]
        self.pos += self.b
        return idx


# --------------------------------------------------------------------------- gradstep
class GradstepLoop:
    """The README's PyTorch-style loop: DataLoader, zero_grad, forward, loss, backward, step."""

    def __init__(self, x, y, b, weights, flat: bool) -> None:
        from gradstep import nn, optim
        from gradstep.data import DataLoader

        self.model = _gs_model(weights)
        self.opt = optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM, flat=flat)
        self.loss_fn = nn.CrossEntropyLoss()
        bs = "full" if b >= len(x) else b
        self.loader = DataLoader((x, y), batch_size=bs, shuffle=True,
                                 generator=np.random.default_rng(2))
        self.it = iter(self.loader)

    def _step(self, xb, yb):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss

    def check(self, xb, yb) -> float:
        return float(self._step(xb, yb).item())

    def run(self, steps: int) -> None:
        for _ in range(steps):
            batch = next(self.it, None)
            if batch is None:
                self.it = iter(self.loader)
                batch = next(self.it)
            self._step(*batch)


def _gs_model(weights):
    from gradstep import nn

    layers: list[Any] = []
    for i, (w, b) in enumerate(weights):
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.detach().numpy()[...] = w
        lin.bias.detach().numpy()[...] = b  # type: ignore[union-attr]
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class GradstepFit:
    """``gradstep.fit`` over successive slices of the data (one call per block)."""

    def __init__(self, x, y, b, weights) -> None:
        from gradstep import optim

        self.x, self.y, self.b = x, y, b
        self.model = _gs_model(weights)
        self.opt = optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM, flat=True)
        self.pos = 0
        self.calls = 0

    def _fit(self, xs, ys) -> Any:
        import gradstep as gs

        self.calls += 1
        bs = "full" if self.b >= len(self.x) else self.b
        # batch 1 at lr 0.05 momentum 0.9 has loss spikes on this data; time the loop, not
        # fit's divergence guard
        return gs.fit(self.model, (xs, ys), loss="cross_entropy", optimizer=self.opt,
                      epochs=1, batch_size=bs, verbose=0, seed=self.calls, max_loss_ratio=None)

    def check(self, xb, yb) -> float:
        return float(self._fit(xb, yb).steps["loss"][0])

    def run(self, steps: int) -> None:
        n = steps * self.b
        if self.pos + n > len(self.x):
            self.pos = 0
        self._fit(self.x[self.pos : self.pos + n], self.y[self.pos : self.pos + n])
        self.pos += n


# ------------------------------------------------------------------------------ numpy
class NumpyMLP:
    """Hand-written forward/backward/update, float32, in-place with preallocated buffers."""

    def __init__(self, x, y, b, weights) -> None:
        self.x, self.y = x, y
        self.W = [w.copy() for w, _ in weights]
        self.B = [bb.copy() for _, bb in weights]
        self.params = self.W + self.B
        self.gW = [np.zeros_like(w) for w in self.W]
        self.gB = [np.zeros_like(bb) for bb in self.B]
        self.grads = self.gW + self.gB
        self.vel = [np.zeros_like(p) for p in self.params]
        self.tmp = [np.empty_like(p) for p in self.params]
        self.stream = _Stream(len(x), b, 2)
        self.nsteps = 0

    def _step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        W, B, gW, gB = self.W, self.B, self.gW, self.gB
        n = xb.shape[0]
        acts = [xb]
        h = xb
        for i in range(3):
            h = h @ W[i].T
            h += B[i]
            if i < 2:
                np.maximum(h, 0, out=h)
            acts.append(h)
        z = h
        z -= z.max(axis=1, keepdims=True)
        rows = np.arange(n)
        zy = z[rows, yb]
        np.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        loss = float(np.add.reduce(np.log(s[:, 0]) - zy) / n)
        g = z
        g /= s
        g[rows, yb] -= 1
        g *= np.float32(1.0 / n)
        for i in (2, 1, 0):
            a = acts[i]
            if n == 1:
                np.multiply(g.T, a, out=gW[i])  # outer product: cheaper than a K=1 GEMM
            else:
                np.matmul(g.T, a, out=gW[i])
            np.add.reduce(g, axis=0, out=gB[i])
            if i:
                g = g @ W[i]
                g *= a > 0
        self.nsteps += 1
        flush = self.nsteps % 64 == 0
        for p, gr, v, t in zip(self.params, self.grads, self.vel, self.tmp):
            v *= MOMENTUM
            v += gr
            if flush:  # keep the buffers out of the (slow) subnormal range, as gradstep's SGD
                v[np.abs(v) < 2.0**-100] = 0
            np.multiply(v, LR, out=t)
            p -= t
        return loss

    def check(self, xb, yb) -> float:
        return self._step(xb, yb)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            idx = self.stream.next()
            self._step(self.x[idx], self.y[idx])


# ------------------------------------------------------------------------------ torch
class TorchMLP:
    def __init__(self, x, y, b, weights) -> None:
        import torch

        self.torch = torch
        self.xt, self.yt = torch.from_numpy(x), torch.from_numpy(y)
        layers: list[Any] = []
        for i, (w, bb) in enumerate(weights):
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(bb))
            layers.append(lin)
            if i < len(weights) - 1:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.b = b
        self.gen = torch.Generator().manual_seed(2)
        self.perm = torch.randperm(len(x), generator=self.gen)
        self.pos = 0

    def _step(self, xb, yb):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss

    def check(self, xb, yb) -> float:
        t = self.torch
        return float(self._step(t.from_numpy(xb), t.from_numpy(yb)).item())

    def run(self, steps: int) -> None:
        n = len(self.xt)
        for _ in range(steps):
            if self.pos + self.b > n:
                self.perm = self.torch.randperm(n, generator=self.gen)
                self.pos = 0
            idx = self.perm[self.pos : self.pos + self.b]
            self.pos += self.b
            self._step(self.xt[idx], self.yt[idx])


# ---------------------------------------------------------------------------- sklearn
class SklearnMLP:
    def __init__(self, x, y, b, weights) -> None:
        import warnings

        from sklearn.neural_network import MLPClassifier

        warnings.filterwarnings("ignore", module="sklearn")
        self.x, self.y, self.b = x, y, b
        self.clf = MLPClassifier(
            hidden_layer_sizes=SIZES[1:-1], activation="relu", solver="sgd", alpha=0.0,
            batch_size=b, learning_rate="constant", learning_rate_init=LR, momentum=MOMENTUM,
            nesterovs_momentum=False, shuffle=True, random_state=0, max_iter=1,
            n_iter_no_change=10**9,
        )
        self.clf.partial_fit(x[:2], y[:2], classes=np.arange(SIZES[-1]))  # allocate
        for i, (w, bb) in enumerate(weights):
            self.clf.coefs_[i][...] = w.T
            self.clf.intercepts_[i][...] = bb
        del self.clf._optimizer  # fresh momentum (zero velocities) from the set weights
        self.start = [(w.T.copy(), bb.copy()) for w, bb in weights]
        self.pos = 0
        self.restarts = 0

    def check(self, xb, yb) -> float:
        self.clf.partial_fit(xb, yb)
        return float(self.clf.loss_)

    def run(self, steps: int) -> None:
        n = steps * self.b
        if self.pos + n > len(self.x):
            self.pos = 0
        try:
            self.clf.partial_fit(self.x[self.pos : self.pos + n],
                                 self.y[self.pos : self.pos + n])
        except ValueError:
            # batch 1 at lr 0.05 momentum 0.9 diverges on this data; scikit-learn raises
            # after the block's steps were done (its check follows the loop), so the timed
            # work is complete: restart from the initial weights for the next block
            for i, (w, bb) in enumerate(self.start):
                self.clf.coefs_[i][...] = w
                self.clf.intercepts_[i][...] = bb
            del self.clf._optimizer
            self.restarts += 1
        self.pos += n


def make(name: str, x, y, b: int, weights):
    if name in ("gradstep", "gradstep flat"):
        return GradstepLoop(x, y, b, weights, flat=name.endswith("flat"))
    if name == "gradstep fit":
        return GradstepFit(x, y, b, weights)
    if name == "numpy":
        return NumpyMLP(x, y, b, weights)
    if name.startswith("torch"):
        return TorchMLP(x, y, b, weights)
    if name == "sklearn":
        return SklearnMLP(x, y, b, weights)
    raise ValueError(f"unknown contender {name!r}")


def _torch_threads(name: str, default: int) -> None:
    if name.startswith("torch"):
        import torch

        n = 1 if name.endswith("1thr") else default
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def set_blas_threads(n: int) -> None:
    """Limit NumPy's (and SciPy's) BLAS to ``n`` threads (0: leave the library default).

    Only the ``blas`` pools are touched: PyTorch's OpenMP pool keeps its own setting.
    """
    if n > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n, user_api="blas")


def rss_child(contender: str, batch: int, steps: int, blas_threads: int = 1) -> dict[str, Any]:
    """Child-process body for the peak-RSS measurement: data, model, check, ``steps`` steps."""
    set_blas_threads(blas_threads)
    x, y = make_data()
    c = make(contender, x, y, batch, init_weights())
    c.check(x[:batch], y[:batch])
    c.run(steps)
    return {"contender": contender, "batch": batch, "steps": steps}


def bench_batch(
    b: int, x, y, weights, names: list[str], repeats: int, block: int, default_threads: int
) -> dict[str, Any]:
    steps = max(1, block // b)
    cs = {}
    losses: dict[str, list[float]] = {}
    xb, yb = x[:b], y[:b]
    for name in names:
        _torch_threads(name, default_threads)
        c = make(name, x, y, b, weights)
        losses[name] = [c.check(xb, yb), c.check(xb, yb)]
        cs[name] = c
    ref = losses.get("numpy", next(iter(losses.values())))
    bad = [k for k, v in losses.items() if not np.allclose(v, ref, rtol=1e-4, atol=1e-6)]
    if bad:
        raise RuntimeError(f"batch {b}: first-step losses disagree (not the same work): {losses}")
    def runner(c: Any) -> Any:
        return lambda: c.run(steps)

    times = common.interleave(
        {k: runner(c) for k, c in cs.items()}, repeats, warmup=1,
        before=lambda k: _torch_threads(k, default_threads),
    )
    work = steps * b
    rows = {}
    for k, t in times.items():
        rows[k] = {"samples_per_s": common.rate_summary(t, work), "seconds": t}
    return {"batch": b, "steps_per_block": steps, "samples_per_block": work,
            "first_losses": losses, "contenders": rows}


def ratios(res: dict[str, Any], num: str, den: str) -> float | None:
    """Paired (per-round) ratio of samples/s: ``num`` over ``den``."""
    c = res["contenders"]
    if num not in c or den not in c:
        return None
    return common.paired_ratio(c[num]["seconds"], c[den]["seconds"])


def run(batches: list[int], names: list[str], repeats: int, quick: bool,
        rss: bool = True, blas_threads: int = 1, log=print) -> dict[str, Any]:
    set_blas_threads(blas_threads)
    default_threads = 1
    if any(n.startswith("torch") for n in names):
        import torch

        default_threads = torch.get_num_threads()
    x, y = make_data()
    weights = init_weights()
    blocks = BLOCK_QUICK if quick else BLOCK
    out: dict[str, Any] = {"batches": [], "torch_default_threads": default_threads,
                           "numpy_blas_threads": blas_threads or "library default"}
    for b in batches:
        block = blocks.get(b, max(b, 8192))
        res = bench_batch(b, x, y, weights, names, repeats, block, default_threads)
        out["batches"].append(res)
        label = "full" if b == N else str(b)
        log(f"  MLP batch {label}: " + ", ".join(
            f"{k} {v['samples_per_s']['median']:,.0f}/s" for k, v in res["contenders"].items()))
    if rss:
        out["rss"] = []
        rss_batches = [128] if quick else [128, N]
        for b in rss_batches:
            for name in names:
                steps = max(1, min(100, (BLOCK_QUICK if quick else BLOCK)[b] // b))
                r = common.peak_rss_mb("bench_mlp", "rss_child",
                                       {"contender": name, "batch": b, "steps": steps,
                                        "blas_threads": blas_threads})
                out["rss"].append(r)
            log(f"  MLP peak RSS batch {'full' if b == N else b}: " + ", ".join(
                f"{r['contender']} {r['peak_rss_mb']:.0f} MiB"
                for r in out["rss"] if r["batch"] == b))
    return out


def parse_batches(s: str) -> list[int]:
    return [N if t.strip() == "full" else int(t) for t in s.split(",")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="1,32,128,1024,full")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller blocks, RSS at batch 128 only")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="NumPy BLAS threads for the NumPy-based contenders (gradstep, numpy, "
                         "sklearn); 0: OpenBLAS default. Default 1, as `gradstep train`")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.contenders.split(",")]
    res = run(parse_batches(args.batches), names, args.repeats, args.quick, not args.no_rss,
              args.blas_threads)
    res["machine"] = common.machine()
    res["load_average"] = common.load_average()
    for r in res["batches"]:
        b = "full" if r["batch"] == N else r["batch"]
        print(f"\nbatch {b} ({r['samples_per_block']} samples/block), first losses "
              f"{r['first_losses'].get('numpy')}")
        for k, v in r["contenders"].items():
            t = ratios(r, k, "torch")
            print(f"  {k:14s} {common.fmt_rate(v['samples_per_s'])} samples/s"
                  + (f"  x{t:.2f} torch" if t else ""))
    if args.json:
        common.write_json(args.json, res)


if __name__ == "__main__":
    main()
