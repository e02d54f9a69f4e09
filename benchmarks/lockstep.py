"""Lockstep runs: several worker processes take turns, one optimizer step at a time, on the same cores.

Why (docs/benchmarks.md, method): on the shared 2-vCPU machine the speed of a core changes by a third
within seconds without the load average showing it (a round of the earlier benchmark had its native side
at 9878 real tokens per CPU second, the round before at 13816, with wall time equal to CPU time: nothing
else ran on the core, each instruction was slower). When the sides run one after the other, a side's whole
window (10-20 s) can fall on the slow side of such a change and the other side's on the fast side. In
lockstep the sides' step *s* run back to back, a fraction of a second apart, so a change of the machine's
speed hits both of a step's measurements alike, and a per-step ratio is taken on the same samples.

The protocol: the coordinator (:func:`run_lockstep`) starts every worker with two pipe descriptors
(``--gate R,W``). A worker's :class:`StepGate` reports each finished step as one JSON line and blocks until
the coordinator answers ``go``. Only one worker computes at a time; the others wait in a blocking read
(no CPU time). Step 1 runs in every worker at once (its figures are not used: it holds one-off warm-up),
then the coordinator releases the workers one by one for each step, the order reversed every other step
(ABC, CBA, ...), so no side always runs right after another.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.benchlib import ROOT, cpu_seconds, pin_to


class StepGate:
    """Worker side: report a finished step and wait for the coordinator's turn signal.

    Args:
        spec: ``"R,W"``, the descriptors the coordinator passed (read the turn signal from R, report on W);
            None: no coordinator, every call returns at once.
    """

    def __init__(self, spec: str | None) -> None:
        self._in: IO[str] | None = None
        self._out: IO[str] | None = None
        if spec:
            r, w = (int(x) for x in spec.split(","))
            self._in = os.fdopen(r, "r")
            self._out = os.fdopen(w, "w")

    def step_done(self, row: dict[str, Any]) -> None:
        """Report ``row`` (JSON-ready) and block until released; then record the release in ``row``.

        ``row["released"]`` / ``row["released_cpu"]``: wall clock and CPU seconds when the next step may
        start, so that a step's wall time excludes the wait for its turn.
        """
        if self._out is None or self._in is None:
            row["released"], row["released_cpu"] = row.get("time"), row.get("cpu")
            return
        self._out.write(json.dumps(row) + "\n")
        self._out.flush()
        if self._in.readline().strip() != "go":
            raise RuntimeError("lockstep coordinator went away")
        row["released"], row["released_cpu"] = time.perf_counter(), cpu_seconds()


@dataclass(frozen=True)
class Worker:
    """One worker of a lockstep run: ``python -m <module_args> --gate R,W`` writing JSON to ``result``."""

    name: str
    module_args: Sequence[str]
    result: Path


def step_order(step: int, sides: int, reverse_first: bool = False) -> list[int]:
    """The order in which the sides run step ``step``: given order on even steps, reversed on odd ones.

    ``reverse_first`` flips the pattern (for rounds that start the other way).
    """
    order = list(range(sides))
    return order[::-1] if (step % 2 == 1) != reverse_first else order


def run_lockstep(
    workers: Sequence[Worker],
    env: dict[str, str],
    cores: Sequence[int],
    *,
    reverse_first: bool = False,
) -> list[dict[str, Any]]:
    """Run ``workers`` in lockstep, all pinned to ``cores``; return each one's JSON result, in order.

    Raises:
        RuntimeError: If a worker exits non-zero or stops reporting steps before the others (with the
            tail of its stderr).
    """
    procs: list[subprocess.Popen[bytes]] = []
    reports: list[IO[str]] = []
    signals: list[IO[str]] = []
    logs: list[Any] = []
    with contextlib.ExitStack() as files:
        files.callback(_stop, procs)
        for w in workers:
            to_r, to_w = os.pipe()  # coordinator -> worker: the turn signal
            from_r, from_w = os.pipe()  # worker -> coordinator: a finished step
            log = files.enter_context(tempfile.TemporaryFile())
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", *w.module_args, "--gate", f"{to_r},{from_w}"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    pass_fds=(to_r, from_w),
                    preexec_fn=lambda: pin_to(cores),
                )
            )
            os.close(to_r)
            os.close(from_w)
            reports.append(files.enter_context(os.fdopen(from_r, "r")))
            signals.append(files.enter_context(os.fdopen(to_w, "w")))
            logs.append(log)
        live = [_next_row(reports[k], procs[k], logs[k], workers[k]) is not None for k in range(len(workers))]
        if not all(live):
            raise RuntimeError("a lockstep worker ended before its first step")
        step = 1
        while any(live):
            step += 1
            for k in step_order(step, len(workers), reverse_first):
                if not live[k]:
                    continue
                signals[k].write("go\n")
                signals[k].flush()
                live[k] = _next_row(reports[k], procs[k], logs[k], workers[k]) is not None
        out = []
        for k, w in enumerate(workers):
            if procs[k].wait() != 0:
                raise RuntimeError(f"{w.name} failed ({procs[k].returncode}):\n{_tail(logs[k])}")
            out.append(json.loads(w.result.read_text()))
        return out


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """Kill the workers still running (after an error: a worker waiting for its turn never ends)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _next_row(report: IO[str], proc: subprocess.Popen[bytes], log: Any, worker: Worker) -> Any:
    """The worker's next reported step, or None when it finished (closed its pipe)."""
    line = report.readline()
    if line:
        return json.loads(line)
    if proc.wait() != 0:
        raise RuntimeError(f"{worker.name} failed ({proc.returncode}):\n{_tail(log)}")
    return None


def _tail(log: Any) -> str:
    log.seek(0)
    return str(log.read()[-4000:].decode(errors="replace"))
