"""``egenerator train CONFIG``: train the model of a config (resume with restore_model)."""

from __future__ import annotations

import argparse

HELP = "train the model of a config (train.py)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the subcommand."""
    parser.add_argument("config", help="YAML config file")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="total training steps (overrides training_settings.num_training_iterations)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete checkpoints/logs of an earlier run in manager_dir first (restore_model false)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint (sets model_manager_settings.restore_model)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Train; print a one-screen summary. Returns the exit status."""
    from ..config.loader import load_config
    from ..train.from_config import train

    config_source = args.config
    base_dir = None
    if args.resume:
        import os

        config_source = load_config(args.config)
        config_source["model_manager_settings"]["restore_model"] = True
        base_dir = os.path.dirname(os.path.abspath(args.config))
    if args.steps is not None and args.steps < 0:
        print("egenerator train: --steps must be >= 0")
        return 2
    try:
        result = train(
            config_source,
            steps=args.steps,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            base_dir=base_dir,
        )
    except ValueError as err:  # config, data and checkpoint errors name file and key
        print(f"egenerator train: {err}")
        return 1
    except RuntimeError as err:  # the NaN guard
        print(f"egenerator train: {err}")
        return 3
    print(f"trained {result.steps_run} steps ({result.start_step} -> {result.final_step})")
    print(f"  manager dir        {result.manager_dir}")
    print(f"  last checkpoint    {result.last_checkpoint}")
    if result.final_train_loss is not None:
        print(f"  train loss         {result.final_train_loss:.6g}")
    if result.final_validation_loss is not None:
        print(f"  validation loss    {result.final_validation_loss:.6g}")
    if result.best_validation_loss is not None:
        print(f"  best validation    {result.best_validation_loss:.6g}")
    print(f"  skipped steps      {result.skipped_steps}")
    print(
        f"  speed              {result.steps_per_s:.2f} steps/s, {result.events_per_s:.1f} events/s"
        f" (first step after {result.time_to_first_step_s or 0:.1f} s)"
    )
    return 0
