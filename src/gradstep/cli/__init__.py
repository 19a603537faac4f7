"""The ``gradstep`` command: train, evaluate, predict, export, compare, paths, step.

Each subcommand lives in its own module (:mod:`gradstep.cli.train`, ...) with a
``register(subparsers)`` function and a handler; the options of ``train`` and their checks
are in :mod:`gradstep.cli._options`. The command only parses options and calls the
library. Bad input (an unknown option or value, a missing file or data set, a missing
optional package) prints one line on stderr and exits with status 2; a diverged run exits
with 1; Ctrl-C with 130 and SIGTERM with 143, after saving a resumable checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gradstep import distributed
from gradstep.cli import compare, evaluate, export, paths, predict, step, train
from gradstep.cli._common import Parser, UsageError, missing_package, one_line
from gradstep.cli._options import TRAIN_OPTIONS, resolve_train_config
from gradstep.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    NonFiniteError,
    TrainingInterrupted,
)

__all__ = ["TRAIN_OPTIONS", "UsageError", "build_parser", "main", "resolve_train_config"]

_UsageError = UsageError  # the name the reliability tests use

MAIN_EXAMPLES = """\
examples:
  gradstep train                                   # MLP on digits, writes runs/<name>/
  gradstep evaluate runs/digits-mlp/last.safetensors
  gradstep predict runs/digits-mlp/last.safetensors inputs.npy
  gradstep export runs/digits-mlp/last.safetensors model.onnx
  gradstep compare                                 # batch 1 / 32 / full, with and without momentum
  gradstep paths --function rosenbrock             # optimizer paths on a 2-D function
  gradstep step --explain                          # one update of a tiny network, number by number
  gradstep train --help                            # every training option
"""

_COMMANDS = (train, evaluate, predict, export, compare, paths, step)


def _version() -> str:
    from gradstep import __version__

    return f"gradstep {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``gradstep`` command with every subcommand."""
    p = Parser(prog="gradstep", description="Train neural networks by gradient descent on NumPy.",
               epilog=MAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=_version(),
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command",
                           metavar="{train,evaluate,predict,export,compare,paths,step}",
                           parser_class=Parser)
    for module in _COMMANDS:
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gradstep`` command; returns the exit status."""
    return distributed.abort_if_failed(_main(argv))  # under mpiexec a failure ends all ranks


def _err(msg: str) -> None:
    print(f"gradstep: error: {msg}", file=sys.stderr)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.handler(args))
    except UsageError as exc:
        print(one_line(exc), file=sys.stderr)
        return 2
    except (ConfigError, DataError, CheckpointError) as exc:
        _err(one_line(exc))
        return 2
    except NonFiniteError as exc:
        msg = one_line(exc).replace("pass max_loss_ratio=None", "raise --max-loss-ratio")
        print(f"gradstep: training stopped: {msg}", file=sys.stderr)
        return 1
    except ImportError as exc:
        _err(missing_package(exc))
        return 2
    except (OSError, ValueError, TypeError) as exc:
        _err(one_line(exc))
        return 2
    except train.Terminated as exc:
        print(f"gradstep: terminated: {one_line(exc)}", file=sys.stderr)
        return 143
    except TrainingInterrupted as exc:
        print(f"gradstep: {one_line(exc)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("gradstep: interrupted", file=sys.stderr)
        return 130
