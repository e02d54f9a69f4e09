"""``training-hub``: the command line of training_hub.

Subcommands live in modules exposing ``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen
subcommand's module is imported, so ``training-hub --help`` is fast; a subcommand whose module is not
installed is not listed (an import error inside an existing module is not hidden).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from training_hub.pod import exit_codes


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: its module and one line of help."""

    name: str
    module: str
    help: str
    options: dict[str, Any] = field(default_factory=dict)


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("sft", "training_hub.cli.train", "supervised fine-tuning", {"algorithm": "sft"}),
    Subcommand("osft", "training_hub.cli.train", "orthogonal subspace fine-tuning", {"algorithm": "osft"}),
    Subcommand("lora-sft", "training_hub.cli.train", "LoRA fine-tuning", {"algorithm": "lora_sft"}),
    Subcommand(
        "embedding-sft",
        "training_hub.cli.train",
        "contrastive fine-tuning of an embedding model",
        {"algorithm": "embedding_sft"},
    ),
    Subcommand(
        "dpo",
        "training_hub.cli.train",
        "preference tuning (DPO) on chosen/rejected pairs",
        {"algorithm": "dpo"},
    ),
    Subcommand("estimate", "training_hub.cli.estimate", "estimate GPU memory of a training run"),
    Subcommand("plot-loss", "training_hub.cli.plot", "plot the training loss of one or more runs"),
    Subcommand("run", "training_hub.cli.run", "run a TrainingRun manifest (on a cluster or locally)"),
    Subcommand("run-pod", "training_hub.cli.run_pod", "entrypoint of a training pod"),
    Subcommand("status", "training_hub.cli.status", "show the status of TrainingRuns"),
)


def module_exists(module: str) -> bool:
    """Whether a subcommand module is present (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def available_subcommands() -> list[Subcommand]:
    """The subcommands whose module is installed."""
    return [s for s in SUBCOMMANDS if module_exists(s.module)]


def _chosen(argv: Sequence[str], names: set[str]) -> str | None:
    for arg in argv:
        if arg in names:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in ``argv`` gets its arguments (and its module imported)."""
    parser = argparse.ArgumentParser(
        prog="training-hub",
        description="Training Hub: LLM fine-tuning (SFT, OSFT, LoRA) on CPU or GPU, locally or on Kubernetes.",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = available_subcommands()
    chosen = _chosen(argv, {c.name for c in commands})
    for command in commands:
        subparser = sub.add_parser(command.name, help=command.help, description=command.help)
        if command.name == chosen:
            module = importlib.import_module(command.module)
            module.add_arguments(subparser, **command.options)
            subparser.set_defaults(_run=module.run)
            if hasattr(module, "normalize_argv"):
                parser.normalize_argv = module.normalize_argv  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``training-hub`` console script; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    normalize = getattr(parser, "normalize_argv", None)
    if normalize is not None:
        arguments = normalize(arguments)
    args = parser.parse_args(arguments)
    if not getattr(args, "_run", None):
        parser.print_help()
        return exit_codes.USAGE
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print("training-hub: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
