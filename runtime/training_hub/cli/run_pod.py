"""``training-hub run-pod``: the entrypoint of a training pod (see :mod:`training_hub.pod.entrypoint`)."""

from __future__ import annotations

import argparse

from training_hub.pod import entrypoint

#: One-line help of the subcommand.
HELP = "Run one node of a TrainingRun inside its pod (the runtime image's entrypoint)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``run-pod``'s arguments."""
    parser.description = (
        "Read the run spec the operator wrote (TRAINING_HUB_RUN_SPEC, or --spec PATH), take the rendezvous from the environment "
        "(PET_* / MASTER_*) and train. Exit codes: 0 success, 1 error (retried), 3 bad input (not retried), "
        "4 infrastructure failure (retried)."
    )
    entrypoint.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the pod's training; return its exit code."""
    return entrypoint.run_pod(args.spec)
