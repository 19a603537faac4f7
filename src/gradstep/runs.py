"""Run folders: where ``gradstep train`` keeps one run, and how it writes into it.

A run folder holds ``config.toml`` (the resolved options: ``gradstep train --config
config.toml`` repeats the run), the checkpoints (``last.safetensors``, ``best.safetensors``),
``history.csv`` / ``history.json``, ``results.json`` and the figures. Every file is written
atomically (temporary file, fsync, rename) with the user's umask.

* :func:`default_run_dir`: ``runs/<dataset>-<model>-<time>``, never an existing folder.
* :func:`prepare_run_dir`: refuse to write into a folder that holds a run, unless asked to
  replace it, and then remove the old run's files first (no stale file survives).
* :func:`write_config`, :func:`write_json`, :func:`write_history`: the run's text files.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gradstep._atomic import atomic_write_text
from gradstep.errors import ConfigError

__all__ = [
    "RUN_FILES",
    "default_run_dir",
    "holds_run",
    "prepare_run_dir",
    "toml_text",
    "write_config",
    "write_history",
    "write_json",
]

#: Files that mark a folder as holding a run (any one of them).
RUN_FILES = ("config.toml", "last.safetensors", "best.safetensors", "history.json",
             "history.csv", "results.json")

#: Options of ``config.toml`` that describe an invocation rather than the run.
_NOT_RECORDED = ("resume", "out", "config", "overwrite", "download")


def default_run_dir(dataset: str, model: str, root: str | os.PathLike[str] = "runs") -> Path:
    """``root/<dataset>-<model kind>-<YYYYmmdd-HHMMSS>``, suffixed ``-2``, ``-3``... if taken."""
    if dataset.startswith("csv:"):
        ds = Path(dataset[4:]).stem or "csv"
    else:
        ds = dataset
    kind = model.split(":", 1)[0]
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{ds}-{kind}-{stamp}"
    p, i = base, 1
    while p.exists():
        i += 1
        p = base.with_name(f"{base.name}-{i}")
    return p


def holds_run(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds any file of a run (see :data:`RUN_FILES`)."""
    d = Path(folder)
    return d.is_dir() and any((d / name).exists() for name in RUN_FILES)


def _is_run_output(name: str) -> bool:
    return (name in RUN_FILES or name.endswith((".safetensors", ".png", ".gif"))
            or name in ("layers.json",))


def prepare_run_dir(folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Create ``folder`` for a new run, refusing to mix it with an existing run.

    Args:
        folder: the run folder (created with its parents).
        overwrite: when ``folder`` holds a run, first remove every file a run writes
            (checkpoints, histories, results, figures, config); other files are kept.

    Returns:
        ``folder`` as a Path.

    Raises:
        ConfigError: ``folder`` holds a run and ``overwrite`` is false (the message suggests
            ``--resume`` or another name), is a file, or cannot be created or written.
    """
    d = Path(folder)
    if d.exists() and not d.is_dir():
        raise ConfigError(f"--out: {d} exists and is not a folder")
    if holds_run(d):
        if not overwrite:
            hint = d / "last.safetensors"
            resume = f"--resume {hint} to continue it, " if hint.exists() else ""
            raise ConfigError(
                f"--out: {d} already holds a run; use {resume}another --out, or --overwrite "
                "to replace it"
            )
        for child in d.iterdir():
            if child.is_file() and _is_run_output(child.name):
                child.unlink()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {d}: {exc.strerror or exc}") from None
    if not os.access(d, os.W_OK):
        raise ConfigError(f"--out: {d} is not writable")
    return d


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def toml_text(cfg: Mapping[str, Any]) -> str:
    """The ``config.toml`` text of resolved options (``None`` values and invocation-only
    options such as ``resume`` and ``out`` left out)."""
    lines = ["# gradstep train --config config.toml repeats this run\n"]
    for k, v in cfg.items():
        if v is None or k in _NOT_RECORDED:
            continue
        lines.append(f"{k.replace('_', '-')} = {_toml_value(v)}\n")
    return "".join(lines)


def write_config(run: str | os.PathLike[str], cfg: Mapping[str, Any]) -> Path:
    """Write ``run/config.toml`` atomically."""
    return atomic_write_text(Path(run) / "config.toml", toml_text(cfg))


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (non-finite floats become ``null``)."""
    return atomic_write_text(path, json.dumps(_clean(obj), indent=1) + "\n")


def write_history(run: str | os.PathLike[str], history: Any) -> None:
    """Write ``history.csv`` (one row per epoch) and ``history.json`` atomically."""
    d = history.to_dict()
    keys = list(d["history"])
    rows = [",".join(["epoch", *keys])]
    for i, e in enumerate(d["epoch"]):
        rows.append(",".join([str(e)] + [repr(d["history"][k][i]) for k in keys]))
    atomic_write_text(Path(run) / "history.csv", "\n".join(rows) + "\n")
    write_json(Path(run) / "history.json", d)
