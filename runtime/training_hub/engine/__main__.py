"""`python -m training_hub.engine --algorithm sft --params params.json`: the torchrun target.

Exit codes: 0 success, 3 invalid input (do not retry), 4 infrastructure failure (retry), 143 preempted by
SIGTERM after saving a full checkpoint, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training_hub.contracts import pod_env
from training_hub.errors import InfrastructureError, InvalidInputError, TrainingHubError

#: Fragments of the errors gloo/NCCL raise when a peer is gone or a collective timed out.
_PEER_FAILURE_TEXT = (
    "connection closed by peer",
    "connection reset by peer",
    "timed out",
    "timeout",
    "broken pipe",
    "nccl",
    "gloo",
)


def is_peer_failure(exc: BaseException) -> bool:
    """Whether an exception means another rank died or hung (torch.distributed errors and the
    RuntimeErrors gloo raises for a closed connection or a timed-out collective)."""
    dist = sys.modules.get("torch.distributed")
    dist_error = getattr(dist, "DistError", None) if dist is not None else None
    if dist_error is not None and isinstance(exc, dist_error):
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _PEER_FAILURE_TEXT)


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
    except Exception as exc:
        if not is_peer_failure(exc):
            raise
        # A rank died or hung: this rank cannot go on. Exit 4 (infrastructure) so the job restarts every
        # rank from the last checkpoint instead of waiting forever.
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
        print(
            "training_hub: error: a peer rank failed or stopped responding during a collective "
            f"({type(exc).__name__}: {detail}); the job should restart from the last checkpoint",
            file=sys.stderr,
            flush=True,
        )
        return InfrastructureError.exit_code
    import os

    if os.environ.get(pod_env.RANK, "0") == "0":
        text = json.dumps(summary, indent=1, default=str)
        if args.summary:
            Path(args.summary).write_text(text)
        print(
            f"[training_hub] done: final loss {summary['final_loss']}, {summary['steps']} steps", flush=True
        )
    return 0


def exit_now(code: int) -> None:
    """Exit with ``code`` at once after an infrastructure failure, without interpreter teardown: with a
    peer gone, the process group's destructors can abort the process (SIGABRT) and lose the exit code
    that tells the launcher to retry."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    from training_hub.pod.exit_codes import record_exit_code

    code = main()
    record_exit_code(code)  # torchrun turns a worker's 3 or 4 into 1: the launcher reads this back
    if code == InfrastructureError.exit_code:
        exit_now(code)
    sys.exit(code)
