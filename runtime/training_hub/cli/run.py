"""``training-hub run trainingrun.yaml --local``: train a TrainingRun manifest on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training_hub.errors import InvalidInputError
from training_hub.pod import exit_codes

HELP = "Run a TrainingRun manifest; --local runs its pods as local processes (no cluster needed)."


def _pvc(value: str) -> tuple[str, Path]:
    claim, sep, directory = value.partition("=")
    if not sep or not claim or not directory:
        raise argparse.ArgumentTypeError(f"expected CLAIM=DIR, got {value!r}")
    return claim, Path(directory)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``run``'s arguments."""
    parser.description = (
        "Plan and render a TrainingRun exactly as the operator does. With --local, run its pods on this "
        "machine: one process per node, host names mapped to 127.0.0.1, pvc://CLAIM/path mapped to "
        "ROOT/pvc/CLAIM/path (or to --pvc CLAIM=DIR). Without --local, print the objects the operator would "
        "create (apply the manifest with kubectl to run it on a cluster)."
    )
    parser.add_argument("manifest", help="TrainingRun YAML file (the one you would kubectl apply).")
    parser.add_argument("--local", action="store_true", help="Run the pods as local processes.")
    parser.add_argument(
        "--root", type=Path, default=None, help="Working directory (default: ./.training-hub/<run name>)."
    )
    parser.add_argument(
        "--pvc",
        type=_pvc,
        action="append",
        default=[],
        metavar="CLAIM=DIR",
        help="Use a local directory for a PersistentVolumeClaim (repeatable).",
    )
    parser.add_argument(
        "--launcher",
        choices=["auto", "native", "pytorchjob", "trainjob"],
        default=None,
        help="Override spec.launcher (local mode emulates the Kubeflow controllers' env).",
    )
    parser.add_argument("--timeout", type=float, default=None, help="Stop the run after this many seconds.")


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; return the exit code (0: every pod exited 0; 3: invalid manifest)."""
    from training_hub.local.pods import LocalExecutionError
    from training_hub.local.runner import load_manifest, render_run, run_local

    try:
        if not args.local:
            import yaml

            rendered = render_run(load_manifest(args.manifest), args.launcher)
            print(f"# launcher {rendered.launcher}: {rendered.launcher_message}")
            print(f"# plan: {rendered.plan_message}")
            print(yaml.safe_dump_all(rendered.objects, sort_keys=False), end="")
            return 0
        _, result = run_local(
            args.manifest,
            root=args.root,
            pvc_dirs=dict(args.pvc),
            launcher=args.launcher,
            timeout=args.timeout,
        )
    except (InvalidInputError, LocalExecutionError) as exc:
        print(f"training-hub run: {exc}", file=sys.stderr)
        return exit_codes.INVALID_INPUT
    if result.succeeded:
        return exit_codes.SUCCEEDED
    return exit_codes.INVALID_INPUT if result.reason == "InvalidInput" else exit_codes.FAILED
