"""Exit codes of a training pod, shared by the entrypoint, the launchers and the local executor.

A pod's exit code tells its owner whether to retry: bad input never gets better by retrying, a broken
rendezvous or a lost node usually does. This module imports nothing heavy (the operator imports it).
"""

from __future__ import annotations

from training_hub.contracts import pod_env

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


#: Directory where each training process records its exit code (``rank_<RANK>``). torchrun reports
#: only 0 or 1 for its workers (a child's 3 or 4 comes back as 1), so the launcher sets this and reads
#: the ranks' own codes back after torchrun returns.
ENV_EXIT_CODE_DIR = pod_env.EXIT_CODE_DIR


def record_exit_code(code: int, env: dict[str, str] | None = None) -> None:
    """Record this process's exit code where the launcher looks (no-op unless it set the directory).

    Args:
        code: The exit code about to be returned.
        env: Environment to read (default: ``os.environ``).
    """
    import os

    environ = os.environ if env is None else env
    directory = environ.get(ENV_EXIT_CODE_DIR)
    if not directory or code == SUCCEEDED:
        return
    rank = environ.get(pod_env.RANK, "0")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"rank_{rank}"), "w", encoding="utf-8") as fh:
            fh.write(str(code))
    except OSError:
        pass  # the launcher then falls back to torchrun's own code


def recorded_exit_code(directory: str, launcher_code: int) -> int:
    """The run's exit code from the codes its ranks recorded, else the launcher's own.

    Bad input on any rank wins (retrying cannot help); then a rank's own failure (1, or 143 when
    preempted) over the infrastructure code (4) its peers report once it is gone; 4 only when every
    failing rank saw an infrastructure failure.

    Args:
        directory: The :data:`ENV_EXIT_CODE_DIR` the launcher set.
        launcher_code: What torchrun returned.
    """
    import os

    codes: set[int] = set()
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    for name in names:
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                codes.add(int(fh.read().strip()))
        except (OSError, ValueError):
            continue
    codes.discard(SUCCEEDED)
    if not codes or launcher_code == SUCCEEDED:
        return launcher_code
    for code in (INVALID_INPUT, USAGE):
        if code in codes:
            return code
    own = codes - {INFRASTRUCTURE}
    if not own:
        return INFRASTRUCTURE
    if own == {TERMINATED}:
        return TERMINATED
    return FAILED
