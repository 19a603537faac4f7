"""``gradstep export``: a checkpoint's model as an ONNX file."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["cmd_export", "register"]


def register(sub: Any) -> None:
    """Add the ``export`` subcommand to an argparse subparsers object."""
    ex = sub.add_parser(
        "export", help="export a checkpoint's model to ONNX",
        description="Export the model of a checkpoint to ONNX (needs gradstep[onnx]), with "
                    "gradstep train's input scaling folded into the graph; see "
                    "docs/interop.md.",
        epilog="examples:\n  gradstep export runs/digits-mlp/last.safetensors model.onnx\n"
               "  gradstep export cnn.safetensors cnn.onnx --input-shape 1,28,28",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("checkpoint", help="a .safetensors checkpoint")
    ex.add_argument("output", help="the .onnx file to write")
    ex.add_argument("--input-shape", default=None,
                    help="shape of one network input, e.g. 1,28,28 (default: the recorded "
                         "one, or what the first layer implies)")
    ex.add_argument("--no-preprocess", action="store_true",
                    help="export the bare network, without gradstep train's input scaling "
                         "(default: scaling folded in)")
    ex.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """Run ``gradstep export``; returns the exit status."""
    from gradstep import onnx_export

    shape = None if args.input_shape is None else onnx_export.parse_input_shape(args.input_shape)
    out = onnx_export.export_checkpoint(args.checkpoint, args.output, input_shape=shape,
                                        preprocess=not args.no_preprocess)
    print(f"wrote {out}")
    return 0
