"""Run the native engine under torchrun from a plain Python process.

``sft(..., nproc_per_node=2)`` called from ``python`` writes the validated parameters to
``<ckpt_output_dir>/training_hub_params_node<N>.json`` (one file per node: nodes share the output
directory) and starts
``python -m torch.distributed.run <flags> -m training_hub.engine --algorithm ALG --params FILE`` in its own
process group. Its output is forwarded line by line (and kept in ``launch_node<N>.log``); a non-zero exit is
a :class:`TrainingProcessError` holding the log tail; Ctrl-C or SIGTERM terminate the whole group (then kill
it after a grace period), so nothing is left hanging.

The grace period follows the pod's: in a training pod (``TRAINING_HUB_TERMINATION_GRACE_SECONDS``, the
pod's ``terminationGracePeriodSeconds``) the group gets that long less :data:`GRACE_MARGIN_SECONDS` (so the
exit code and reason are written before the kubelet's SIGKILL), and torchrun's own wait before it kills
its workers (``TORCH_ELASTIC_SHUTDOWN_TIMEOUT``, 30 s by default in torch) is set to the same, so a
preemption checkpoint of several GB can finish. Elsewhere :data:`GRACE_SECONDS`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from training_hub.contracts import pod_env
from training_hub.errors import TrainingHubError
from training_hub.pod.exit_codes import (
    ENV_EXIT_CODE_DIR,
    FAILED,
    INFRASTRUCTURE,
    INVALID_INPUT,
    TERMINATED,
    recorded_exit_code,
)
from training_hub.torchrun import torchrun_command

logger = logging.getLogger("training_hub")

PARAMS_FILE = "training_hub_params_node{node_rank}.json"
SUMMARY_FILE = "training_summary_node{node_rank}.json"
TAIL_LINES = 40
GRACE_SECONDS = 30.0
#: Seconds kept back from the pod's grace period for writing the exit code and termination message.
GRACE_MARGIN_SECONDS = 5.0
#: torchrun's wait between SIGTERM and SIGKILL of its workers (``torch/distributed/launcher/api.py``).
TORCHRUN_SHUTDOWN_ENV = "TORCH_ELASTIC_SHUTDOWN_TIMEOUT"


def stop_grace_seconds(env: Mapping[str, str] | None = None) -> float:
    """Seconds between SIGTERM and SIGKILL of the training processes: the pod's grace period less
    :data:`GRACE_MARGIN_SECONDS` in a training pod, else :data:`GRACE_SECONDS`.

    Raises:
        InvalidInputError: When the pod's grace period is not a number.
    """
    if not (os.environ if env is None else env).get(pod_env.TERMINATION_GRACE_SECONDS, "").strip():
        return GRACE_SECONDS
    pod_grace = pod_env.read_number(
        pod_env.TERMINATION_GRACE_SECONDS, GRACE_SECONDS, -math.inf, env, "a number of seconds"
    )
    return max(1.0, pod_grace - GRACE_MARGIN_SECONDS)


class TrainingProcessError(TrainingHubError):
    """The launched training processes failed.

    Attributes:
        returncode: Exit code of the launcher process.
        log_tail: The last lines it printed.
        log_file: Where its whole output is.
    """

    def __init__(self, message: str, returncode: int, log_tail: str, log_file: str | None) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.launcher_returncode = returncode  # what torchrun itself returned (returncode: the ranks' code)
        self.log_tail = log_tail
        self.log_file = log_file
        # The pod entrypoint's exit codes travel through unchanged (bad input, infrastructure).
        self.exit_code = returncode if returncode in (INVALID_INPUT, INFRASTRUCTURE) else FAILED


class _Terminated(BaseException):
    """Raised in the parent by its SIGTERM handler while a launch runs."""


def engine_command(
    algorithm: str,
    params_file: str | os.PathLike[str],
    torchrun_params: Mapping[str, Any],
    summary_file: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The argv that runs the engine for ``algorithm`` under torchrun (rank 0 writes ``summary_file``)."""
    module_args = ["-m", "training_hub.engine", "--algorithm", algorithm, "--params", str(params_file)]
    if summary_file is not None:
        module_args += ["--summary", str(summary_file)]
    return torchrun_command(torchrun_params, module_args)


def write_params(
    algorithm: str, params: Mapping[str, Any], directory: str | os.PathLike[str], node_rank: int = 0
) -> Path:
    """Write the engine's parameters as JSON into ``directory`` and return the file.

    Nodes of one run share the output directory, so each writes its own file, atomically (temp + rename).
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    target = path / PARAMS_FILE.format(node_rank=node_rank)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dict(params), indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, target)
    logger.debug("%s: parameters written to %s", algorithm, target)
    return target


def _stop_group(process: subprocess.Popen[str], grace: float) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        logger.error("training processes did not stop within %.0f s of SIGTERM: killing them", grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


#: Log text of NCCL's watchdog when it aborted a rank on a collective timeout (no exit code recorded).
_WATCHDOG_TEXT = (
    "watchdog caught collective operation timeout",
    "ncclRemoteError",
    "ProcessGroupNCCL's watchdog",
)


def _run_exit_code(launcher_code: int, codes_dir: Path | None, log_tail: str) -> int:
    """The exit code the ranks recorded (3 and 4 survive torchrun), else 4 after an NCCL watchdog abort."""
    code = recorded_exit_code(str(codes_dir), launcher_code) if codes_dir is not None else launcher_code
    watchdog = any(t.lower() in log_tail.lower() for t in _WATCHDOG_TEXT)
    if watchdog and code == launcher_code and code not in (INVALID_INPUT, INFRASTRUCTURE):
        return INFRASTRUCTURE
    return code


def run_command(
    argv: Sequence[str],
    log_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    output: TextIO | None = None,
    grace: float | None = None,
) -> int:
    """Run ``argv`` in a new process group, forwarding its output; raise on failure.

    Args:
        argv: Command.
        log_file: Also write the output here.
        env: Environment (default: this process's, with ``PYTHONUNBUFFERED=1``).
        output: Where to forward output (default: ``sys.stdout``).
        grace: Seconds between SIGTERM and SIGKILL when stopping the group (default:
            :func:`stop_grace_seconds` of ``env``); torchrun in the group is given the same.

    Returns:
        0.

    Raises:
        TrainingProcessError: When the command exits non-zero.
        KeyboardInterrupt: After stopping the group on Ctrl-C (SIGTERM to this process does the same and
            is re-raised as ``SystemExit(143)``).
    """
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault(pod_env.PYTHONUNBUFFERED, "1")
    if grace is None:
        grace = stop_grace_seconds(run_env)
    run_env.setdefault(TORCHRUN_SHUTDOWN_ENV, str(max(1, int(grace))))
    codes_dir = Path(log_file).parent / f".exit_codes_{Path(log_file).stem}" if log_file else None
    if codes_dir is not None:
        shutil.rmtree(codes_dir, ignore_errors=True)
        run_env[ENV_EXIT_CODE_DIR] = str(codes_dir)
    sink = output or sys.stdout
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    log = open(log_file, "w", encoding="utf-8") if log_file else None  # noqa: SIM115 (closed in finally)
    previous_handler: Any = None
    in_main_thread = threading.current_thread() is threading.main_thread()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise _Terminated()

    logger.info("launching: %s", " ".join(argv))
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        env=run_env,
        start_new_session=True,
    )
    if in_main_thread:
        previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            sink.flush()
            tail.append(line)
            if log:
                log.write(line)
                log.flush()
        returncode = process.wait()
    except KeyboardInterrupt:
        logger.warning("interrupted: stopping the training processes")
        _stop_group(process, grace)
        raise
    except _Terminated:
        logger.warning("SIGTERM received: stopping the training processes")
        _stop_group(process, grace)
        raise SystemExit(TERMINATED) from None
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        if process.poll() is None:
            _stop_group(process, grace)
        if log:
            log.close()
    if returncode != 0:
        text = "".join(tail)
        code = _run_exit_code(returncode, codes_dir, text)
        where = f" (full output: {log_file})" if log_file else ""
        ranks = f" (the ranks report {code})" if code != returncode else ""
        error = TrainingProcessError(
            f"training processes exited with code {returncode}{ranks}{where}; last lines:\n{text}",
            code,
            text,
            str(log_file) if log_file else None,
        )
        error.launcher_returncode = returncode
        raise error
    return 0


def launch_engine(
    algorithm: str, params: Mapping[str, Any], torchrun_params: Mapping[str, Any]
) -> dict[str, Any]:
    """Run the native engine for ``algorithm`` in a torchrun process group and wait for it.

    Args:
        algorithm: ``sft``, ``osft`` or ``lora_sft``.
        params: The full validated parameters (``param_model(algorithm)(...).model_dump()``).
        torchrun_params: Output of :func:`training_hub.torchrun.get_torchrun_params`.

    Returns:
        The engine's summary (as :func:`training_hub.engine.run_training` returns it in-process; only on the
        node holding global rank 0, elsewhere empty) plus ``launch``: the command, log file and summary file.
    """
    output_dir = Path(str(params["ckpt_output_dir"]))
    node_rank = int(torchrun_params.get("node_rank", 0) or 0)
    params_file = write_params(algorithm, params, output_dir, node_rank)
    summary_file = output_dir / SUMMARY_FILE.format(node_rank=node_rank)
    summary_file.unlink(missing_ok=True)
    argv = engine_command(algorithm, params_file, torchrun_params, summary_file)
    log_file = output_dir / f"launch_node{node_rank}.log"
    run_command(argv, log_file=log_file)
    result: dict[str, Any] = {}
    if summary_file.is_file():
        try:
            result.update(json.loads(summary_file.read_text()))
        except json.JSONDecodeError:
            logger.warning("could not read the training summary %s", summary_file)
    result["launch"] = {"command": argv, "log_file": str(log_file), "summary_file": str(summary_file)}
    return result
