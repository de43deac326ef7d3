"""``egenerator export CONFIG -o DIR``: write the trained model into a self-contained folder."""

from __future__ import annotations

import argparse

HELP = "export a trained model into a self-contained folder (export_model.py)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the subcommand."""
    parser.add_argument("config", help="YAML config file of the trained model")
    parser.add_argument("-o", "--output", required=True, help="export folder to create")
    parser.add_argument(
        "--checkpoint",
        default="best",
        help="'best' (lowest validation loss; default), 'latest', or a checkpoint folder",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export")


def run(args: argparse.Namespace) -> int:
    """Export, reload to check, print what was written. Returns the exit status."""
    from ..export import export_model, load_exported

    try:
        path = export_model(
            args.config, args.output, checkpoint=args.checkpoint, overwrite=args.overwrite
        )
        exported = load_exported(path)
    except ValueError as err:
        print(f"egenerator export: {err}")
        return 1
    manifest = exported.manifest
    ckpt = manifest["checkpoint"]
    print(f"exported {manifest['unique_name']} to {path}")
    print(f"  checkpoint   {ckpt['kind']} step {ckpt['step']} ({ckpt['path']})")
    print(f"  parameters   {', '.join(exported.parameter_names)}")
    print(f"  detector     {exported.detector.num_doms} DOMs")
    print(f"  format       {manifest['format_version']}")
    return 0
