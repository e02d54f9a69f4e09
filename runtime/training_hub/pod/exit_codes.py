"""Exit codes of a training pod, shared by the entrypoint, the launchers and the local executor.

A pod's exit code tells its owner whether to retry: bad input never gets better by retrying, a broken
rendezvous or a lost node usually does. This module imports nothing heavy (the operator imports it).
"""

from __future__ import annotations

#: Every rank finished and the outputs are written.
SUCCEEDED = 0
#: An unexpected error (a bug, out of memory, ...). Retried up to the run's limit.
FAILED = 1
#: The command line itself was wrong (argparse's convention). Not retried.
USAGE = 2
#: Bad input: invalid parameters, malformed data, a missing model. Not retried.
INVALID_INPUT = 3
#: Infrastructure failure: rendezvous timeout, lost peer, storage error. Retried.
INFRASTRUCTURE = 4
#: Killed by SIGTERM (preemption, eviction, deletion): 128 + 15. Retried.
TERMINATED = 143

#: Exit codes after which retrying cannot help.
PERMANENT_EXIT_CODES: frozenset[int] = frozenset({USAGE, INVALID_INPUT})

#: Short names used in termination messages and status reasons.
REASONS: dict[int, str] = {
    SUCCEEDED: "Succeeded",
    FAILED: "Error",
    USAGE: "InvalidInput",
    INVALID_INPUT: "InvalidInput",
    INFRASTRUCTURE: "InfrastructureError",
    TERMINATED: "Terminated",
}


def is_retryable(exit_code: int) -> bool:
    """Whether a pod that exited with ``exit_code`` should be retried (within the run's limit).

    Args:
        exit_code: The container's exit code (negative values are signals, as :mod:`subprocess` reports).

    Returns:
        ``False`` for success and for bad input (:data:`PERMANENT_EXIT_CODES`), else ``True``.
    """
    return exit_code != SUCCEEDED and exit_code not in PERMANENT_EXIT_CODES


def reason_for(exit_code: int) -> str:
    """A CamelCase reason for an exit code (``Error`` for unknown non-zero codes)."""
    if exit_code < 0 or exit_code > 128:
        return "Terminated" if exit_code in (TERMINATED, -15) else "Killed"
    return REASONS.get(exit_code, "Error")
