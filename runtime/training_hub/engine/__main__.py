"""`python -m training_hub.engine --algorithm sft --params params.json`: the torchrun target.

Exit codes: 0 success, 3 invalid input (do not retry), 4 infrastructure failure (retry), 143 preempted by
SIGTERM after saving a full checkpoint, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training_hub.errors import InvalidInputError, TrainingHubError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train, print the summary as JSON on rank 0; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m training_hub.engine", description=__doc__)
    parser.add_argument("--algorithm", required=True, help="sft, osft or lora_sft")
    parser.add_argument("--params", required=True, help="JSON file with the algorithm's parameters")
    parser.add_argument(
        "--callback",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="Callback to import (class/factory called without arguments); repeatable",
    )
    parser.add_argument("--summary", help="Write the summary JSON here (rank 0)")
    args = parser.parse_args(argv)
    try:
        try:
            params = json.loads(Path(args.params).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"cannot read parameters from {args.params}: {exc}") from None
        if not isinstance(params, dict):
            raise InvalidInputError(f"{args.params} must hold a JSON object of parameters")
        from training_hub.engine import run_training
        from training_hub.engine.callbacks import load_callback

        try:
            callbacks = [load_callback(spec) for spec in args.callback]
        except (ImportError, AttributeError, ValueError) as exc:
            raise InvalidInputError(f"cannot load callback: {exc}") from None
        summary = run_training(args.algorithm, params, callbacks=callbacks)
    except TrainingHubError as exc:
        print(f"training_hub: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    import os

    if os.environ.get("RANK", "0") == "0":
        text = json.dumps(summary, indent=1, default=str)
        if args.summary:
            Path(args.summary).write_text(text)
        print(
            f"[training_hub] done: final loss {summary['final_loss']}, {summary['steps']} steps", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
