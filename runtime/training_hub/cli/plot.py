"""``training-hub plot-loss RUN_DIR... [--labels A,B] [--ema] [--output PNG]``: plot training loss."""

from __future__ import annotations

import argparse
import sys

from training_hub.cli.params_flags import split_list
from training_hub.errors import TrainingHubError
from training_hub.pod import exit_codes
from training_hub.visualization import EMA_SPAN


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the plot-loss arguments."""
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="training output directories (ckpt_output_dir)"
    )
    parser.add_argument(
        "--labels",
        action="extend",
        type=split_list,
        metavar="A,B",
        help="legend label per run (default: directory names)",
    )
    parser.add_argument(
        "--ema", action="store_true", help=f"also draw an exponential moving average (span {EMA_SPAN})"
    )
    parser.add_argument(
        "--ema-span", type=int, default=EMA_SPAN, metavar="N", help=f"EMA span (default: {EMA_SPAN})"
    )
    parser.add_argument("--output", "-o", metavar="PNG", help="output file (default: RUN_DIR/loss_plot.png)")
    parser.add_argument(
        "--metrics-file", metavar="NAME", help="metrics file name inside each run (default: searched)"
    )


def run(args: argparse.Namespace) -> int:
    """Plot; print the PNG path."""
    from training_hub.visualization import plot_loss

    try:
        path = plot_loss(
            args.run_dirs,
            labels=args.labels,
            ema=args.ema,
            ema_span=args.ema_span,
            output_path=args.output,
            metrics_file=args.metrics_file,
        )
    except TrainingHubError as err:
        print(f"training-hub plot-loss: error: {err}", file=sys.stderr)
        return exit_codes.USAGE
    print(path)
    return 0
