"""Test-only fault injection for the training engine, through its hook points (``training_hub.engine.hooks``).

``tests/conftest.py`` names this file in ``TRAINING_HUB_ENGINE_HOOKS``, so every engine process a test starts
loads it; a hook acts only where the test sets its variable:

* ``TRAINING_HUB_FAULT_KILL_AFTER_STEP=N``: rank 0 SIGKILLs itself after optimizer step N (and its
  checkpoints): a crash between steps.
* ``TRAINING_HUB_FAULT_KILL_IN_CHECKPOINT=N``: the process SIGKILLs itself inside its N-th checkpoint commit,
  after the files are written and before the ``COMPLETE`` marker: a crash while a checkpoint is written.
* ``TRAINING_HUB_SAMPLE_LOG=path``: every rank appends the sample indices it trained per step to
  ``<path>.rank<r>`` (JSON lines ``{"step", "rank", "samples"}``).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from training_hub.engine.hooks import register

ENV_KILL_AFTER_STEP = "TRAINING_HUB_FAULT_KILL_AFTER_STEP"
ENV_KILL_IN_CHECKPOINT = "TRAINING_HUB_FAULT_KILL_IN_CHECKPOINT"
ENV_SAMPLE_LOG = "TRAINING_HUB_SAMPLE_LOG"


def _log_samples(step: int, rank: int, micro_batches: list[list[int]], **_: Any) -> None:
    path = os.environ.get(ENV_SAMPLE_LOG)
    if path:
        mine = sorted(i for mb in micro_batches for i in mb)
        with open(f"{path}.rank{rank}", "a") as fh:
            fh.write(json.dumps({"step": step, "rank": rank, "samples": mine}) + "\n")


def _kill_after_step(step: int, rank: int, **_: Any) -> None:
    kill_after = int(os.environ.get(ENV_KILL_AFTER_STEP, "0") or 0)
    if kill_after and step == kill_after and rank == 0:
        os.kill(os.getpid(), signal.SIGKILL)


def _kill_in_checkpoint(path: Path, count: int, **_: Any) -> None:
    if os.environ.get(ENV_KILL_IN_CHECKPOINT) == str(count):
        os.kill(os.getpid(), signal.SIGKILL)


register("step_trained", _log_samples)
register("step_done", _kill_after_step)
register("checkpoint_written", _kill_in_checkpoint)
