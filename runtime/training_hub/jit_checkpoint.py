"""Upstream training_hub 0.11.2's checkpoint callbacks (``training_hub.jit_checkpoint``), driving this
project's engine: its just-in-time (SIGTERM) checkpoint and its ``checkpoint_storage`` mirror.

The native engine checkpoints on SIGTERM by itself when ``enable_jit_checkpoint=True`` and mirrors every
checkpoint when ``checkpoint_storage`` is set, so these callbacks are only needed by scripts that add them
explicitly, as upstream's Hugging Face based backends do:

* :class:`JITCheckpointCallback` catches SIGTERM while training and, at the next step (or epoch) end, sets
  ``context.control.should_save`` and ``should_training_stop``: the engine writes a full resumable checkpoint
  (``full_state/samples_<N>``, committed atomically, so upstream's incomplete-checkpoint sidecars are not
  needed), fires ``on_save`` with its path and ends the run as preempted (exit code 143); the next run
  resumes from it.
* :class:`RemoteCheckpointSyncCallback` uploads each saved checkpoint to the fsspec URI in
  ``$TRAINING_HUB_CHECKPOINT_UPLOAD_URI`` (upstream's variable) with this project's mirror (completion
  markers, ``docs/storage.md``), and waits for the uploads at the end of training.

Both run on every rank (``run_on_all_ranks``): the SIGTERM flag is agreed across ranks by the engine.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from training_hub.callbacks import TrainingHubCallback, TrainingHubContext
from training_hub.contracts import pod_env

log = logging.getLogger("training_hub")

#: Upstream's environment variable naming the mirror of :class:`RemoteCheckpointSyncCallback`.
UPLOAD_URI_ENV = pod_env.CHECKPOINT_UPLOAD_URI


class JITCheckpointCallback(TrainingHubCallback):
    """Save a full checkpoint at the next step (or epoch) end after SIGTERM, then stop. No arguments."""

    run_on_all_ranks = True

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._previous: Any = None
        self._installed = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only set flags: logging from a signal handler can deadlock on the handler's lock.
        self.signum = signum
        self.requested = True

    def on_train_begin(self, context: TrainingHubContext) -> None:
        self.requested = False
        if threading.current_thread() is not threading.main_thread():
            log.warning("JIT checkpoint: not on the main thread; SIGTERM is not caught")
            return
        self._previous = signal.signal(signal.SIGTERM, self._on_signal)
        self._installed = True

    def on_train_end(self, context: TrainingHubContext) -> None:
        if self._installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None else signal.SIG_DFL)
            self._installed = False

    def on_step_end(self, context: TrainingHubContext) -> None:
        self._request(context)

    def on_epoch_end(self, context: TrainingHubContext) -> None:
        self._request(context)

    def _request(self, context: TrainingHubContext) -> None:
        if not self.requested:
            return
        if context.control is None:
            log.error("JIT checkpoint: SIGTERM received but this backend passes no TrainingHubControl")
            return
        if context.is_main_process and not context.control.should_save:
            log.warning("Received signal %s; checkpointing at this training step boundary.", self.signum)
        context.control.should_save = True
        context.control.should_training_stop = True


class RemoteCheckpointSyncCallback(TrainingHubCallback):
    """Upload every saved checkpoint to ``$TRAINING_HUB_CHECKPOINT_UPLOAD_URI``. No arguments.

    An upload failure stops training (``should_training_stop``) and is logged; nothing is uploaded when the
    variable is unset. A checkpoint the engine mirrors already to the same URI (``checkpoint_storage``, as
    upstream's scripts pass both: ``on_save``'s ``mirrored_to``) is not uploaded a second time.
    """

    run_on_all_ranks = True

    def __init__(self) -> None:
        self._mirror: Any = None

    def on_save(self, context: TrainingHubContext) -> None:
        from training_hub.storage.mirror import CheckpointMirror
        from training_hub.storage.objectstore import StorageError

        if not context.is_main_process:
            return
        uri = os.environ.get(UPLOAD_URI_ENV, "")
        path = context.metrics.get("checkpoint_path") or ""
        if not uri or not path or not Path(path).is_dir() or not context.output_dir:
            return
        if str(context.metrics.get("mirrored_to", "")).rstrip("/") == uri.rstrip("/"):
            log.debug("checkpoint %s: mirrored to %s by checkpoint_storage already", path, uri)
            return
        if self._mirror is None:
            self._mirror = CheckpointMirror(uri, Path(context.output_dir))
        try:
            self._mirror.on_checkpoint(str(path), str(context.metrics.get("kind", "hf")))
        except StorageError as exc:
            log.error("checkpoint upload failed, stopping training: %s", exc)
            if context.control is not None:
                context.control.should_training_stop = True

    def on_train_end(self, context: TrainingHubContext) -> None:
        if self._mirror is not None:
            self._mirror.drain()
