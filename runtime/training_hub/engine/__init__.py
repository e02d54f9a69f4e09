"""The native PyTorch training engine (SFT, OSFT, LoRA) used by the `native` backend.

`run_training(algorithm, params)` trains in the current process; under torchrun (`WORLD_SIZE` > 1) it
joins the process group (gloo on CPU, nccl on CUDA) and trains with DDP or FSDP. torch is imported only
when training starts. See `docs/training-engine.md`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from training_hub.engine.callbacks import LogitsProbe, TrainingCallback, current_model

if TYPE_CHECKING:
    from training_hub.params import EngineParams

__all__ = ["LogitsProbe", "TrainingCallback", "current_model", "run_training"]


def _setup_logging(is_main: bool) -> None:
    root = logging.getLogger("training_hub")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[training_hub] %(message)s"))
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(logging.INFO if is_main else logging.WARNING)


def run_training(
    algorithm: str, params: EngineParams | Mapping[str, Any], callbacks: list[Any] | None = None
) -> dict[str, Any]:
    """Train `algorithm` with `params` in this process.

    Args:
        algorithm: `sft`, `osft` or `lora_sft`.
        params: The validated parameter model (as the backends hand it over), or values validated here
            (a `param_model(algorithm)` dump or a subset: defaults fill the rest). Torchrun fields
            (`nproc_per_node`, ...) and `backend` are the launcher's.
        callbacks: Objects with optional `on_step(metrics)`, `on_checkpoint(path, kind)` and
            `on_train_end(summary)` methods, invoked on rank 0 only.

    Returns:
        The summary: `final_loss`, `steps`, `total_steps`, `samples_seen`, `tokens_seen`, `checkpoints`
        (hf_format dirs), `full_state_checkpoints`, `output_model_path` (`hf_format/final`),
        `metrics_path`, `resumed_from`, `data_stats`, `world_size`, `elapsed`, `algorithm`, `epochs`.

    Raises:
        InvalidInputError: On parameters this engine cannot honour, a missing model, or bad data
            (`DataFormatError`, naming file and line, before any compute).
        InfrastructureError: If the process group cannot be set up.
        Preempted: After SIGTERM, once the full state is saved (exit code 143).
    """
    from training_hub.engine.config import resolve_config
    from training_hub.engine.distributed import init_distributed, shutdown, world_size_from_env
    from training_hub.engine.trainer import Trainer

    cfg = resolve_config(algorithm, params, world_size_from_env())
    ctx = init_distributed()
    _setup_logging(ctx.is_main)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        return Trainer(cfg, ctx, callbacks).run()
    finally:
        shutdown(ctx)
