"""atheris (libFuzzer) harnesses for gradstep's file readers.

Run one directly for a long campaign, e.g.::

    python tests/reliability/fuzz/harness.py safetensors -runs=1000000 -max_len=65536

Targets: ``safetensors`` (read_safetensors + load + rebuild from config), ``idx``
(read_idx, raw and gzip), ``csv`` (load_csv), ``toml`` (the CLI's config reader). Each
input is written to a temporary file and read; gradstep's typed errors are expected,
anything else (another exception, a crash, a hang) is a finding. CI runs each target
briefly (tests/reliability/test_atheris.py) when atheris is installed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import atheris
import numpy  # noqa: F401  (imported first so that only gradstep is instrumented)

with atheris.instrument_imports(include=["gradstep"]):
    import gradstep
    from gradstep import _safetensors as st_format
    from gradstep import cli
    from gradstep.data import idx, load_csv
    from gradstep.errors import CheckpointError, ConfigError, DataError

_DIR = tempfile.mkdtemp(prefix="gradstep-fuzz-")


def _file(data: bytes, suffix: str) -> str:
    path = os.path.join(_DIR, "input" + suffix)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _safetensors(data: bytes) -> None:
    p = _file(data, ".safetensors")
    for fn in (lambda: st_format.read_safetensors(p), lambda: gradstep.load(p),
               lambda: gradstep.load_checkpoint(p)):
        try:
            fn()
        except CheckpointError:
            pass


def _idx(data: bytes) -> None:
    p = _file(data, ".idx")
    try:
        idx.read_idx(p)
    except DataError:
        pass


def _csv(data: bytes) -> None:
    p = _file(data, ".csv")
    try:
        ds = load_csv(p)
    except DataError:
        return
    import numpy as np

    assert np.isfinite(ds.x).all()


def _toml(data: bytes) -> None:
    p = _file(data, ".toml")
    args = cli.build_parser().parse_args(["train", "--config", p])
    try:
        cli.resolve_train_config(args)
    except ConfigError:
        pass


TARGETS: dict[str, Callable[[bytes], Any]] = {
    "safetensors": _safetensors, "idx": _idx, "csv": _csv, "toml": _toml,
}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
